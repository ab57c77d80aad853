// The KernelSHAP tests' oracles, one copy for every model they check (mb's MLP, GCN and BNN,
// gp's kernel and linear models): exact interventional Shapley values by enumerating every
// coalition, and the additivity of a shap.csv row (base + Σ φ = prediction).

/** Every coalition's rows: for coalition bits s and background row b, x's features in s and b's elsewhere ([2^p · nb, p]). */
function coalitionRows(x: Float64Array, bg: Float64Array, nb: number, p: number): Float64Array {
  const masks = 1 << p,
    all = new Float64Array(masks * nb * p);
  for (let s = 0; s < masks; s++)
    for (let b = 0; b < nb; b++)
      for (let j = 0; j < p; j++) all[(s * nb + b) * p + j] = (s >> j) & 1 ? x[j]! : bg[b * p + j]!;
  return all;
}

/** Shapley values from the scores of coalitionRows' rows: v(S) the mean over the background, φ_j the weighted marginals. */
function shapleyFromScores(scores: Float64Array, nb: number, p: number, out: number, width: number): Float64Array {
  const masks = 1 << p;
  const v = Float64Array.from({ length: masks }, (_, s) => {
    let t = 0;
    for (let b = 0; b < nb; b++) t += scores[(s * nb + b) * width + out]! / nb;
    return t;
  });
  const fact = [1];
  for (let k = 1; k <= p; k++) fact.push(fact[k - 1]! * k);
  const phi = new Float64Array(p);
  for (let j = 0; j < p; j++)
    for (let s = 0; s < masks; s++) {
      if ((s >> j) & 1) continue;
      let c = 0;
      for (let b = s; b; b &= b - 1) c++;
      phi[j]! += ((fact[c]! * fact[p - c - 1]!) / fact[p]!) * (v[s | (1 << j)]! - v[s]!);
    }
  return phi;
}

/**
 * Exact interventional Shapley values of output `out` (of `width` per row) of f at x over its
 * p features, by every coalition, absent features from each of the nb background rows.
 */
export async function shapleyByEnumeration(
  f: (rows: Float64Array, n: number) => Float64Array | Promise<Float64Array>,
  x: Float64Array,
  bg: Float64Array,
  nb: number,
  p: number,
  out = 0,
  width = 1,
): Promise<Float64Array> {
  return shapleyFromScores(await f(coalitionRows(x, bg, nb, p), (1 << p) * nb), nb, p, out, width);
}

/** |base + Σ φ − prediction| of one explained row: 0 for exactly additive values. */
export function additivityError(phi: readonly number[], base: number, prediction: number): number {
  return Math.abs(base + phi.reduce((a, b) => a + b, 0) - prediction);
}
