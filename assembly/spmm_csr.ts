import { madd, loadPart, storePart, mulAdd } from './madd';

// Y[r, c0:c1] = sum_k vals[k] * X[colIdx[k], c0:c1] for k in rowPtr[r] .. rowPtr[r+1], r in [r0, r1).
//
// Layout: rowPtr i32[nRows+1], colIdx i32[nnz], vals f32[nnz], X f32 row-major with leading
// dimension ldx (elements), Y likewise with ldy. Y is overwritten. Addresses need only 4-byte
// alignment. Each output element is summed over its row's nonzeros in storage order, whatever
// the row range and column block, so any partition gives the same bits.
//
// Columns go in panels of 32 (eight v128 accumulators held in registers for the whole row),
// then at most one each of 16, 8 and 4, then the last c % 4 as one partial vector: one pass over
// a row's nonzeros per panel keeps the gathered X rows' cache lines hot and the accumulators out
// of memory (16 columns took four passes of 4 and 3 columns three scalar passes before).
export function spmmCsr(
  rowPtr: usize, colIdx: usize, vals: usize,
  x: usize, ldx: i32, y: usize, ldy: i32,
  c0: i32, c1: i32, r0: i32, r1: i32,
): void {
  spmmRows(false, rowPtr, colIdx, vals, x, ldx, y, ldy, c0, c1, r0, r1, 0, 0);
}

// The same product with a layer's epilogue applied as each output vector is stored:
// Y = A·X + bias (bias[c] per column), then max(·, 0) when relu != 0. The sums are spmmCsr's;
// the add and the max are the ones biasAdd and relu do, so the bits equal spmmCsr followed by
// those two passes, without reading and writing Y twice more.
export function spmmCsrBiasRelu(
  rowPtr: usize, colIdx: usize, vals: usize,
  x: usize, ldx: i32, y: usize, ldy: i32,
  c0: i32, c1: i32, bias: usize, relu: i32, r0: i32, r1: i32,
): void {
  spmmRows(true, rowPtr, colIdx, vals, x, ldx, y, ldy, c0, c1, r0, r1, bias, relu);
}

// @ts-ignore: decorator
@inline function spmmRows(
  EPI: bool, rowPtr: usize, colIdx: usize, vals: usize,
  x: usize, ldx: i32, y: usize, ldy: i32,
  c0: i32, c1: i32, r0: i32, r1: i32, bias: usize, relu: i32,
): void {
  const xStride = <usize>ldx << 2;
  for (let r = r0; r < r1; r++) {
    const kBeg = load<i32>(rowPtr + (<usize>r << 2));
    const kEnd = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    const yRow = y + (<usize>r * <usize>ldy << 2);
    let c = c0;
    for (; c + 32 <= c1; c += 32) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
      const xc = x + (<usize>c << 2);
      for (let k = kBeg; k < kEnd; k++) {
        const j = <usize>load<i32>(colIdx + (<usize>k << 2));
        const v = f32x4.splat(load<f32>(vals + (<usize>k << 2)));
        const p = xc + j * xStride;
        a0 = madd(v128.load(p), v, a0);
        a1 = madd(v128.load(p, 16), v, a1);
        a2 = madd(v128.load(p, 32), v, a2);
        a3 = madd(v128.load(p, 48), v, a3);
        a4 = madd(v128.load(p, 64), v, a4);
        a5 = madd(v128.load(p, 80), v, a5);
        a6 = madd(v128.load(p, 96), v, a6);
        a7 = madd(v128.load(p, 112), v, a7);
      }
      const q = yRow + (<usize>c << 2);
      if (EPI) {
        const bc = bias + (<usize>c << 2);
        a0 = epilogue(a0, v128.load(bc), relu); a1 = epilogue(a1, v128.load(bc, 16), relu);
        a2 = epilogue(a2, v128.load(bc, 32), relu); a3 = epilogue(a3, v128.load(bc, 48), relu);
        a4 = epilogue(a4, v128.load(bc, 64), relu); a5 = epilogue(a5, v128.load(bc, 80), relu);
        a6 = epilogue(a6, v128.load(bc, 96), relu); a7 = epilogue(a7, v128.load(bc, 112), relu);
      }
      v128.store(q, a0); v128.store(q, a1, 16); v128.store(q, a2, 32); v128.store(q, a3, 48);
      v128.store(q, a4, 64); v128.store(q, a5, 80); v128.store(q, a6, 96); v128.store(q, a7, 112);
    }
    if (c + 16 <= c1) { spmmPanel(4, EPI, colIdx, vals, x + (<usize>c << 2), xStride, yRow + (<usize>c << 2), kBeg, kEnd, bias + (<usize>c << 2), relu); c += 16; }
    if (c + 8 <= c1) { spmmPanel(2, EPI, colIdx, vals, x + (<usize>c << 2), xStride, yRow + (<usize>c << 2), kBeg, kEnd, bias + (<usize>c << 2), relu); c += 8; }
    if (c + 4 <= c1) { spmmPanel(1, EPI, colIdx, vals, x + (<usize>c << 2), xStride, yRow + (<usize>c << 2), kBeg, kEnd, bias + (<usize>c << 2), relu); c += 4; }
    const rem = c1 - c;
    if (rem == 1) spmmPart(1, EPI, colIdx, vals, x + (<usize>c << 2), xStride, yRow + (<usize>c << 2), kBeg, kEnd, bias + (<usize>c << 2), relu);
    else if (rem == 2) spmmPart(2, EPI, colIdx, vals, x + (<usize>c << 2), xStride, yRow + (<usize>c << 2), kBeg, kEnd, bias + (<usize>c << 2), relu);
    else if (rem == 3) spmmPart(3, EPI, colIdx, vals, x + (<usize>c << 2), xStride, yRow + (<usize>c << 2), kBeg, kEnd, bias + (<usize>c << 2), relu);
  }
}

// V vectors (4V columns, V = 1, 2 or 4) of one row: as the 32-column panel.
// @ts-ignore: decorator
@inline function spmmPanel(V: i32, EPI: bool, colIdx: usize, vals: usize, xc: usize, xStride: usize, q: usize, kBeg: i32, kEnd: i32, bc: usize, relu: i32): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  for (let k = kBeg; k < kEnd; k++) {
    const j = <usize>load<i32>(colIdx + (<usize>k << 2));
    const v = f32x4.splat(load<f32>(vals + (<usize>k << 2)));
    const p = xc + j * xStride;
    a0 = madd(v128.load(p), v, a0);
    if (V > 1) a1 = madd(v128.load(p, 16), v, a1);
    if (V > 2) { a2 = madd(v128.load(p, 32), v, a2); a3 = madd(v128.load(p, 48), v, a3); }
  }
  if (EPI) {
    a0 = epilogue(a0, v128.load(bc), relu);
    if (V > 1) a1 = epilogue(a1, v128.load(bc, 16), relu);
    if (V > 2) { a2 = epilogue(a2, v128.load(bc, 32), relu); a3 = epilogue(a3, v128.load(bc, 48), relu); }
  }
  v128.store(q, a0);
  if (V > 1) v128.store(q, a1, 16);
  if (V > 2) { v128.store(q, a2, 32); v128.store(q, a3, 48); }
}

// The last P = 1..3 columns as one partial vector, each lane the scalar loop's rounded multiply
// then add (mulAdd, unfused in both builds), reading and writing only those P floats.
// @ts-ignore: decorator
@inline function spmmPart(P: i32, EPI: bool, colIdx: usize, vals: usize, xc: usize, xStride: usize, q: usize, kBeg: i32, kEnd: i32, bc: usize, relu: i32): void {
  let a0 = f32x4.splat(0);
  for (let k = kBeg; k < kEnd; k++) {
    const j = <usize>load<i32>(colIdx + (<usize>k << 2));
    a0 = mulAdd(loadPart(xc + j * xStride, P), v128.load32_splat(vals + (<usize>k << 2)), a0);
  }
  if (EPI) a0 = epilogue(a0, loadPart(bc, P), relu);
  storePart(q, a0, P);
}

// bias added as biasAdd adds it, then relu's max with +0 (a run-time flag: one branch per
// stored vector, against a row's worth of gathers).
// @ts-ignore: decorator
@inline function epilogue(a: v128, b: v128, relu: i32): v128 {
  const s = f32x4.add(a, b);
  return relu != 0 ? f32x4.max(s, f32x4.splat(0)) : s;
}
