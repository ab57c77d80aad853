// Segment pooling for a batch of graphs whose nodes are stored graph by graph:
// graph g owns rows offsets[g] .. offsets[g+1] of X. Modes: 0 sum, 1 mean, 2 max.
// Graphs [g0, g1) are the unit of splitting; each output element is reduced in row order.
// For max, argmax (i32 per output element) records the winning row (first on ties, -1 for an
// empty graph) for the backward pass. Empty graphs pool to 0.

export function segmentPool(
  x: usize, ldx: i32, offsets: usize, out: usize, ldo: i32, argmax: usize, cols: i32, mode: i32,
  g0: i32, g1: i32,
): void {
  for (let g = g0; g < g1; g++) {
    const beg = load<i32>(offsets + (<usize>g << 2));
    const end = load<i32>(offsets + (<usize>(g + 1) << 2));
    const o = out + (<usize>g * <usize>ldo << 2);
    for (let c = 0; c < cols; c++) {
      const oc = <usize>c << 2;
      if (mode == 2) {
        let best: f32 = 0;
        let at: i32 = -1;
        for (let r = beg; r < end; r++) {
          const v = load<f32>(x + (<usize>r * <usize>ldx << 2) + oc);
          if (at < 0 || v > best) { best = v; at = r; }
        }
        store<f32>(o + oc, best);
        store<i32>(argmax + (<usize>g * <usize>cols << 2) + oc, at);
      } else {
        let s: f32 = 0;
        for (let r = beg; r < end; r++) s += load<f32>(x + (<usize>r * <usize>ldx << 2) + oc);
        if (mode == 1 && end > beg) s = s / <f32>(end - beg);
        store<f32>(o + oc, s);
      }
    }
  }
}

// gX for the rows of graphs [g0, g1), overwritten from gOut.
export function segmentPoolBackward(
  gOut: usize, ldo: i32, offsets: usize, gx: usize, ldx: i32, argmax: usize, cols: i32, mode: i32,
  g0: i32, g1: i32,
): void {
  for (let g = g0; g < g1; g++) {
    const beg = load<i32>(offsets + (<usize>g << 2));
    const end = load<i32>(offsets + (<usize>(g + 1) << 2));
    const go = gOut + (<usize>g * <usize>ldo << 2);
    for (let r = beg; r < end; r++) {
      const row = gx + (<usize>r * <usize>ldx << 2);
      for (let c = 0; c < cols; c++) {
        const oc = <usize>c << 2;
        let v = load<f32>(go + oc);
        if (mode == 1) v = v / <f32>(end - beg);
        else if (mode == 2 && load<i32>(argmax + (<usize>g * <usize>cols << 2) + oc) != r) v = 0;
        store<f32>(row + oc, v);
      }
    }
  }
}
