// Elementwise kernels over an element range [e0, e1) or a row range, f32. No fused
// multiply-add here: vector lanes and the scalar tail must round the same way, so a split
// anywhere gives the same bits.
import { loadPart, storePart } from './madd';

export function biasAdd(y: usize, ldy: i32, bias: usize, cols: i32, r0: i32, r1: i32): void {
  biasRows(false, y, ldy, bias, cols, r0, r1);
}

// y = max(y + bias, 0) in one pass: biasAdd's add then relu's max, so the bits are those of
// the two passes, for a layer's epilogue after a GEMM (SpMM takes it in its own stores).
export function biasAddRelu(y: usize, ldy: i32, bias: usize, cols: i32, r0: i32, r1: i32): void {
  biasRows(true, y, ldy, bias, cols, r0, r1);
}

// @ts-ignore: decorator
@inline function biasRows(RELU: bool, y: usize, ldy: i32, bias: usize, cols: i32, r0: i32, r1: i32): void {
  const z = f32x4.splat(0);
  for (let r = r0; r < r1; r++) {
    const row = y + (<usize>r * <usize>ldy << 2);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const s = f32x4.add(v128.load(row + o), v128.load(bias + o));
      v128.store(row + o, RELU ? f32x4.max(s, z) : s);
    }
    const rem = cols - c, o = <usize>c << 2;
    if (rem == 0) continue;
    const s = f32x4.add(loadPart(row + o, rem), loadPart(bias + o, rem));
    const v = RELU ? f32x4.max(s, z) : s;
    storePart(row + o, v, rem);
  }
}

// out[c] = sum over r = 0 .. rows-1 of g[r, c], for columns [c0, c1): the bias gradient.
// Rows are added in ascending order for every column; a partition splits columns only.
// Up to 16 columns (the narrow layers' bias gradients) keep their sums in registers over all
// rows, in the same order, instead of loading and storing out once per row.
export function colSum(g: usize, ldg: i32, out: usize, rows: i32, c0: i32, c1: i32): void {
  colSums(false, 0, g, 0, ldg, out, rows, c0, c1);
}

// A ReLU's backward and the bias gradient of the layer below it in one pass: gx = gy where
// the ReLU's output y > 0, else 0 (reluBackward), and out = colSum(gx), in colSum's order,
// so the bits are those of the two passes and gx is not read back. y, gy, gx share ld.
export function reluBackwardColSum(y: usize, gy: usize, gx: usize, ld: i32, out: usize, rows: i32, c0: i32, c1: i32): void {
  colSums(true, y, gy, gx, ld, out, rows, c0, c1);
}

// MASK: the summed value is gy masked by y > 0, and it is stored to gx as well.
// @ts-ignore: decorator
@inline function colSums(MASK: bool, y: usize, g: usize, gx: usize, ldg: i32, out: usize, rows: i32, c0: i32, c1: i32): void {
  const sg = <usize>ldg << 2;
  if (c1 - c0 <= 16) {
    let c = c0;
    for (; c + 8 <= c1; c += 8) colSumNarrow(MASK, 2, 0, y, g, gx, <usize>c << 2, sg, out + (<usize>c << 2), rows);
    if (c + 4 <= c1) { colSumNarrow(MASK, 1, 0, y, g, gx, <usize>c << 2, sg, out + (<usize>c << 2), rows); c += 4; }
    const rem = c1 - c, o = <usize>c << 2, q = out + o;
    if (rem == 1) colSumNarrow(MASK, 0, 1, y, g, gx, o, sg, q, rows);
    else if (rem == 2) colSumNarrow(MASK, 0, 2, y, g, gx, o, sg, q, rows);
    else if (rem == 3) colSumNarrow(MASK, 0, 3, y, g, gx, o, sg, q, rows);
    return;
  }
  const z = f32x4.splat(0);
  for (let c = c0; c < c1; c++) store<f32>(out + (<usize>c << 2), 0);
  for (let r = 0; r < rows; r++) {
    const row = <usize>r * sg;
    let c = c0;
    for (; c + 4 <= c1; c += 4) {
      const o = <usize>c << 2, p = row + o;
      let v = v128.load(g + p);
      if (MASK) { v = v128.and(v, f32x4.gt(v128.load(y + p), z)); v128.store(gx + p, v); }
      v128.store(out + o, f32x4.add(v128.load(out + o), v));
    }
    for (; c < c1; c++) {
      const o = <usize>c << 2, p = row + o;
      let v = load<f32>(g + p);
      if (MASK) { v = load<f32>(y + p) > 0 ? v : 0; store<f32>(gx + p, v); }
      store<f32>(out + o, load<f32>(out + o) + v);
    }
  }
}

// V full vectors (V = 1, 2) or, with V = 0, one partial vector of P = 1..3 columns, at byte
// offset o of each row.
// @ts-ignore: decorator
@inline function colSumNarrow(MASK: bool, V: i32, P: i32, y: usize, g: usize, gx: usize, o: usize, sg: usize, q: usize, rows: i32): void {
  const z = f32x4.splat(0);
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    if (V == 0) {
      let v = loadPart(g + o, P);
      if (MASK) { v = v128.and(v, f32x4.gt(loadPart(y + o, P), z)); storePart(gx + o, v, P); }
      s0 = f32x4.add(s0, v);
    } else {
      let v0 = v128.load(g + o);
      if (MASK) { v0 = v128.and(v0, f32x4.gt(v128.load(y + o), z)); v128.store(gx + o, v0); }
      s0 = f32x4.add(s0, v0);
      if (V > 1) {
        let v1 = v128.load(g + o, 16);
        if (MASK) { v1 = v128.and(v1, f32x4.gt(v128.load(y + o, 16), z)); v128.store(gx + o, v1, 16); }
        s1 = f32x4.add(s1, v1);
      }
    }
    o += sg;
  }
  if (V == 0) storePart(q, s0, P);
  else { v128.store(q, s0); if (V > 1) v128.store(q, s1, 16); }
}

export function relu(x: usize, y: usize, e0: i32, e1: i32): void {
  const z = f32x4.splat(0);
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.max(v128.load(x + o), z));
  }
  for (; i < e1; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : 0);
  }
}

// gx = gy where the forward output y was positive, else 0.
export function reluBackward(y: usize, gy: usize, gx: usize, e0: i32, e1: i32): void {
  const z = f32x4.splat(0);
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const o = <usize>i << 2;
    const keep = f32x4.gt(v128.load(y + o), z);
    v128.store(gx + o, v128.and(v128.load(gy + o), keep));
  }
  for (; i < e1; i++) {
    const o = <usize>i << 2;
    store<f32>(gx + o, load<f32>(y + o) > 0 ? load<f32>(gy + o) : 0);
  }
}

export function scale(x: usize, alpha: f32, y: usize, e0: i32, e1: i32): void {
  const a = f32x4.splat(alpha);
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.mul(v128.load(x + o), a));
  }
  for (; i < e1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(x + o) * alpha);
  }
}

// y += alpha * x
export function axpy(alpha: f32, x: usize, y: usize, e0: i32, e1: i32): void {
  const a = f32x4.splat(alpha);
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(v128.load(x + o), a)));
  }
  for (; i < e1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o) * alpha);
  }
}

// y += x: the fixed-order gradient reduction of batch splitting adds shards one at a time.
export function addInto(x: usize, y: usize, e0: i32, e1: i32): void {
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), v128.load(x + o)));
  }
  for (; i < e1; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o));
  }
}

export function fillF32(p: usize, value: f32, e0: i32, e1: i32): void {
  const v = f32x4.splat(value);
  let i = e0;
  for (; i + 4 <= e1; i += 4) v128.store(p + (<usize>i << 2), v);
  for (; i < e1; i++) store<f32>(p + (<usize>i << 2), value);
}

export function copyF32(src: usize, dst: usize, e0: i32, e1: i32): void {
  if (e1 > e0) memory.copy(dst + (<usize>e0 << 2), src + (<usize>e0 << 2), <usize>(e1 - e0) << 2);
}

// Sequential sum in f64 (the losses' final reduction runs on one thread, in row order).
export function sumF32(p: usize, n: i32): f64 {
  let s: f64 = 0;
  for (let i = 0; i < n; i++) s += <f64>load<f32>(p + (<usize>i << 2));
  return s;
}
