import { loadPart, storePart } from './madd';

// Row gathers over an edge (or any index) range [e0, e1), f32, for message passing that keeps
// one row per edge: out[e, :] = x[idx[e], :] (gatherRows), and GINE's message
// out[e, :] = max(x[idx[e], :] + add[e, :], 0) (gatherAddRelu).
//
// Layout: idx i32[e1], x f32 row-major with leading dimension ldx (elements), add and out
// likewise with ldadd and ldo; `cols` columns of each row. out is overwritten. Addresses need
// only 4-byte alignment. Each output element is a copy, or one add then one max, so any range
// split gives the same bits (no reduction at all).

export function gatherRows(x: usize, ldx: i32, idx: usize, out: usize, ldo: i32, cols: i32, e0: i32, e1: i32): void {
  gather(false, x, ldx, idx, 0, 0, out, ldo, cols, e0, e1);
}

export function gatherAddRelu(x: usize, ldx: i32, idx: usize, add: usize, ldadd: i32, out: usize, ldo: i32, cols: i32,
  e0: i32, e1: i32): void {
  gather(true, x, ldx, idx, add, ldadd, out, ldo, cols, e0, e1);
}

// @ts-ignore: decorator
@inline function gather(ADD: bool, x: usize, ldx: i32, idx: usize, add: usize, ldadd: i32, out: usize, ldo: i32, cols: i32,
  e0: i32, e1: i32): void {
  const z = f32x4.splat(0);
  for (let e = e0; e < e1; e++) {
    const src = x + (<usize>load<i32>(idx + (<usize>e << 2)) * <usize>ldx << 2);
    const dst = out + (<usize>e * <usize>ldo << 2);
    const a = add + (<usize>e * <usize>ldadd << 2);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      let v = v128.load(src + o);
      if (ADD) v = f32x4.max(f32x4.add(v, v128.load(a + o)), z);
      v128.store(dst + o, v);
    }
    const rem = cols - c, o = <usize>c << 2;
    if (rem == 0) continue;
    let v = loadPart(src + o, rem);
    if (ADD) v = f32x4.max(f32x4.add(v, loadPart(a + o, rem)), z);
    storePart(dst + o, v, rem);
  }
}
