import type { FeatureSpace } from './attribution.js';
import type { GraphProbe, Objective } from './graph-probe.js';

// Fidelity as PyG's torch_geometric.explain.metric.fidelity defines it (GraphFramEx, Amara et
// al. 2022), for the model's own prediction: fid+ = 1 − 1[ŷ(complement) = ŷ] (removing the
// explanation changes the prediction: the explanation is necessary), fid− = 1 − 1[ŷ(explanation
// only) = ŷ] (the explanation alone keeps it: sufficient). Good explanations have fid+ high and
// fid− low. An explanation here is the top `keep` fraction of the nonzero feature values and
// of the edges by |score| (hard masks). A regression output has no class to keep: there fid+
// and fid− are |ŷ − ŷ(complement)| and |ŷ − ŷ(explanation only)| in the output's units.

/**
 * How fidelity reads a prediction: the class ('argmax'), the sign of a logit ('sign'), or the value itself ('value', regression).
 */
export type Decision = 'argmax' | 'sign' | 'value';

/**
 * PyG's fidelity of an explanation: fid+ (`plus`: removing it changes the prediction), fid− (`minus`: it alone keeps the prediction), and the fraction kept.
 */
export interface Fidelity {
  plus: number;
  minus: number;
  keep: number;
}

/**
 * The top `keep` fraction of the eligible entries by |score| (at least one). The cut is the
 * k-th largest |score|, found by a typed-array sort (a genomic explanation has millions of
 * entries); entries tied with it are kept too.
 */
function topMask(scores: ArrayLike<number>, eligible: (i: number) => boolean, keep: number): Uint8Array {
  const m = new Uint8Array(scores.length);
  let n = 0;
  for (let i = 0; i < scores.length; i++) if (eligible(i)) n++;
  if (n === 0) return m;
  const abs = new Float64Array(n);
  for (let i = 0, j = 0; i < scores.length; i++) if (eligible(i)) abs[j++] = Math.abs(scores[i]!);
  abs.sort();
  const k = Math.max(1, Math.round(keep * n));
  const cut = abs[n - k]!;
  for (let i = 0; i < scores.length; i++) if (eligible(i) && Math.abs(scores[i]!) >= cut) m[i] = 1;
  return m;
}

function decide(rows: Float32Array, d: Decision, column: number): number {
  if (d === 'argmax') {
    let best = 0;
    for (let j = 1; j < rows.length; j++) if (rows[j]! > rows[best]!) best = j;
    return best;
  }
  return rows[column]! > 0 ? 1 : 0;
}

/**
 * Fidelity of one explanation: `features` scores each attributed value ([nodes, width]),
 * `edges` each edge (or null: the graph is kept whole). `output` reads the copies' rows;
 * `decision` turns them into the prediction compared (the class, the label's sign, or
 * output's own value for a regression: the mean absolute change of column `column` over
 * the rows read, of `width` columns each).
 */
export async function fidelity(
  probe: GraphProbe,
  space: FeatureSpace,
  output: Objective,
  scores: { features: ArrayLike<number>; edges: ArrayLike<number> | null },
  decision: Decision,
  column: number,
  width: number,
  keep = 0.2,
): Promise<Fidelity> {
  if (decision !== 'value' && output.rows.kind === 'all')
    throw new Error(`fidelity: a '${decision}' decision needs one output row (a node's or a graph's), not all of them`);
  const v = space.values;
  const fm = topMask(scores.features, (i) => v[i] !== 0, keep);
  const em = scores.edges ? topMask(scores.edges, () => true, keep) : null;
  const only = new Float32Array(v.length),
    rest = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    if (fm[i]) only[i] = v[i]!;
    else rest[i] = v[i]!;
  }
  const E = probe.graph.src.length;
  const maskOnly = em ? Float32Array.from(em) : new Float32Array(E).fill(1);
  const maskRest = em ? Float32Array.from(em, (x) => 1 - x) : new Float32Array(E).fill(1);
  const r = await probe.run(
    [
      { x: await space.toModel(v) },
      { x: await space.toModel(rest), edgeMask: maskRest },
      { x: await space.toModel(only), edgeMask: maskOnly },
    ],
    output,
  );
  if (decision === 'value') {
    const [y, yRest, yOnly] = r.rows as [Float32Array, Float32Array, Float32Array];
    const change = (p: Float32Array, q: Float32Array): number => {
      let sum = 0,
        k = 0;
      for (let i = column; i < p.length; i += width) {
        sum += Math.abs(p[i]! - q[i]!);
        k++;
      }
      return sum / Math.max(1, k);
    };
    return { plus: change(y, yRest), minus: change(y, yOnly), keep };
  }
  const [y, yRest, yOnly] = r.rows.map((rows) => decide(rows, decision, column)) as [number, number, number];
  return { plus: y === yRest ? 0 : 1, minus: y === yOnly ? 0 : 1, keep };
}
