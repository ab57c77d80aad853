// A fitted forest's scores: each row walked down every tree, the leaves' values averaged over
// the trees in index order. Forest.predict (src/microbiome/random-forest.ts) and graft/infer's
// microbiome models both score through this, so both give the same bits.

/** One tree's arrays as scoring reads them: per node its split feature (-1 at a leaf), threshold, children and leaf values [nodes, stride]. */
export interface ScoringTree {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  values: Float64Array;
}

/** The leaf row `row` (the offset of its first feature in x) ends at; trees must have children after their parents (checked when read). */
export function leafOf(t: ScoringTree, x: Float32Array, row: number): number {
  let k = 0;
  for (let j = t.feature[0]!; j >= 0; j = t.feature[k]!) k = x[row + j]! <= t.threshold[k]! ? t.left[k]! : t.right[k]!;
  return k;
}

/** Scores [n, stride] of the rows of x [n, f] (float32, as the forest was grown on): class probabilities (stride classes) or values (stride 1). */
export function forestScores(
  trees: readonly ScoringTree[],
  x: Float32Array,
  n: number,
  f: number,
  stride: number,
): Float64Array {
  const out = new Float64Array(n * stride);
  for (const t of trees) {
    for (let r = 0; r < n; r++) {
      const v = leafOf(t, x, r * f) * stride;
      for (let k = 0; k < stride; k++) out[r * stride + k]! += t.values[v + k]!;
    }
  }
  for (let i = 0; i < out.length; i++) out[i]! /= trees.length;
  return out;
}
