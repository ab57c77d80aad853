import { GraftError } from '../core/errors.js';
import { collate, sampleNorm, type GraphBatch, type GraphSample } from '../graph/batch.js';
import type { MessageGraph } from '../graph/message-graph.js';
import { Tensor } from '../memory/tensor.js';
import { loadWeights } from '../nn/load-weights.js';
import type { Model } from '../nn/model.js';
import { EDGE_FEATURE_MODELS, graphModelKind, type GraphModelKind } from '../nn/task-models.js';
import type { Runtime } from '../runtime/runtime.js';
import { graphBatchOptions, graphModel, type GraphTrainConfig } from '../train/graph-model.js';
import { attentionLayers, attentionOf, type AttentionPass } from './attention.js';
import { attribute, identitySpace, perNode, type Baseline, type GradientMethod } from './attribution.js';
import { fidelity, type Fidelity } from './fidelity.js';
import { gnnExplainer } from './gnnexplainer.js';
import {
  columnObjective,
  GraphProbe,
  probeGraph,
  type Objective,
  type ProbeCopies,
  type ProbeModel,
} from './graph-probe.js';

// Explanations of a graph-level model (molecules): which atoms and bonds drive one label's
// output for one molecule. An atom's score is the sum of its features' attributions. The
// model is the trainer's own (graphModel), whatever its layer. A GCN's bonds are Â's entries,
// attributed through their weights; GINE and D-MPNN read bond features, and a bond's score is
// the attribution of its features (summed over its columns, and for D-MPNN over both of its
// directed bonds), taken as the derivative along a multiplier on the bond's feature row;
// SAGE, GIN, GAT and GATv2 take a bond whole or not at all, and have atom scores only (GAT and
// GATv2 also their attention).

/** A trained graph-level model as the probe needs it: its config (the hybrid's too) and weights. */
export interface GraphModelSpec {
  config: GraphTrainConfig;
  features: number;
  targets: number;
  weights: Map<string, Float32Array>;
}

/** Whether a model's bonds get scores: a GCN's (through Â's weights) and those of the models that read bond features. */
export function scoresBonds(config: GraphTrainConfig): boolean {
  const kind = graphModelKind(config);
  return kind === 'gcn' || EDGE_FEATURE_MODELS.includes(kind);
}

/**
 * The copies of molecule `g` one probe pass runs, as samples to collate: for a model that reads
 * bond features, each bond's feature row times its mask; for one that takes a bond whole, the
 * bonds masked 0 dropped (a mask between 0 and 1 has no meaning there and is refused).
 */
function maskedCopies(
  g: GraphSample,
  kind: GraphModelKind,
  masks: readonly (Float32Array | undefined)[],
): GraphSample[] {
  const features = EDGE_FEATURE_MODELS.includes(kind);
  return masks.map((m) => {
    if (!m) return g;
    if (features) {
      const attr = g.edgeAttr!,
        width = attr.length / g.src.length,
        scaled = new Float32Array(attr.length);
      for (let k = 0; k < attr.length; k++) scaled[k] = attr[k]! * m[Math.floor(k / width)]!;
      return { ...g, edgeAttr: scaled };
    }
    const kept: number[] = [];
    m.forEach((w, e) => {
      if (w === 1) kept.push(e);
      else if (w !== 0)
        throw new GraftError(
          `a ${kind} model takes a bond whole or not at all: soft bond masks (GNNExplainer's, integrated gradients' bond paths) need a GCN or a model reading bond features`,
        );
    });
    const pick = (a: Int32Array): Int32Array => Int32Array.from(kept, (e) => a[e]!);
    return {
      ...g,
      src: pick(g.src),
      dst: pick(g.dst),
      ...(g.w ? { w: Float32Array.from(kept, (e) => g.w![e]!) } : {}),
    };
  });
}

/**
 * The trainer's own model (graphModel) over a probe's batch: inputs [atom features,
 * descriptors?]. A GCN reads the probe's Â; the other models read the message graph that
 * collate builds for training, of the pass's copies with their bond masks applied.
 */
function probeModel(
  rt: Runtime,
  spec: GraphModelSpec,
  g: GraphSample,
  graph: () => { adj: GraphBatch['adj']; edgeGrad?: Tensor },
  offsets: () => Tensor,
  copies: () => ProbeCopies,
  attention?: (pass: AttentionPass) => void,
): ProbeModel {
  const kind = graphModelKind(spec.config);
  let inputs: Tensor[] = [];
  // The message graph of the current pass, built once per pass (the probe's Â is new each pass).
  let held: { adj: GraphBatch['adj']; batch: GraphBatch; grad: Tensor | null } | null = null;
  const drop = (): void => {
    held?.grad?.free();
    held?.batch.free();
    held = null;
  };
  const messages = (): MessageGraph => {
    const { adj } = graph();
    if (held?.adj === adj) return held.batch.messages!;
    drop();
    const c = copies();
    const batch = collate(
      rt.heap,
      maskedCopies(g, kind, c.masks),
      spec.features,
      spec.targets,
      graphBatchOptions(spec.config),
    );
    const m = batch.messages!;
    let grad: Tensor | null = null;
    if (c.edgeGrads && m.edgeAttr) {
      grad = Tensor.zeros(rt.heap, 'float32', m.edgeAttr.shape, 'bond feature gradient');
      m.edgeAttrGrad = grad;
    }
    held = { adj, batch, grad };
    return m;
  };
  const batch = (): GraphBatch => {
    const p = graph();
    return {
      adj: p.adj,
      ...(p.edgeGrad ? { edgeGrad: p.edgeGrad } : {}),
      ...(kind !== 'gcn' ? { messages: messages() } : {}),
      offsets: offsets(),
      x: inputs[0]!,
      descriptors: inputs[1] ?? null,
    } as unknown as GraphBatch;
  };
  const inner = graphModel(rt, spec.features, spec.targets, spec.config, batch);
  loadWeights(inner.params(), spec.weights, 'graph model');
  const gats = attentionLayers(inner.layers);
  const model: Model<Tensor[]> = {
    params: () => inner.params(),
    forward: async (ctx, i) => {
      inputs = i;
      const y = await inner.forward(ctx, batch());
      if (attention && gats.length > 0) attention(attentionOf(messages(), gats));
      return y;
    },
    backward: (ctx, gOut, need) => inner.backward(ctx, gOut, need),
    release: () => inner.release(),
    dispose: () => {
      inner.dispose();
      drop();
    },
  };
  if (!EDGE_FEATURE_MODELS.includes(kind)) return { model, blocks: [spec.features], extras: [] };
  return {
    model,
    blocks: [spec.features],
    extras: [],
    // ∂φ/∂(bond b's multiplier) = Σ_c e_bc · ∂φ/∂e'_bc over both directed bonds, e' = mask·e:
    // collate lays copy s's bond b out as directed bonds 2(s·E + b) and 2(s·E + b) + 1.
    edgeGrads: () => {
      const h = held;
      if (!h?.grad) throw new Error('moleculeProbe: no bond feature gradient held after backward');
      const m = h.batch.messages!,
        E = g.src.length,
        attr = g.edgeAttr!,
        width = attr.length / Math.max(1, E);
      const S = h.batch.graphs,
        ga = h.grad.data() as Float32Array,
        out = Array.from({ length: S }, () => new Float32Array(E));
      for (let k = 0; k < m.edgeIds.length; k++) {
        const u = m.edgeIds[k]! >> 1,
          s = Math.floor(u / E),
          b = u - s * E;
        let dot = 0;
        for (let c = 0; c < width; c++) dot += ga[k * width + c]! * attr[b * width + c]!;
        out[s]![b]! += dot;
      }
      return out;
    },
  };
}

/**
 * A probe of one molecule under a trained graph-level model, for attribute, gnnExplainer and
 * fidelity. `attention`, for a GAT or GATv2 model, receives each forward pass's coefficients.
 */
export function moleculeProbe(
  rt: Runtime,
  spec: GraphModelSpec,
  g: GraphSample,
  attention?: (pass: AttentionPass) => void,
): GraphProbe {
  const kind = graphModelKind(spec.config);
  if (EDGE_FEATURE_MODELS.includes(kind) && g.edgeAttr?.length !== g.src.length * (spec.config.edgeFeatures ?? 0))
    throw new GraftError(
      `a ${kind} model reads ${spec.config.edgeFeatures} bond feature columns; this molecule has ${g.edgeAttr ? g.edgeAttr.length / Math.max(1, g.src.length) : 'none'}`,
    );
  return new GraphProbe(rt, probeGraph(g.nodes, sampleNorm(g), g.src, g.dst), (graph, offsets, copies) => {
    const pm = probeModel(rt, spec, g, graph, offsets, copies, attention);
    return {
      ...pm,
      extras: spec.config.hybrid && g.descriptors ? [{ values: g.descriptors, width: g.descriptors.length }] : [],
    };
  });
}

/** How explainMolecule scores atoms and bonds: a gradient attribution or GNNExplainer. */
export type MoleculeMethod = GradientMethod | 'gnnexplainer';

/**
 * What explainMolecule returns for one molecule and label: a score per atom and per bond, the label's output, and the explanation's fidelity.
 */
export interface MoleculeExplanation {
  method: MoleculeMethod;
  label: number;
  /** The label's output (logit or value). */
  value: number;
  /** Per atom (RDKit's order). */
  atoms: Float32Array;
  /**
   * Per bond (the sample's edge order): a GCN's through the bond's weight in Â, a GINE's or
   * D-MPNN's through its features (summed over columns and directions); null for models that
   * take a bond whole (SAGE, GIN, GAT, GATv2). Integrated gradients: atoms and bonds together
   * add up to φ(input) − φ(baseline).
   */
  bonds: Float32Array | null;
  completeness?: { baselineValue: number; sum: number; expected: number; error: number };
  /** Integrated gradients: the steps used (refined until complete within 1%). */
  steps?: number;
  fidelity: Fidelity;
  passes: number;
}

const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** Explains label `label` of one molecule with one method. */
export async function explainMolecule(
  probe: GraphProbe,
  spec: GraphModelSpec,
  g: GraphSample,
  label: number,
  method: MoleculeMethod,
  o: { steps?: number; tolerance?: number; baseline?: Baseline; keep?: number; seed?: number } = {},
): Promise<MoleculeExplanation> {
  const T = spec.targets,
    F = spec.features;
  const space = identitySpace(g.x, F);
  const output = columnObjective({ kind: 'graph' }, label, T);
  const multilabel = spec.config.task === 'multilabel';
  let atoms: Float32Array, bonds: Float32Array | null, value: number, passes: number;
  let completeness: MoleculeExplanation['completeness'];
  let steps: number | undefined;
  let featureScores: Float32Array;
  const kind = graphModelKind(spec.config);
  if (method === 'gnnexplainer' && kind !== 'gcn')
    throw new GraftError(
      `explainMolecule: GNNExplainer learns soft bond masks, which a ${kind} model does not weight its bonds by (a GCN does); use 'ig', 'saliency' or 'gxi'${kind === 'gat' || kind === 'gatv2' ? ', or moleculeAttention' : ''}`,
    );
  if (method === 'gnnexplainer') {
    const y0 = (await probe.run([{ x: g.x }], output)).values[0]!;
    // Keep the model's own decision: BCE towards its predicted label, or the squared change of a regression output.
    const target = y0 > 0 ? 1 : 0;
    const loss: Objective = {
      rows: { kind: 'graph' },
      eval(rows) {
        const z = rows[label]!,
          grad = new Float32Array(rows.length);
        if (multilabel) {
          const p = sigmoid(z);
          grad[label] = p - target;
          return { value: -(target * Math.log(p + 1e-15) + (1 - target) * Math.log(1 - p + 1e-15)), grad };
        }
        grad[label] = 2 * (z - y0);
        return { value: (z - y0) ** 2, grad };
      },
    };
    const r = await gnnExplainer(probe, space, loss, {
      featureMask: 'object',
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    });
    atoms = r.featureMask;
    bonds = r.edges;
    value = y0;
    passes = r.passes + 1;
    featureScores = new Float32Array(g.x.length);
    for (let i = 0; i < g.nodes; i++) for (let j = 0; j < F; j++) featureScores[i * F + j] = r.featureMask[i]!;
  } else {
    const a = await attribute(probe, space, output, method, {
      steps: o.steps ?? 50,
      baseline: o.baseline ?? 'zero',
      // GCN: each bond's weight in Â, from 0 to 1; GINE, D-MPNN: each bond's features, from 0 to themselves.
      edges: scoresBonds(spec.config),
      ...(o.tolerance !== undefined ? { tolerance: o.tolerance } : {}),
    });
    atoms = perNode(a.features, F);
    bonds = a.edges;
    value = a.value;
    passes = a.passes;
    featureScores = a.features;
    if (a.completeness) completeness = a.completeness;
    if (a.steps) steps = a.steps;
  }
  const fid = await fidelity(
    probe,
    space,
    output,
    { features: featureScores, edges: bonds },
    multilabel ? 'sign' : 'value',
    label,
    T,
    o.keep ?? 0.2,
  );
  return {
    method,
    label,
    value,
    atoms,
    bonds,
    ...(completeness ? { completeness } : {}),
    ...(steps ? { steps } : {}),
    fidelity: fid,
    passes: passes + 1,
  };
}

/**
 * A GAT or GATv2 graph model's attention on one molecule: per attention layer, the head-mean α
 * of every directed edge of its message graph (atom indices; self loops included, bond −1),
 * each atom's in-edges summing to 1; and per bond the α it carries, summed over both
 * directions and every layer (what the drawing colours).
 */
export interface MoleculeAttention {
  layers: { src: Int32Array; dst: Int32Array; bond: Int32Array; alpha: Float32Array }[];
  /** Per bond (the sample's edge order). */
  bonds: Float32Array;
}

/**
 * The attention coefficients a GAT or GATv2 graph model gives molecule `g` (one forward pass).
 * @example const att = await moleculeAttention(rt, spec, toSample(graph, labels, false)); // att.layers[0].alpha
 */
export async function moleculeAttention(rt: Runtime, spec: GraphModelSpec, g: GraphSample): Promise<MoleculeAttention> {
  const kind = graphModelKind(spec.config);
  if (kind !== 'gat' && kind !== 'gatv2')
    throw new GraftError(`moleculeAttention: attention is a GAT or GATv2 model's; this model is ${kind}`);
  let seen: AttentionPass | null = null;
  const probe = moleculeProbe(rt, spec, g, (pass) => {
    seen = pass;
  });
  try {
    await probe.run([{ x: g.x }], columnObjective({ kind: 'graph' }, 0, spec.targets));
  } finally {
    probe.dispose();
  }
  const pass = seen as AttentionPass | null;
  if (!pass) throw new Error('moleculeAttention: the model ran without reporting its attention');
  const n = g.nodes,
    bondAt = new Map<number, number>();
  for (let b = 0; b < g.src.length; b++) {
    bondAt.set(g.src[b]! * n + g.dst[b]!, b);
    bondAt.set(g.dst[b]! * n + g.src[b]!, b);
  }
  const bonds = new Float32Array(g.src.length);
  const layers = pass.layers.map((l) => {
    const bond = Int32Array.from(l.src, (a, k) => (a === l.dst[k] ? -1 : (bondAt.get(a * n + l.dst[k]!) ?? -1)));
    bond.forEach((b, k) => {
      if (b >= 0) bonds[b]! += l.alpha[k]!;
    });
    return { ...l, bond };
  });
  return { layers, bonds };
}
