import type { NodeDataset } from '../graph/node-data.js';
import { gcnNormArrays, type CsrArrays } from '../graph/gcn-norm.js';
import type { Tensor } from '../memory/tensor.js';
import { sequentialModel } from '../nn/model.js';
import type { Runtime } from '../runtime/runtime.js';
import { buildNodeGcn, type NodeTrainConfig } from '../train/node-trainer.js';
import { attribute, identitySpace, type Baseline, type GradientMethod } from './attribution.js';
import { fidelity, type Fidelity } from './fidelity.js';
import { gnnExplainer } from './gnnexplainer.js';
import { columnObjective, GraphProbe, probeGraph, type Objective } from './graph-probe.js';
import { loadWeights } from '../nn/load-weights.js';

// Explanations of a node classifier for one node. An L-layer GCN's output at node v reads only
// v's L-hop neighbourhood, so the probe runs on that subgraph, with Â's entries as the full
// graph normalized them (the degrees of the whole graph): the output at v is then exactly the
// full model's, and so are its gradients.

/**
 * The nodes within a GCN's reach of an explained node (its receptive field), the hops to each, and Â restricted to them.
 */
export interface Neighbourhood {
  /** Global node ids; local index = position. The explained node is local 0. */
  nodes: Int32Array;
  /** Hops from the explained node, per local node. */
  hops: Int32Array;
  norm: CsrArrays;
  /** Undirected edges between neighbourhood nodes, local indices (src < dst). */
  src: Int32Array;
  dst: Int32Array;
}

/** v's `hops`-hop neighbourhood with the full graph's Â restricted to it. */
export function neighbourhood(full: CsrArrays, v: number, hops: number): Neighbourhood {
  const local = new Map<number, number>([[v, 0]]);
  const order = [v],
    dist = [0];
  for (let h = 0, from = 0; h < hops; h++) {
    const to = order.length;
    for (let k = from; k < to; k++) {
      const u = order[k]!;
      for (let e = full.rowPtr[u]!; e < full.rowPtr[u + 1]!; e++) {
        const w = full.colIdx[e]!;
        if (!local.has(w)) {
          local.set(w, order.length);
          order.push(w);
          dist.push(h + 1);
        }
      }
    }
    from = to;
  }
  const n = order.length,
    rowPtr = new Int32Array(n + 1),
    cols: number[] = [],
    vals: number[] = [];
  const src: number[] = [],
    dst: number[] = [];
  order.forEach((u, i) => {
    const row: [number, number][] = [];
    for (let e = full.rowPtr[u]!; e < full.rowPtr[u + 1]!; e++) {
      const j = local.get(full.colIdx[e]!);
      if (j !== undefined) row.push([j, full.vals[e]!]);
    }
    row.sort((a, b) => a[0] - b[0]);
    for (const [j, x] of row) {
      cols.push(j);
      vals.push(x);
      if (i < j) {
        src.push(i);
        dst.push(j);
      }
    }
    rowPtr[i + 1] = cols.length;
  });
  return {
    nodes: Int32Array.from(order),
    hops: Int32Array.from(dist),
    norm: { rowPtr, colIdx: Int32Array.from(cols), vals: Float32Array.from(vals) },
    src: Int32Array.from(src),
    dst: Int32Array.from(dst),
  };
}

/** A trained node classifier as the explainers need it: its config and weights by parameter name. */
export interface NodeModelSpec {
  config: NodeTrainConfig;
  weights: Map<string, Float32Array>;
}

/** The dense node GCN (buildNodeGcn: the sparse-input model has the same weights) on a neighbourhood. */
export function nodeProbe(
  rt: Runtime,
  ds: NodeDataset,
  spec: NodeModelSpec,
  nb: Neighbourhood,
): { probe: GraphProbe; x: Float32Array } {
  const F = ds.numFeatures,
    x = new Float32Array(nb.nodes.length * F);
  nb.nodes.forEach((u, i) => {
    x.set(ds.features.subarray(u * F, (u + 1) * F), i * F);
  });
  const probe = new GraphProbe(rt, probeGraph(nb.nodes.length, nb.norm, nb.src, nb.dst), (graph) => {
    const seq = buildNodeGcn(rt, F, ds.numClasses, spec.config, graph);
    loadWeights(seq.params(), spec.weights, 'node model');
    return { model: sequentialModel(seq, (i: Tensor[]) => i[0]!), blocks: [F], extras: [] };
  });
  return { probe, x };
}

/** How explainNode scores features and edges: a gradient attribution or GNNExplainer. */
export type NodeMethod = GradientMethod | 'gnnexplainer';

/**
 * What explainNode returns: the explained class and its logit, a score per neighbourhood feature value and edge, and the explanation's fidelity.
 */
export interface NodeExplanation {
  node: number;
  /** The explained class (the model's prediction unless a target was given) and its logit. */
  target: number;
  value: number;
  /** Per local node × feature. */
  features: Float32Array;
  /** Per neighbourhood edge. */
  edges: Float32Array;
  completeness?: { baselineValue: number; sum: number; expected: number; error: number };
  /** Integrated gradients: the steps used (refined until complete within 1%). */
  steps?: number;
  fidelity: Fidelity;
  passes: number;
}

/**
 * Explains one node's prediction: runs the trained model on the node's `layers`-hop
 * neighbourhood (whose output for that node equals the full graph's) and scores its feature
 * values and edges by `method`, with the fidelity of the top `keep` fraction. `full` is the
 * whole graph's Â (gcnNorm's normalization) as CSR arrays.
 */
export async function explainNode(
  rt: Runtime,
  ds: NodeDataset,
  spec: NodeModelSpec,
  full: CsrArrays,
  v: number,
  method: NodeMethod,
  o: { target?: number; steps?: number; tolerance?: number; baseline?: Baseline; keep?: number } = {},
): Promise<{ explanation: NodeExplanation; nb: Neighbourhood }> {
  const nb = neighbourhood(full, v, spec.config.layers);
  const { probe, x } = nodeProbe(rt, ds, spec, nb);
  const C = ds.numClasses,
    F = ds.numFeatures;
  try {
    const logits = (await probe.run([{ x }], columnObjective({ kind: 'node', node: 0 }, 0, C))).rows[0]!;
    let target = o.target ?? 0;
    if (o.target === undefined) for (let c = 1; c < C; c++) if (logits[c]! > logits[target]!) target = c;
    const output = columnObjective({ kind: 'node', node: 0 }, target, C);
    const space = identitySpace(x, F);
    let features: Float32Array, edges: Float32Array, passes: number;
    let completeness: NodeExplanation['completeness'];
    let steps: number | undefined;
    if (method === 'gnnexplainer') {
      // PyG's loss for a classifier: −log softmax(logits)[explained class].
      const loss: Objective = {
        rows: { kind: 'node', node: 0 },
        eval(r) {
          let mx = -Infinity;
          for (const z of r) mx = Math.max(mx, z);
          let s = 0;
          for (const z of r) s += Math.exp(z - mx);
          const grad = Float32Array.from(r, (z) => Math.exp(z - mx) / s);
          grad[target]! -= 1;
          return { value: -(r[target]! - mx - Math.log(s)), grad };
        },
      };
      const r = await gnnExplainer(probe, space, loss, { featureMask: 'columns' });
      features = new Float32Array(x.length);
      for (let i = 0; i < nb.nodes.length; i++)
        for (let j = 0; j < F; j++) if (x[i * F + j] !== 0) features[i * F + j] = r.featureMask[j]!;
      edges = r.edges;
      passes = r.passes;
    } else {
      const a = await attribute(probe, space, output, method, {
        steps: o.steps ?? 50,
        baseline: o.baseline ?? 'zero',
        edges: true,
        ...(o.tolerance !== undefined ? { tolerance: o.tolerance } : {}),
      });
      features = a.features;
      edges = a.edges!;
      passes = a.passes;
      if (a.completeness) completeness = a.completeness;
      if (a.steps) steps = a.steps;
    }
    const fid = await fidelity(probe, space, output, { features, edges }, 'argmax', target, C, o.keep ?? 0.2);
    return {
      explanation: {
        node: v,
        target,
        value: logits[target]!,
        features,
        edges,
        ...(completeness ? { completeness } : {}),
        ...(steps ? { steps } : {}),
        fidelity: fid,
        passes: passes + 2,
      },
      nb,
    };
  } finally {
    probe.dispose();
  }
}

/** Â of a whole node data set (what the trained model propagated with). */
export function fullNorm(ds: NodeDataset): CsrArrays {
  return gcnNormArrays(ds.numNodes, ds.src, ds.dst);
}
