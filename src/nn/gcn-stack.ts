import type { Heap } from '../memory/heap.js';
import type { Layer } from './layer.js';
import { Dropout, GCNConv, ReLU, type Propagation } from './layers.js';
import type { Rng } from '../core/random.js';

export interface GcnStackShape {
  inFeatures: number;
  hidden: number;
  /** GCN layers, the output layer included. */
  layers: number;
  /** Dropout before each GCN layer (0: none). */
  dropout: number;
  /** Columns of the output layer; null: stop after the hidden layers (a branch to join). */
  out: number | null;
  /** L2 weight decay of GCN layer l. */
  weightDecay: (l: number) => number;
}

/**
 * Kipf & Welling's stack: [dropout → GCN → ReLU] × (layers − 1), then dropout → GCN to
 * `out` columns. Without an output layer it is the hidden part alone (at least one layer).
 * Layers are named gcn0, gcn1, … and draw their initial weights from `rng` in that order.
 */
export function gcnStack(heap: Heap, rng: Rng, graph: () => Propagation, s: GcnStackShape): Layer[] {
  const layers: Layer[] = [];
  const count = s.out === null ? Math.max(1, s.layers - 1) : s.layers;
  let width = s.inFeatures;
  for (let l = 0; l < count; l++) {
    const last = s.out !== null && l === s.layers - 1;
    const out = last ? s.out! : s.hidden;
    if (s.dropout > 0) layers.push(new Dropout(s.dropout, l));
    layers.push(new GCNConv(heap, `gcn${l}`, width, out, rng, graph, { weightDecay: s.weightDecay(l) }));
    if (!last) layers.push(new ReLU());
    width = out;
  }
  return layers;
}
