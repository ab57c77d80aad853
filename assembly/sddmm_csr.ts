import { madd, maddS } from './madd';

// out[e] = sum_c G[r, c] * H[colIdx[e], c] for every nonzero e of rows r in [r0, r1): the
// sampled dense-dense product on A's pattern, i.e. dL/dA.vals of Y = A·H given G = dL/dY.
//
// Layout: rowPtr i32[nRows+1], colIdx i32[nnz], G f32 row-major with leading dimension ldg
// (elements), H likewise with ldh, out f32[nnz] (overwritten). Addresses need only 4-byte
// alignment. Each output is one dot over n columns whose order depends on n alone, so any
// row partition gives the same bits.
//
// Dot order (src/reference/sddmm_csr.ts repeats it): the 4-column chunk j of the first
// n & ~3 columns goes to accumulator j % 4, the four accumulators are added
// (a0 + a1) + (a2 + a3), the lanes (l0 + l1) + (l2 + l3), then the last n % 4 columns one by
// one with a rounded multiply then add. Four chains hide the add latency (V8 never fuses),
// and the 16-column steps are followed by at most three 4-column steps into a0, a1, a2 in
// turn, which keeps chunk j on accumulator j % 4 without a second order for the remainder.
export function sddmmCsr(
  rowPtr: usize, colIdx: usize, g: usize, ldg: i32, h: usize, ldh: i32, n: i32,
  out: usize, r0: i32, r1: i32,
): void {
  const hStride = <usize>ldh << 2;
  for (let r = r0; r < r1; r++) {
    const kBeg = load<i32>(rowPtr + (<usize>r << 2));
    const kEnd = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    const gRow = g + (<usize>r * <usize>ldg << 2);
    for (let k = kBeg; k < kEnd; k++) {
      const hRow = h + <usize>load<i32>(colIdx + (<usize>k << 2)) * hStride;
      store<f32>(out + (<usize>k << 2), sddmmDot(gRow, hRow, n));
    }
  }
}

// @ts-ignore: decorator
@inline function sddmmDot(p: usize, q: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let c = 0;
  for (; c + 16 <= n; c += 16) {
    const o = <usize>c << 2;
    a0 = madd(v128.load(p + o), v128.load(q + o), a0);
    a1 = madd(v128.load(p + o, 16), v128.load(q + o, 16), a1);
    a2 = madd(v128.load(p + o, 32), v128.load(q + o, 32), a2);
    a3 = madd(v128.load(p + o, 48), v128.load(q + o, 48), a3);
  }
  if (c + 4 <= n) { a0 = madd(v128.load(p + (<usize>c << 2)), v128.load(q + (<usize>c << 2)), a0); c += 4; }
  if (c + 4 <= n) { a1 = madd(v128.load(p + (<usize>c << 2)), v128.load(q + (<usize>c << 2)), a1); c += 4; }
  if (c + 4 <= n) { a2 = madd(v128.load(p + (<usize>c << 2)), v128.load(q + (<usize>c << 2)), a2); c += 4; }
  const v = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  let s = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
  for (; c < n; c++) s = maddS(load<f32>(p + (<usize>c << 2)), load<f32>(q + (<usize>c << 2)), s);
  return s;
}
