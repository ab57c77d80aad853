import type { MessageGraph } from '../graph/message-graph.js';
import { GATConv, GATv2Conv } from '../nn/gat-conv.js';
import type { Layer } from '../nn/layer.js';

// The attention coefficients a GAT or GATv2 model used in its last forward pass, as the
// explainers of node and graph runs report them: per layer, the mean over heads on each
// directed edge of the message graph.

/**
 * The attention coefficients a GAT or GATv2 model's last forward pass used: per layer, the
 * mean over heads of α on each directed edge of the message graph (src → dst, self loops
 * included); each destination's in-edges sum to 1.
 */
export interface AttentionPass {
  layers: { src: Int32Array; dst: Int32Array; alpha: Float32Array }[];
}

/** The model's GAT and GATv2 layers, in order. */
export function attentionLayers(layers: readonly Layer[]): (GATConv | GATv2Conv)[] {
  return layers.filter((l): l is GATConv | GATv2Conv => l instanceof GATConv || l instanceof GATv2Conv);
}

/** The head-mean attention of each GAT layer's last pass over message graph `g` (rows of g.adj: destinations). */
export function attentionOf(g: MessageGraph, gats: readonly (GATConv | GATv2Conv)[]): AttentionPass {
  const rp = g.adj.rowPtr.data(),
    col = g.adj.colIdx.data(),
    nnz = col.length;
  const src = Int32Array.from(col),
    dst = new Int32Array(nnz);
  for (let r = 0; r < g.nodes; r++) dst.fill(r, rp[r]!, rp[r + 1]!);
  return {
    layers: gats.map((layer) => {
      const a = layer.attentionWeights();
      if (!a) throw new Error(`${layer.name}: no attention held after its forward pass`);
      const H = layer.heads,
        alpha = new Float32Array(nnz);
      for (let k = 0; k < nnz; k++) {
        let sum = 0;
        for (let h = 0; h < H; h++) sum += a[h * nnz + k]!;
        alpha[k] = sum / H;
      }
      return { src, dst, alpha };
    }),
  };
}
