import { argRangeError } from '../core/errors.js';
import { layerPrefix } from '../core/layer-names.js';
import { Rng } from '../core/random.js';
import type { MessageSpec } from '../graph/batch.js';
import type { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import type { PoolMode } from '../ops/pooling.js';
import { BondMessagePassing } from './dmpnn.js';
import { dmpnnStack } from './dmpnn-stack.js';
import { GATConv, GATv2Conv } from './gat-conv.js';
import { gcnStack, type GcnStackShape } from './gcn-stack.js';
import { GINConv, GINEConv, ginMlp } from './gin-conv.js';
import { hybridParts, type JoinParts } from './join-parts.js';
import type { Layer } from './layer.js';
import { Dropout, GraphPool, Linear, ReLU, type Propagation } from './layers.js';
import { ELU } from './node-models.js';
import { SAGEConv } from './sage-conv.js';
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

/** The models `graft train --task graph` builds. */
export const GRAPH_MODEL_CHOICES = ['gcn', 'sage', 'gin', 'gine', 'gat', 'gatv2', 'dmpnn'] as const;
/** One of GRAPH_MODEL_CHOICES ('gcn', the default). */
export type GraphModelKind = (typeof GRAPH_MODEL_CHOICES)[number];
/** The graph models whose layers read edge (bond) features: GINE's messages and D-MPNN's bond states. */
export const EDGE_FEATURE_MODELS: readonly GraphModelKind[] = ['gine', 'dmpnn'];
/** Attention heads of a graph-level GAT's layers when the config gives none (they share `hidden`). */
export const GRAPH_GAT_DEFAULT_HEADS = 4;

/** What a graph-level model's layers depend on (GraphTrainConfig's part). */
export interface GraphModelConfig {
  /** The message-passing layer (absent: 'gcn', as in configs from before the choice). */
  model?: GraphModelKind;
  /**
   * Layers with weights. GCN, SAGE, GIN, GINE, GAT, GATv2: layers − 1 message-passing layers
   * and the Linear head. D-MPNN: the message-passing depth (Chemprop's depth), then Chemprop's
   * two-layer feed-forward head.
   */
  layers: number;
  hidden: number;
  dropout: number;
  pool: PoolMode;
  weightDecay: number;
  seed: number;
  /** GAT, GATv2: heads per layer, each `hidden / heads` channels wide, concatenated (default GRAPH_GAT_DEFAULT_HEADS). */
  heads?: number;
  /** GINE, D-MPNN: edge (bond) feature columns each sample carries (GraphSample.edgeAttr). */
  edgeFeatures?: number;
  hybrid?: { descriptors: number; denseHidden: number };
}

/** The config's model, 'gcn' when it names none. */
export const graphModelKind = (c: { model?: string }): GraphModelKind => (c.model ?? 'gcn') as GraphModelKind;

/**
 * Refuses a graph-level model config its layers cannot be built from: an unknown model, GAT
 * heads that do not divide `hidden`, a model reading edge features without their width, or a
 * D-MPNN pooled by max (its readout is a mean or a sum). Errors name the config key.
 */
export function checkGraphModel(fn: string, c: GraphModelConfig): void {
  if (c.model !== undefined && !(GRAPH_MODEL_CHOICES as readonly unknown[]).includes(c.model))
    throw argRangeError(fn, 'config.model', GRAPH_MODEL_CHOICES.map((m) => `'${m}'`).join(', '), c.model);
  const kind = graphModelKind(c);
  if (kind === 'gat' || kind === 'gatv2') {
    const h = c.heads ?? GRAPH_GAT_DEFAULT_HEADS;
    if (!Number.isInteger(h) || h < 1 || c.hidden % h !== 0)
      throw argRangeError(fn, 'config.heads', `a positive divisor of config.hidden (${c.hidden})`, h);
  }
  if (EDGE_FEATURE_MODELS.includes(kind) && !(Number.isInteger(c.edgeFeatures) && c.edgeFeatures! > 0))
    throw argRangeError(fn, 'config.edgeFeatures', `a positive integer (${kind} reads edge features)`, c.edgeFeatures);
  if (kind === 'dmpnn' && c.pool !== 'mean' && c.pool !== 'sum')
    throw argRangeError(fn, 'config.pool', "'mean' or 'sum' (a D-MPNN's readout)", c.pool);
}

/**
 * The message graph a batch needs for the config's model (collate's `messages`), or null for
 * a GCN (which reads Â): every edge both ways; GAT and GATv2 with one self loop per node
 * (PyG's add_self_loops); GINE and D-MPNN with the edge features.
 */
export function graphMessageSpec(c: GraphModelConfig): MessageSpec | null {
  const kind = graphModelKind(c);
  if (kind === 'gcn') return null;
  if (kind === 'gat' || kind === 'gatv2') return { selfLoops: 'replace', edgeFeatures: 0 };
  return { selfLoops: 'keep', edgeFeatures: EDGE_FEATURE_MODELS.includes(kind) ? c.edgeFeatures! : 0 };
}

/**
 * The message-passing stack of a graph-level model on the config's layer (not 'gcn':
 * graphGcnLayers builds that), pooled per graph, then the head unless `out` is null (a branch
 * to join, `hidden` wide). SAGE, GIN, GINE, GAT, GATv2: as the GCN stack, layer → nonlinearity
 * per hidden layer (dropout between), pooling, dropout → Linear `head`. SAGE: mean aggregation
 * with root weight; GIN, GINE: ε = 0 and the MLP Linear → ReLU → Linear of width `hidden`,
 * GINE's edge features mapped to each layer's input width; GAT, GATv2: `heads` heads of
 * hidden/heads channels concatenated, ELU between layers, the dropout rate on the attention
 * coefficients too. D-MPNN: Chemprop's (dmpnnStack), depth `layers`, a two-layer head.
 * Layers are named sage0, gin0, gine0, gat0, gatv2_0, … (D-MPNN: message_passing, ffn0, ffn1)
 * and draw their initial weights from `rng` in order.
 */
export function graphMessageLayers(
  heap: Heap,
  features: number,
  out: number | null,
  c: GraphModelConfig,
  rng: Rng,
  graph: () => MessageGraph,
  offsets: () => Tensor,
): Layer[] {
  const kind = graphModelKind(c);
  checkGraphModel('graphMessageLayers', c);
  if (kind === 'gcn') throw new Error("graphMessageLayers: a GCN is graphGcnLayers'");
  const wd = c.weightDecay,
    pool = c.pool as 'mean' | 'sum';
  if (kind === 'dmpnn') {
    if (out !== null)
      return dmpnnStack(heap, rng, graph, offsets, {
        atomFeatures: features,
        bondFeatures: c.edgeFeatures!,
        hidden: c.hidden,
        depth: c.layers,
        pool,
        ffnLayers: 2,
        dropout: c.dropout,
        out,
        weightDecay: wd,
      });
    return [
      new BondMessagePassing(heap, 'message_passing', features, c.edgeFeatures!, c.hidden, rng, graph, {
        depth: c.layers,
        weightDecay: wd,
      }),
      new GraphPool(pool, offsets),
    ];
  }
  const heads = c.heads ?? GRAPH_GAT_DEFAULT_HEADS;
  const prefix = layerPrefix(kind);
  const layers: Layer[] = [];
  let width = features;
  for (let l = 0; l < Math.max(1, c.layers - 1); l++) {
    const name = `${prefix}${l}`;
    if (c.dropout > 0 && l > 0) layers.push(new Dropout(c.dropout, l));
    if (kind === 'sage') layers.push(new SAGEConv(heap, name, width, c.hidden, rng, graph, { weightDecay: wd }));
    else if (kind === 'gin')
      layers.push(
        new GINConv(heap, name, ginMlp(heap, name, width, c.hidden, c.hidden, rng, { weightDecay: wd }), graph, rng),
      );
    else if (kind === 'gine')
      layers.push(
        new GINEConv(heap, name, ginMlp(heap, name, width, c.hidden, c.hidden, rng, { weightDecay: wd }), graph, rng, {
          edgeDim: c.edgeFeatures!,
          weightDecay: wd,
        }),
      );
    else {
      // Attention dropout keys in slots 32 + l, apart from the layer dropouts' l.
      const options = { heads, concat: true, dropout: c.dropout, dropoutIndex: 32 + l, weightDecay: wd };
      layers.push(
        kind === 'gat'
          ? new GATConv(heap, name, width, c.hidden / heads, rng, graph, options)
          : new GATv2Conv(heap, name, width, c.hidden / heads, rng, graph, options),
      );
    }
    layers.push(kind === 'gat' || kind === 'gatv2' ? new ELU() : new ReLU());
    width = c.hidden;
  }
  layers.push(new GraphPool(c.pool, offsets));
  if (out !== null) {
    if (c.dropout > 0) layers.push(new Dropout(c.dropout, c.layers));
    layers.push(new Linear(heap, 'head', width, out, rng, { weightDecay: wd }));
  }
  return layers;
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

/**
 * The graph-level hybrid's parts: the pooled graph branch (the GCN, or the config's
 * message-passing model on `messages`) beside the dense branch on each graph's descriptors.
 */
export function graphHybridParts(
  heap: Heap,
  features: number,
  targets: number,
  c: GraphModelConfig,
  graph: () => Propagation,
  offsets: () => Tensor,
  messages?: () => MessageGraph,
): JoinParts {
  const h = c.hybrid!;
  const rng = new Rng(c.seed);
  const kind = graphModelKind(c);
  if (kind !== 'gcn' && !messages)
    throw new Error(`graphHybridParts: a ${kind} branch needs the batch's message graph`);
  const branch =
    kind === 'gcn'
      ? graphGcnLayers(heap, features, null, c, rng, graph, offsets)
      : graphMessageLayers(heap, features, null, c, rng, messages!, offsets);
  return hybridParts(heap, rng, branch, {
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
