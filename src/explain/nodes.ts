import type { NodeDataset } from '../graph/node-data.js';
import { gcnNormArrays, type CsrArrays } from '../graph/gcn-norm.js';
import type { Tensor } from '../memory/tensor.js';
import { sequentialModel } from '../nn/model.js';
import type { Runtime } from '../runtime/runtime.js';
import { buildNodeGcn, type NodeTrainConfig } from '../train/node-trainer.js';
import { attribute, identitySpace, type Baseline, type GradientMethod } from './attribution.js';
import { fidelity, type Fidelity } from './fidelity.js';
import { GraftError } from '../core/errors.js';
import { MessageGraph } from '../graph/message-graph.js';
import { attentionLayers, attentionOf, type AttentionPass } from './attention.js';
import type { Propagation } from '../nn/layers.js';
import type { Model } from '../nn/model.js';
import { nodeMessageEdges, nodeMessageModel, nodeModelKind, type NodeModelKind } from '../nn/node-models.js';
import { gnnExplainer } from './gnnexplainer.js';
import { columnObjective, GraphProbe, probeGraph, type Objective, type ProbeModel } from './graph-probe.js';
import { loadWeights } from '../nn/load-weights.js';

export type { AttentionPass } from './attention.js';

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

/**
 * The node model (the dense GCN: buildNodeGcn, whose weights the sparse-input model shares; or
 * the config's SAGE, GIN, GAT or GATv2 model) on a neighbourhood. `attention`, for a GAT or
 * GATv2 model, receives each forward pass's attention coefficients.
 */
export function nodeProbe(
  rt: Runtime,
  ds: NodeDataset,
  spec: NodeModelSpec,
  nb: Neighbourhood,
  attention?: (pass: AttentionPass) => void,
): { probe: GraphProbe; x: Float32Array } {
  const F = ds.numFeatures,
    x = new Float32Array(nb.nodes.length * F);
  nb.nodes.forEach((u, i) => {
    x.set(ds.features.subarray(u * F, (u + 1) * F), i * F);
  });
  const kind = nodeModelKind(spec.config);
  const probe = new GraphProbe(rt, probeGraph(nb.nodes.length, nb.norm, nb.src, nb.dst), (graph) => {
    if (kind !== 'gcn') return messageProbeModel(rt, F, ds.numClasses, spec, kind, graph, attention);
    const seq = buildNodeGcn(rt, F, ds.numClasses, spec.config, graph);
    loadWeights(seq.params(), spec.weights, 'node model');
    return { model: sequentialModel(seq, (i: Tensor[]) => i[0]!), blocks: [F], extras: [] };
  });
  return { probe, x };
}

/**
 * A SAGE, GIN, GAT or GATv2 node model over the probe's batches. The probe hands Â with each
 * edge's mask multiplied in; these layers take an edge whole or not at all, so the message
 * graph keeps the edges whose mask is 1 and drops those at 0 (fidelity's hard masks), and a
 * mask in between is refused (GNNExplainer's soft masks and integrated gradients' edge paths
 * need a layer that weights its edges: the GCN's).
 */
function messageProbeModel(
  rt: Runtime,
  F: number,
  classes: number,
  spec: NodeModelSpec,
  kind: Exclude<NodeModelKind, 'gcn'>,
  graph: () => Propagation,
  attention?: (pass: AttentionPass) => void,
): ProbeModel {
  let held: { adj: Propagation['adj']; mg: MessageGraph } | null = null;
  const message = (): MessageGraph => {
    const { adj } = graph();
    if (held?.adj === adj) return held.mg;
    held?.mg.free();
    held = null;
    const rp = adj.rowPtr.data(),
      col = adj.colIdx.data(),
      val = adj.vals.data();
    const src: number[] = [],
      dst: number[] = [];
    for (let r = 0; r < adj.rows; r++)
      for (let k = rp[r]!; k < rp[r + 1]!; k++) {
        const w = val[k]!;
        if (w === 0) continue;
        if (w !== 1)
          throw new GraftError(
            `a ${kind} model takes an edge whole or not at all: soft edge masks (GNNExplainer's, integrated gradients' edge paths) need a GCN`,
          );
        src.push(col[k]!);
        dst.push(r);
      }
    const selfLoops = kind === 'gat' || kind === 'gatv2' ? 'replace' : 'keep';
    held = { adj, mg: MessageGraph.fromEdges(rt.heap, adj.rows, src, dst, { selfLoops }) };
    return held.mg;
  };
  const seq = nodeMessageModel(rt.heap, F, classes, spec.config, message);
  loadWeights(seq.params(), spec.weights, 'node model');
  const gats = attentionLayers(seq.layers);
  const base = sequentialModel(seq, (i: Tensor[]) => i[0]!);
  const model: Model<Tensor[]> = {
    ...base,
    forward: async (ctx, input) => {
      const y = await base.forward(ctx, input);
      if (attention && gats.length) attention(attentionOf(message(), gats));
      return y;
    },
    dispose: () => {
      base.dispose();
      held?.mg.free();
      held = null;
    },
  };
  return { model, blocks: [F], extras: [] };
}

/**
 * How explainNode scores features and edges: a gradient attribution, GNNExplainer, or (GAT and
 * GATv2 models) the attention coefficients on the edges.
 */
export type NodeMethod = GradientMethod | 'gnnexplainer' | 'attention';

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
  /**
   * 'attention': per layer, the head-mean α of every directed edge (local src → dst, self
   * loops included) into a node the explained node reads that layer's output of (within
   * layers − 1 − layer hops); each such destination's in-edges sum to 1.
   */
  attention?: { layer: number; src: number; dst: number; alpha: number }[];
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
  const kind = nodeModelKind(spec.config);
  if (method === 'gnnexplainer' && kind !== 'gcn')
    throw new GraftError(
      `explainNode: GNNExplainer learns soft edge masks, which a ${kind} model's layers do not weight by (the GCN's do); use 'ig', 'saliency' or 'gxi'${kind === 'gat' || kind === 'gatv2' ? " or 'attention'" : ''}`,
    );
  if (method === 'attention' && kind !== 'gat' && kind !== 'gatv2')
    throw new GraftError(
      `explainNode: 'attention' reads a GAT or GATv2 model's attention coefficients; this model is ${kind}`,
    );
  const nb = neighbourhood(full, v, spec.config.layers);
  let attention: AttentionPass | null = null;
  const { probe, x } = nodeProbe(rt, ds, spec, nb, (pass) => {
    attention = pass;
  });
  const C = ds.numClasses,
    F = ds.numFeatures;
  try {
    const logits = (await probe.run([{ x }], columnObjective({ kind: 'node', node: 0 }, 0, C))).rows[0]!;
    // The attention of that first pass: the neighbourhood as it is, one copy (local indices).
    const seen = attention as AttentionPass | null;
    let target = o.target ?? 0;
    if (o.target === undefined) for (let c = 1; c < C; c++) if (logits[c]! > logits[target]!) target = c;
    const output = columnObjective({ kind: 'node', node: 0 }, target, C);
    const space = identitySpace(x, F);
    let features: Float32Array, edges: Float32Array, passes: number;
    let completeness: NodeExplanation['completeness'];
    let steps: number | undefined;
    let weights: NodeExplanation['attention'];
    if (method === 'attention') {
      if (!seen) throw new Error('explainNode: the GAT model ran without reporting its attention');
      const r = attentionScores(seen, nb, spec.config.layers);
      features = new Float32Array(x.length);
      edges = r.edges;
      weights = r.weights;
      passes = 0;
    } else if (method === 'gnnexplainer') {
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
      // A GCN's edges get gradients through Â's masked values; the other layers take an edge
      // whole or not at all, so their edge scores are occlusion: the logit's drop without it.
      const a = await attribute(probe, space, output, method, {
        steps: o.steps ?? 50,
        baseline: o.baseline ?? 'zero',
        edges: kind === 'gcn',
        ...(o.tolerance !== undefined ? { tolerance: o.tolerance } : {}),
      });
      features = a.features;
      if (kind === 'gcn') edges = a.edges!;
      else edges = await occlusion(probe, x, output, logits[target]!);
      passes = a.passes + (kind === 'gcn' ? 0 : nb.src.length);
      if (a.completeness) completeness = a.completeness;
      if (a.steps) steps = a.steps;
    }
    // Attention scores edges only: its fidelity removes or keeps edges, the features left whole.
    const fid =
      method === 'attention'
        ? await edgeFidelity(probe, x, edges, output, C, o.keep ?? 0.2)
        : await fidelity(probe, space, output, { features, edges }, 'argmax', target, C, o.keep ?? 0.2);
    return {
      explanation: {
        node: v,
        target,
        value: logits[target]!,
        features,
        edges,
        ...(completeness ? { completeness } : {}),
        ...(steps ? { steps } : {}),
        ...(weights ? { attention: weights } : {}),
        fidelity: fid,
        passes: passes + 2,
      },
      nb,
    };
  } finally {
    probe.dispose();
  }
}

/**
 * The attention method's scores: every layer's α on the edges the explained node reads (into
 * nodes within layers − 1 − layer hops), and per undirected neighbourhood edge the sum of
 * those α over both directions and all layers (the attention it carries towards the node).
 */
function attentionScores(
  pass: AttentionPass,
  nb: Neighbourhood,
  layers: number,
): { edges: Float32Array; weights: NonNullable<NodeExplanation['attention']> } {
  const n = nb.nodes.length;
  const edgeAt = new Map<number, number>();
  for (let e = 0; e < nb.src.length; e++) {
    edgeAt.set(nb.src[e]! * n + nb.dst[e]!, e);
    edgeAt.set(nb.dst[e]! * n + nb.src[e]!, e);
  }
  const edges = new Float32Array(nb.src.length);
  const weights: NonNullable<NodeExplanation['attention']> = [];
  pass.layers.forEach((l, layer) => {
    for (let k = 0; k < l.alpha.length; k++) {
      const a = l.src[k]!,
        b = l.dst[k]!;
      if (nb.hops[b]! > layers - 1 - layer) continue;
      weights.push({ layer, src: a, dst: b, alpha: l.alpha[k]! });
      const e = edgeAt.get(a * n + b);
      if (e !== undefined) edges[e]! += l.alpha[k]!;
    }
  });
  return { edges, weights };
}

/** Per neighbourhood edge, φ of the whole neighbourhood less φ without that edge (one copy per edge). */
async function occlusion(probe: GraphProbe, x: Float32Array, output: Objective, value: number): Promise<Float32Array> {
  const E = probe.graph.src.length;
  const copies = Array.from({ length: E }, (_, e) => {
    const edgeMask = new Float32Array(E).fill(1);
    edgeMask[e] = 0;
    return { x, edgeMask };
  });
  const r = await probe.run(copies, output);
  return Float32Array.from(r.values, (without) => value - without);
}

/**
 * Fidelity (fidelity.ts's definitions, argmax decision) of an edge explanation: the top `keep`
 * fraction of edges by |score| removed (fid+) or kept alone (fid−), the features whole.
 */
async function edgeFidelity(
  probe: GraphProbe,
  x: Float32Array,
  scores: Float32Array,
  output: Objective,
  classes: number,
  keep: number,
): Promise<Fidelity> {
  const E = scores.length;
  const only = new Float32Array(E);
  if (E > 0) {
    const abs = Float64Array.from(scores, Math.abs).sort();
    const cut = abs[E - Math.max(1, Math.round(keep * E))]!;
    for (let e = 0; e < E; e++) only[e] = Math.abs(scores[e]!) >= cut ? 1 : 0;
  }
  const r = await probe.run([{ x }, { x, edgeMask: only.map((m) => 1 - m) }, { x, edgeMask: only }], output);
  const argmax = (row: Float32Array): number => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c]! > row[best]!) best = c;
    return best;
  };
  const [y, yRest, yOnly] = r.rows.map(argmax) as [number, number, number];
  return { plus: y === yRest ? 0 : 1, minus: y === yOnly ? 0 : 1, keep };
}

/**
 * The graph a node model propagates on, as CSR arrays (rows: destinations): Â (gcnNorm) for a
 * GCN; for the other models the pattern of the message graph training built, by the same rule
 * (nodeMessageEdges: every edge both ways, duplicates merged; the data's self loops kept for
 * SAGE and GIN, while GAT and GATv2 add one per node themselves), values 1.
 */
export function fullGraph(ds: NodeDataset, kind: NodeModelKind): CsrArrays {
  if (kind === 'gcn') return fullNorm(ds);
  const n = ds.numNodes,
    e = nodeMessageEdges(n, ds.src, ds.dst, kind),
    rows: number[][] = Array.from({ length: n }, () => []);
  for (let k = 0; k < e.src.length; k++) rows[e.dst[k]!]!.push(e.src[k]!);
  const rowPtr = new Int32Array(n + 1),
    cols: number[] = [];
  rows.forEach((r, i) => {
    cols.push(...r.sort((p, q) => p - q));
    rowPtr[i + 1] = cols.length;
  });
  return { rowPtr, colIdx: Int32Array.from(cols), vals: new Float32Array(cols.length).fill(1) };
}

/** Â of a whole node data set (what the trained model propagated with). */
export function fullNorm(ds: NodeDataset): CsrArrays {
  return gcnNormArrays(ds.numNodes, ds.src, ds.dst);
}
