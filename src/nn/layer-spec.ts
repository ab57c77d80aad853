import { Rng } from '../core/random.js';
import type { Heap } from '../memory/heap.js';
import type { PoolMode } from '../ops/pooling.js';
import type { Tensor } from '../memory/tensor.js';
import type { Layer } from './layer.js';
import { Dropout, GCNConv, GraphPool, Linear, ReLU, type Propagation } from './layers.js';

// A layer stack as plain data, so another thread can build the same stack over the same
// weights (a forked branch run on a worker): kinds, names and sizes, never values.

export type LayerSpec =
  | { kind: 'linear'; name: string; in: number; out: number; bias: boolean }
  | { kind: 'gcn'; name: string; in: number; out: number }
  | { kind: 'relu' }
  | { kind: 'dropout'; p: number; index: number }
  | { kind: 'pool'; mode: PoolMode };

export function describeLayers(layers: readonly Layer[]): LayerSpec[] {
  return layers.map((l): LayerSpec => {
    if (l instanceof GCNConv) return { kind: 'gcn', name: l.name, in: l.inFeatures, out: l.outFeatures };
    if (l instanceof Linear)
      return { kind: 'linear', name: l.name, in: l.inFeatures, out: l.outFeatures, bias: l.bias !== null };
    if (l instanceof ReLU) return { kind: 'relu' };
    if (l instanceof Dropout) return { kind: 'dropout', p: l.p, index: l.index };
    if (l instanceof GraphPool) return { kind: 'pool', mode: l.mode };
    throw new Error(`describeLayers: a ${l.kind} layer cannot be sent to another thread`);
  });
}

/**
 * The stack a spec describes, with parameters of the right names and shapes whose initial
 * values are meaningless (the caller points them at the real weights). No Â·X cache: the
 * inputs arrive as new views on every call.
 */
export function buildLayers(
  heap: Heap,
  specs: readonly LayerSpec[],
  graph: () => Propagation,
  offsets: () => Tensor,
): Layer[] {
  const rng = new Rng(0);
  return specs.map((s): Layer => {
    switch (s.kind) {
      case 'gcn':
        return new GCNConv(heap, s.name, s.in, s.out, rng, graph);
      case 'linear':
        return new Linear(heap, s.name, s.in, s.out, rng, { bias: s.bias });
      case 'relu':
        return new ReLU();
      case 'dropout':
        return new Dropout(s.p, s.index);
      case 'pool':
        return new GraphPool(s.mode, offsets);
      default:
        throw new RangeError(`buildLayers: unknown layer kind ${JSON.stringify((s as { kind: unknown }).kind)}`);
    }
  });
}
