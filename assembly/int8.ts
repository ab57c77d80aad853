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

// @ts-ignore: decorator
@inline
function hsum(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

// q[i, c] = clamp(nearest(x[i, c] · inv) + zp, 0, 127) for c < k, and 0 for k ≤ c < ldq
// (the padding to 16 bytes the dot kernel reads), rows [r0, r1). nearest rounds half to
// even; NaN becomes 0. Vector and scalar lanes round the same way.
export function quantizeU7(x: usize, ldx: i32, q: usize, ldq: i32, k: i32, inv: f32, zp: i32, r0: i32, r1: i32): void {
  const vinv = f32x4.splat(inv), vzp = f32x4.splat(<f32>zp), lo = f32x4.splat(0), hi = f32x4.splat(127);
  const fzp = <f32>zp;
  for (let r = r0; r < r1; r++) {
    const xr = x + (<usize>r * <usize>ldx << 2), qr = q + <usize>r * <usize>ldq;
    let c = 0;
    for (; c + 16 <= k; c += 16) {
      const p = xr + (<usize>c << 2);
      const a = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.add(f32x4.nearest(f32x4.mul(v128.load(p), vinv)), vzp), lo), hi));
      const b = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.add(f32x4.nearest(f32x4.mul(v128.load(p, 16), vinv)), vzp), lo), hi));
      const d = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.add(f32x4.nearest(f32x4.mul(v128.load(p, 32), vinv)), vzp), lo), hi));
      const e = i32x4.trunc_sat_f32x4_s(f32x4.min(f32x4.max(f32x4.add(f32x4.nearest(f32x4.mul(v128.load(p, 48), vinv)), vzp), lo), hi));
      v128.store(qr + <usize>c, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(d, e)));
    }
    for (; c < k; c++) {
      let v = nearest<f32>(load<f32>(xr + (<usize>c << 2)) * inv) + fzp;
      v = v != v ? 0 : min<f32>(max<f32>(v, 0), 127);
      store<u8>(qr + <usize>c, <u8>(<i32>v));
    }
    for (; c < ldq; c++) store<u8>(qr + <usize>c, 0);
  }
}

// y[i, j] = f32(Σ_c w[j, c] · q[i, c] − zp · wsum[j]) · scale[j] for columns j < n and rows
// [r0, r1): q [rows, kPad] bytes in [0, 127], w [n, kPad] int8 (one row per output column,
// zero past the real k), kPad a multiple of 16. Four columns at a time share each load of q.
export function gemmI8(q: usize, kPad: i32, w: usize, wsum: usize, scale: usize, zp: i32, y: usize, ldy: i32, n: i32, r0: i32, r1: i32): void {
  const stride = <usize>kPad;
  const vzp = i32x4.splat(zp);
  for (let r = r0; r < r1; r++) {
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
      let s = i32x4.replace_lane(i32x4.splat(hsum(a0)), 1, hsum(a1));
      s = i32x4.replace_lane(i32x4.replace_lane(s, 2, hsum(a2)), 3, hsum(a3));
      s = i32x4.sub(s, i32x4.mul(vzp, v128.load(wsum + (<usize>j << 2))));
      v128.store(yr + (<usize>j << 2), f32x4.mul(f32x4.convert_i32x4_s(s), v128.load(scale + (<usize>j << 2))));
    }
    for (; j < n; j++) {
      const wj = w + <usize>j * stride;
      let a0 = i32x4.splat(0);
      for (let c: usize = 0; c < stride; c += 16) a0 = dot16(v128.load(wj + c), v128.load(qr + c), a0);
      const s = hsum(a0) - zp * load<i32>(wsum + (<usize>j << 2));
      store<f32>(yr + (<usize>j << 2), <f32>s * load<f32>(scale + (<usize>j << 2)));
    }
  }
}
