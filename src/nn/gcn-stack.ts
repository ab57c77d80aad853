import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import type { PoolMode } from '../ops/pooling.js';
import type { Layer } from './layer.js';
import { Dropout, GCNConv, GraphPool, Linear, ReLU, type Propagation } from './layers.js';
import type { Rng } from '../core/random.js';

export interface GcnStackShape {
  inFeatures: number;
  hidden: number;
  /**
   * Layers with weights, the output layer included: GCN layers for a node model; for a
   * pooled (graph-level) model, layers − 1 GCN layers and the Linear head.
   */
  layers: number;
  /** Dropout rate (0: none). */
  dropout: number;
  /**
   * Dropout on the input features too (Kipf & Welling: before every GCN layer), or only
   * between layers (graph-level models: before GCN layers after the first, and the head).
   */
  inputDropout: boolean;
  /** Columns of the output layer; null: stop after the hidden part (a branch to join). */
  out: number | null;
  /** L2 weight decay of layer l (the head is layer `layers − 1`). */
  weightDecay: (l: number) => number;
  /**
   * The input is the same unchanged tensor every pass (full-batch features): the first
   * layer, when no dropout precedes it, may then reuse its Â·X (GCNConv's constantInput).
   */
  constantInput?: boolean;
  /** Layer name prefix (default 'gcn': layers gcn0, gcn1, …); branches of one model need their own. */
  name?: string;
  /** Graph-level: pool each graph's node rows (graph offsets per batch) after the GCN layers. */
  pool?: { mode: PoolMode; offsets: () => Tensor };
}

/**
 * The one GCN stack for node, genomic and graph-level models, and their hybrids' graph
 * branch. Node form: [dropout → GCN → ReLU] × (layers − 1), then dropout → GCN to `out`.
 * Pooled form: GCN → ReLU per hidden layer (dropout between), pooling, then dropout → Linear
 * head to `out`. Without an output layer it is the hidden part alone (at least one layer).
 * Layers are named gcn0, gcn1, …, head, and draw their initial weights from `rng` in order.
 */
export function gcnStack(heap: Heap, rng: Rng, graph: () => Propagation, s: GcnStackShape): Layer[] {
  const layers: Layer[] = [];
  const pooled = s.pool !== undefined;
  const gcnLayers = pooled || s.out === null ? Math.max(1, s.layers - 1) : s.layers;
  const dropoutBefore = (l: number): void => {
    if (s.dropout > 0 && (s.inputDropout || l > 0)) layers.push(new Dropout(s.dropout, l));
  };
  let width = s.inFeatures;
  for (let l = 0; l < gcnLayers; l++) {
    const last = !pooled && s.out !== null && l === s.layers - 1;
    const out = last ? s.out! : s.hidden;
    const dropped = s.dropout > 0 && (s.inputDropout || l > 0);
    dropoutBefore(l);
    const constantInput = l === 0 && s.constantInput === true && !dropped;
    layers.push(
      new GCNConv(heap, `${s.name ?? 'gcn'}${l}`, width, out, rng, graph, {
        weightDecay: s.weightDecay(l),
        constantInput,
      }),
    );
    if (!last) layers.push(new ReLU());
    width = out;
  }
  if (s.pool) {
    layers.push(new GraphPool(s.pool.mode, s.pool.offsets));
    if (s.out !== null) {
      if (s.dropout > 0) layers.push(new Dropout(s.dropout, s.layers));
      layers.push(new Linear(heap, 'head', width, s.out, rng, { weightDecay: s.weightDecay(s.layers - 1) }));
    }
  }
  return layers;
}
