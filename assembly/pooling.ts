import { loadPart, storePart } from './madd';

// Segment pooling for a batch of graphs whose nodes are stored graph by graph:
// graph g owns rows offsets[g] .. offsets[g+1] of X. Modes: 0 sum, 1 mean, 2 max.
// Graphs [g0, g1) are the unit of splitting; each output element is reduced in row order.
// For max, argmax (i32 per output element) records the winning row (first on ties, -1 for an
// empty graph) for the backward pass. Empty graphs pool to 0.
//
// Four columns per vector (the last cols % 4 as one partial vector that reads and writes only
// those columns): every lane does what the scalar loop did for its column, in the same row
// order (adds, one division for the mean, max by `v > best` from the first row on), so the
// bits are the scalar loop's.

export function segmentPool(
  x: usize, ldx: i32, offsets: usize, out: usize, ldo: i32, argmax: usize, cols: i32, mode: i32,
  g0: i32, g1: i32,
): void {
  const c4 = cols & ~3, rem = cols - c4;
  for (let g = g0; g < g1; g++) {
    const beg = load<i32>(offsets + (<usize>g << 2));
    const end = load<i32>(offsets + (<usize>(g + 1) << 2));
    const o = out + (<usize>g * <usize>ldo << 2);
    const am = argmax + (<usize>g * <usize>cols << 2);
    if (mode == 2) {
      for (let c = 0; c < c4; c += 4) poolMax(0, x, ldx, beg, end, c, o, am);
      if (rem == 1) poolMax(1, x, ldx, beg, end, c4, o, am);
      else if (rem == 2) poolMax(2, x, ldx, beg, end, c4, o, am);
      else if (rem == 3) poolMax(3, x, ldx, beg, end, c4, o, am);
    } else {
      const mean = mode == 1 && end > beg;
      for (let c = 0; c < c4; c += 4) poolSum(0, x, ldx, beg, end, c, o, mean);
      if (rem == 1) poolSum(1, x, ldx, beg, end, c4, o, mean);
      else if (rem == 2) poolSum(2, x, ldx, beg, end, c4, o, mean);
      else if (rem == 3) poolSum(3, x, ldx, beg, end, c4, o, mean);
    }
  }
}

// P = 0: four full columns; P = 1..3: that many.
// @ts-ignore: decorator
@inline function ld(p: usize, P: i32): v128 {
  return P == 0 ? v128.load(p) : loadPart(p, P);
}

// @ts-ignore: decorator
@inline function st(p: usize, v: v128, P: i32): void {
  if (P == 0) v128.store(p, v); else storePart(p, v, P);
}

// @ts-ignore: decorator
@inline function poolSum(P: i32, x: usize, ldx: i32, beg: i32, end: i32, c: i32, o: usize, mean: bool): void {
  const oc = <usize>c << 2;
  let s = f32x4.splat(0);
  for (let r = beg; r < end; r++) s = f32x4.add(s, ld(x + (<usize>r * <usize>ldx << 2) + oc, P));
  if (mean) s = f32x4.div(s, f32x4.splat(<f32>(end - beg)));
  st(o + oc, s, P);
}

// @ts-ignore: decorator
@inline function poolMax(P: i32, x: usize, ldx: i32, beg: i32, end: i32, c: i32, o: usize, am: usize): void {
  const oc = <usize>c << 2;
  let best = f32x4.splat(0);
  let at = i32x4.splat(-1);
  if (end > beg) {
    best = ld(x + (<usize>beg * <usize>ldx << 2) + oc, P);
    at = i32x4.splat(beg);
    for (let r = beg + 1; r < end; r++) {
      const v = ld(x + (<usize>r * <usize>ldx << 2) + oc, P);
      const win = f32x4.gt(v, best);
      best = v128.bitselect(v, best, win);
      at = v128.bitselect(i32x4.splat(r), at, win);
    }
  }
  st(o + oc, best, P);
  st(am + oc, at, P);
}

// gX for the rows of graphs [g0, g1), overwritten from gOut.
export function segmentPoolBackward(
  gOut: usize, ldo: i32, offsets: usize, gx: usize, ldx: i32, argmax: usize, cols: i32, mode: i32,
  g0: i32, g1: i32,
): void {
  const c4 = cols & ~3, rem = cols - c4;
  for (let g = g0; g < g1; g++) {
    const beg = load<i32>(offsets + (<usize>g << 2));
    const end = load<i32>(offsets + (<usize>(g + 1) << 2));
    if (end <= beg) continue;
    const go = gOut + (<usize>g * <usize>ldo << 2);
    const am = argmax + (<usize>g * <usize>cols << 2);
    for (let c = 0; c < c4; c += 4) poolBack(0, go, gx, ldx, am, beg, end, c, mode);
    if (rem == 1) poolBack(1, go, gx, ldx, am, beg, end, c4, mode);
    else if (rem == 2) poolBack(2, go, gx, ldx, am, beg, end, c4, mode);
    else if (rem == 3) poolBack(3, go, gx, ldx, am, beg, end, c4, mode);
  }
}

// @ts-ignore: decorator
@inline function poolBack(P: i32, go: usize, gx: usize, ldx: i32, am: usize, beg: i32, end: i32, c: i32, mode: i32): void {
  const oc = <usize>c << 2;
  let v = ld(go + oc, P);
  if (mode == 1) v = f32x4.div(v, f32x4.splat(<f32>(end - beg)));
  if (mode == 2) {
    const w = ld(am + oc, P);
    for (let r = beg; r < end; r++) st(gx + (<usize>r * <usize>ldx << 2) + oc, v128.and(v, i32x4.eq(w, i32x4.splat(r))), P);
  } else {
    for (let r = beg; r < end; r++) st(gx + (<usize>r * <usize>ldx << 2) + oc, v, P);
  }
}
