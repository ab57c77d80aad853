// Integer inference (graft quantize --int8): activations quantized to 7 bits per tensor,
// weights to int8 per output channel, dot products accumulated exactly in int32. The
// relaxed build uses relaxed SIMD's integer dot product (VPMADDUBSW on x86); its result is
// implementation-defined only when the i7 operand has its top bit set, which activations in
// [0, 127] never do, and its i16 pair sums cannot saturate with weights in [-127, 127]
// (2·127·127 < 32768). The SIMD128 build
// widens to i16 products (exact: |w·a| ≤ 16129), adds the low and high halves (≤ 32258, no
// overflow) and pairs them into i32. Both give the exact integer dot, so every build and
// every thread count gives the same bits; only the grouping inside a vector differs.
// The relaxed build takes i16x8.relaxed_dot_i8x16_i7x16_s and pairs its sums into i32, not
// the one-instruction i32x4.relaxed_dot_i8x16_i7x16_add_s: on Node 20.20 (V8 11.3) that one
// returns wrong sums (a probe here: [44, 140, −220, 440] for [122, 270, 190, 620]; Node 22
// gets them right), and one binary serves both.

// @ts-ignore: decorator
@inline
function dot16(w: v128, a: v128, acc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(w, a)));
  const p = i16x8.add(i16x8.extmul_low_i8x16_s(w, a), i16x8.extmul_high_i8x16_s(w, a));
  return i32x4.add(acc, i32x4.extadd_pairwise_i16x8_s(p));
}

// The four lane sums of a, b, c, d as one vector [Σa, Σb, Σc, Σd]: two rounds of
// interleave-and-add (integer sums: the grouping cannot change them).
// @ts-ignore: decorator
@inline
function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i8x16.shuffle(a, b, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
    i8x16.shuffle(a, b, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)); // [a01, b01, a23, b23]
  const cd = i32x4.add(i8x16.shuffle(c, d, 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27),
    i8x16.shuffle(c, d, 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31)); // [c01, d01, c23, d23]
  return i32x4.add(i8x16.shuffle(ab, cd, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23),
    i8x16.shuffle(ab, cd, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31));
}

// @ts-ignore: decorator
@inline
function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

// 2^23 as f32, and its bits: adding it to a float in [0, 2^22] rounds that float to the
// nearest integer, ties to even (the spacing of floats in [2^23, 2^24) is 1), and leaves the
// integer in the low mantissa bits, read back by subtracting the bits of 2^23.
const MAGIC: f32 = 8388608.0;
const MAGIC_BITS: i32 = 0x4b000000;

// q[i, c] = nearest(clamp(f32(f32(x[i, c] · inv) + zp), 0, 127)) for c < k, and 0 for
// k ≤ c < ldq (the padding to 16 bytes the dot kernel reads), rows [r0, r1). nearest rounds
// half to even; NaN becomes 0 (pmax keeps its first operand on a NaN). Vector and scalar
// lanes compute the same values.
export function quantizeU7(x: usize, ldx: i32, q: usize, ldq: i32, k: i32, inv: f32, zp: i32, r0: i32, r1: i32): void {
  const vinv = f32x4.splat(inv), vzp = f32x4.splat(<f32>zp), lo = f32x4.splat(0), hi = f32x4.splat(127);
  const magic = f32x4.splat(MAGIC), bits = i32x4.splat(MAGIC_BITS);
  const fzp = <f32>zp;
  for (let r = r0; r < r1; r++) {
    const xr = x + (<usize>r * <usize>ldx << 2), qr = q + <usize>r * <usize>ldq;
    let c = 0;
    for (; c + 16 <= k; c += 16) {
      const p = xr + (<usize>c << 2);
      const a = i32x4.sub(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.add(f32x4.mul(v128.load(p), vinv), vzp))), magic), bits);
      const b = i32x4.sub(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.add(f32x4.mul(v128.load(p, 16), vinv), vzp))), magic), bits);
      const d = i32x4.sub(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.add(f32x4.mul(v128.load(p, 32), vinv), vzp))), magic), bits);
      const e = i32x4.sub(f32x4.add(f32x4.pmin(hi, f32x4.pmax(lo, f32x4.add(f32x4.mul(v128.load(p, 48), vinv), vzp))), magic), bits);
      v128.store(qr + <usize>c, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(d, e)));
    }
    for (; c < k; c++) {
      let v = load<f32>(xr + (<usize>c << 2)) * inv + fzp;
      v = 0 < v ? v : 0;
      v = v < 127 ? v : 127;
      store<u8>(qr + <usize>c, <u8>(reinterpret<i32>(v + MAGIC) - MAGIC_BITS));
    }
    for (; c < ldq; c++) store<u8>(qr + <usize>c, 0);
  }
}

// The int32 sums of a tile to outputs: f32(dot − zp·Σw) · scale, four columns at once.
// @ts-ignore: decorator
@inline
function epilogue4(s: v128, vzp: v128, wsum: usize, scale: usize, y: usize): void {
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.sub(s, i32x4.mul(vzp, v128.load(wsum)))), v128.load(scale)));
}

// y[i, j] = f32(Σ_c w[j, c] · q[i, c] − zp · wsum[j]) · scale[j] for columns j < n and rows
// [r0, r1): q [rows, kPad] bytes in [0, 127], w [n, kPad] int8 (one row per output column,
// zero past the real k), kPad a multiple of 16. Tiles of two rows by four columns share each
// load of q and w; the sums stay exact whatever the tile.
export function gemmI8(q: usize, kPad: i32, w: usize, wsum: usize, scale: usize, zp: i32, y: usize, ldy: i32, n: i32, r0: i32, r1: i32): void {
  const stride = <usize>kPad;
  const vzp = i32x4.splat(zp);
  let r = r0;
  for (; r + 2 <= r1; r += 2) {
    const q0 = q + <usize>r * stride, q1 = q0 + stride, y0 = y + (<usize>r * <usize>ldy << 2), y1 = y0 + (<usize>ldy << 2);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const w0 = w + <usize>j * stride, w1 = w0 + stride, w2 = w1 + stride, w3 = w2 + stride;
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
      for (let c: usize = 0; c < stride; c += 16) {
        const x0 = v128.load(q0 + c), x1 = v128.load(q1 + c);
        const v0 = v128.load(w0 + c), v1 = v128.load(w1 + c), v2 = v128.load(w2 + c), v3 = v128.load(w3 + c);
        a0 = dot16(v0, x0, a0); a1 = dot16(v1, x0, a1); a2 = dot16(v2, x0, a2); a3 = dot16(v3, x0, a3);
        b0 = dot16(v0, x1, b0); b1 = dot16(v1, x1, b1); b2 = dot16(v2, x1, b2); b3 = dot16(v3, x1, b3);
      }
      const o = <usize>j << 2;
      epilogue4(hsum4(a0, a1, a2, a3), vzp, wsum + o, scale + o, y0 + o);
      epilogue4(hsum4(b0, b1, b2, b3), vzp, wsum + o, scale + o, y1 + o);
    }
    for (; j < n; j++) { column(q0, w, stride, wsum, scale, zp, y0, j); column(q1, w, stride, wsum, scale, zp, y1, j); }
  }
  for (; r < r1; r++) {
    const qr = q + <usize>r * stride, yr = y + (<usize>r * <usize>ldy << 2);
    let j = 0;
    for (; j + 4 <= n; j += 4) {
      const w0 = w + <usize>j * stride, w1 = w0 + stride, w2 = w1 + stride, w3 = w2 + stride;
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      for (let c: usize = 0; c < stride; c += 16) {
        const a = v128.load(qr + c);
        a0 = dot16(v128.load(w0 + c), a, a0);
        a1 = dot16(v128.load(w1 + c), a, a1);
        a2 = dot16(v128.load(w2 + c), a, a2);
        a3 = dot16(v128.load(w3 + c), a, a3);
      }
      const o = <usize>j << 2;
      epilogue4(hsum4(a0, a1, a2, a3), vzp, wsum + o, scale + o, yr + o);
    }
    for (; j < n; j++) column(qr, w, stride, wsum, scale, zp, yr, j);
  }
}

// One output column of one row (the n % 4 columns past the tiles).
// @ts-ignore: decorator
@inline
function column(qr: usize, w: usize, stride: usize, wsum: usize, scale: usize, zp: i32, yr: usize, j: i32): void {
  const wj = w + <usize>j * stride;
  let a0 = i32x4.splat(0);
  for (let c: usize = 0; c < stride; c += 16) a0 = dot16(v128.load(wj + c), v128.load(qr + c), a0);
  const s = hsum(a0) - zp * load<i32>(wsum + (<usize>j << 2));
  store<f32>(yr + (<usize>j << 2), <f32>s * load<f32>(scale + (<usize>j << 2)));
}
