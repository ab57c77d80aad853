import { sampleNorm, type GraphBatch, type GraphSample } from '../graph/batch.js';
import type { Tensor } from '../memory/tensor.js';
import type { Model } from '../nn/model.js';
import type { Runtime } from '../runtime/runtime.js';
import { graphModel, type GraphTrainConfig } from '../train/graph-model.js';
import { attribute, identitySpace, perNode, type Baseline, type GradientMethod } from './attribution.js';
import { fidelity, type Fidelity } from './fidelity.js';
import { gnnExplainer } from './gnnexplainer.js';
import { columnObjective, GraphProbe, probeGraph, type Objective } from './graph-probe.js';
import { loadWeights } from '../nn/load-weights.js';

// Explanations of a graph-level model (molecules): which atoms and bonds drive one label's
// output for one molecule. An atom's score is the sum of its features' attributions.

/** A trained graph-level model as the probe needs it: its config (the hybrid's too) and weights. */
export interface GraphModelSpec {
  config: GraphTrainConfig;
  features: number;
  targets: number;
  weights: Map<string, Float32Array>;
}

/** The trainer's own model (graphModel) over a probe's batch: inputs [atom features, descriptors?]. */
function probeModel(
  rt: Runtime,
  spec: GraphModelSpec,
  graph: () => { adj: GraphBatch['adj']; edgeGrad?: Tensor },
  offsets: () => Tensor,
): Model<Tensor[]> {
  let inputs: Tensor[] = [];
  const batch = (): GraphBatch => {
    const p = graph();
    return {
      adj: p.adj,
      ...(p.edgeGrad ? { edgeGrad: p.edgeGrad } : {}),
      offsets: offsets(),
      x: inputs[0]!,
      descriptors: inputs[1] ?? null,
    } as unknown as GraphBatch;
  };
  const inner = graphModel(rt, spec.features, spec.targets, spec.config, batch);
  loadWeights(inner.params(), spec.weights, 'graph model');
  return {
    params: () => inner.params(),
    forward: (ctx, i) => {
      inputs = i;
      return inner.forward(ctx, batch());
    },
    backward: (ctx, g, need) => inner.backward(ctx, g, need),
    release: () => inner.release(),
    dispose: () => inner.dispose(),
  };
}

/** A probe of one molecule under a trained graph-level model, for attribute, gnnExplainer and fidelity. */
export function moleculeProbe(rt: Runtime, spec: GraphModelSpec, g: GraphSample): GraphProbe {
  return new GraphProbe(rt, probeGraph(g.nodes, sampleNorm(g), g.src, g.dst), (graph, offsets) => ({
    model: probeModel(rt, spec, graph, offsets),
    blocks: [spec.features],
    extras: spec.config.hybrid && g.descriptors ? [{ values: g.descriptors, width: g.descriptors.length }] : [],
  }));
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
  /** Per bond (the sample's edge order). */
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
      edges: true,
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
