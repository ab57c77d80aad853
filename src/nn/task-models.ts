import { Rng } from '../core/random.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import type { PoolMode } from '../ops/pooling.js';
import { gcnStack, type GcnStackShape } from './gcn-stack.js';
import { hybridParts, type JoinParts } from './join-parts.js';
import type { Layer } from './layer.js';
import { Linear, type Propagation } from './layers.js';
import { Sequential } from './sequential.js';

// The model each task builds from its config, as layers: what the trainers train and what
// the inference entry (src/infer) rebuilds to load a checkpoint into. Weights are drawn from
// the config's seed in layer order, so the same config names and shapes the same parameters.

/** What a node model's layers depend on (NodeTrainConfig's part). */
export interface NodeModelConfig {
  layers: number;
  hidden: number;
  dropout: number;
  weightDecay: number;
  weightDecayScope: 'first' | 'all';
  seed: number;
}

/** Kipf & Welling's node classifier: [dropout → GCN → ReLU] × (layers − 1), then dropout → GCN to the classes. */
export function nodeGcn(
  heap: Heap,
  inFeatures: number,
  classes: number,
  c: NodeModelConfig,
  graph: () => Propagation,
): Sequential {
  return new Sequential(
    gcnStack(heap, new Rng(c.seed), graph, {
      inFeatures,
      hidden: c.hidden,
      layers: c.layers,
      dropout: c.dropout,
      inputDropout: true,
      constantInput: true,
      out: classes,
      weightDecay: (l) => (c.weightDecayScope === 'all' || l === 0 ? c.weightDecay : 0),
    }),
  );
}

/** What a graph-level model's layers depend on (GraphTrainConfig's part). */
export interface GraphModelConfig {
  layers: number;
  hidden: number;
  dropout: number;
  pool: PoolMode;
  weightDecay: number;
  seed: number;
  hybrid?: { descriptors: number; denseHidden: number };
}

/** The GCN stack of a graph-level model: pooled per graph, then the head unless `out` is null. */
export function graphGcnLayers(
  heap: Heap,
  features: number,
  out: number | null,
  c: GraphModelConfig,
  rng: Rng,
  graph: () => Propagation,
  offsets: () => Tensor,
): Layer[] {
  return gcnStack(heap, rng, graph, {
    inFeatures: features,
    hidden: c.hidden,
    layers: c.layers,
    dropout: c.dropout,
    inputDropout: false,
    out,
    weightDecay: () => c.weightDecay,
    pool: { mode: c.pool, offsets },
  });
}

/** The graph-level hybrid's parts: the pooled GCN branch beside the dense branch on each graph's descriptors. */
export function graphHybridParts(
  heap: Heap,
  features: number,
  targets: number,
  c: GraphModelConfig,
  graph: () => Propagation,
  offsets: () => Tensor,
): JoinParts {
  const h = c.hybrid!;
  const rng = new Rng(c.seed);
  return hybridParts(heap, rng, graphGcnLayers(heap, features, null, c, rng, graph, offsets), {
    graphWidth: c.hidden,
    dense: { inFeatures: h.descriptors, hidden: h.denseHidden },
    out: targets,
    weightDecay: c.weightDecay,
  });
}

/** What a genomic GCN's layers depend on (GcnRegressorConfig's part). */
export interface GenomicModelConfig {
  layers: number;
  hidden: number;
  dropout: number;
  weightDecay: number;
  seed: number;
  denseHidden: number;
}

/** The genomic GCN stack on `f` features, to `out` columns (null: a branch to join). */
export const genomicStackShape = (c: GenomicModelConfig, f: number, out: number | null): GcnStackShape => ({
  inFeatures: f,
  hidden: c.hidden,
  layers: c.layers,
  dropout: c.dropout,
  inputDropout: true,
  constantInput: true,
  out,
  weightDecay: () => c.weightDecay,
});

/** The genomic hybrid's parts: GCN layers on the graph beside a dense layer on the covariates. */
export function genomicHybridParts(
  heap: Heap,
  c: GenomicModelConfig,
  f: number,
  covariates: number,
  graph: () => Propagation,
): JoinParts {
  const rng = new Rng(c.seed);
  return hybridParts(heap, rng, gcnStack(heap, rng, graph, genomicStackShape(c, f, null)), {
    graphWidth: c.hidden,
    dense: { inFeatures: covariates, hidden: c.denseHidden },
    out: 1,
    weightDecay: c.weightDecay,
  });
}

/** The founding study's independent sections: one GCN stack per marker block, joined before a linear head. */
export function genomicBranchParts(
  heap: Heap,
  c: GenomicModelConfig,
  blocks: readonly number[],
  graph: () => Propagation,
): JoinParts {
  const rng = new Rng(c.seed);
  const branches = blocks.map(
    (w, b) => new Sequential(gcnStack(heap, rng, graph, { ...genomicStackShape(c, w, null), name: `b${b}.gcn` })),
  );
  const head = new Linear(heap, 'head', c.hidden * blocks.length, 1, rng, { weightDecay: c.weightDecay });
  return { branches, head, widths: blocks.map(() => c.hidden) };
}
