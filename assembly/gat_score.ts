// GAT's attention logits on a CSR pattern (rows = destinations, colIdx = sources) and the
// LeakyReLU's backward.
//
// gatScore: out[h·ldo + e] = LeakyReLU(aSrc[colIdx[e]·heads + h] + aDst[r·heads + h]) for the
// nonzeros e of rows r in [r0, r1): aSrc and aDst f32 [nodes, heads] (each node's per-head
// dot with att_src / att_dst), out head-major as assembly/edge_softmax.ts reads it. One add,
// then x or slope·x: no reduction, so any split gives the same bits.
export function gatScore(rowPtr: usize, colIdx: usize, aSrc: usize, aDst: usize, heads: i32, slope: f32,
  out: usize, ldo: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const kBeg = load<i32>(rowPtr + (<usize>r << 2));
    const kEnd = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    const d = aDst + (<usize>r * <usize>heads << 2);
    for (let k = kBeg; k < kEnd; k++) {
      const s = aSrc + (<usize>load<i32>(colIdx + (<usize>k << 2)) * <usize>heads << 2);
      for (let h = 0; h < heads; h++) {
        const v = load<f32>(s + (<usize>h << 2)) + load<f32>(d + (<usize>h << 2));
        store<f32>(out + ((<usize>h * <usize>ldo + <usize>k) << 2), v > 0 ? v : v * slope);
      }
    }
  }
}

// gx = gy where y > 0, else slope·gy, over elements [e0, e1): y is the LeakyReLU's output,
// whose sign is its input's for slope > 0 (and the gradient is 0 either way when slope is 0).
// gx may be gy.
export function leakyReluBackward(y: usize, gy: usize, gx: usize, slope: f32, e0: i32, e1: i32): void {
  const z = f32x4.splat(0), sv = f32x4.splat(slope);
  let e = e0;
  for (; e + 4 <= e1; e += 4) {
    const o = <usize>e << 2;
    const g = v128.load(gy + o);
    v128.store(gx + o, v128.bitselect(g, f32x4.mul(g, sv), f32x4.gt(v128.load(y + o), z)));
  }
  for (; e < e1; e++) {
    const o = <usize>e << 2;
    const g = load<f32>(gy + o);
    store<f32>(gx + o, load<f32>(y + o) > 0 ? g : g * slope);
  }
}

// y = x where x > 0, else slope·x, over elements [e0, e1) (GATv2's activation before its
// attention dot). y may be x.
export function leakyRelu(x: usize, y: usize, slope: f32, e0: i32, e1: i32): void {
  const z = f32x4.splat(0), sv = f32x4.splat(slope);
  let e = e0;
  for (; e + 4 <= e1; e += 4) {
    const o = <usize>e << 2;
    const v = v128.load(x + o);
    v128.store(y + o, v128.bitselect(v, f32x4.mul(v, sv), f32x4.gt(v, z)));
  }
  for (; e < e1; e++) {
    const o = <usize>e << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : v * slope);
  }
}
