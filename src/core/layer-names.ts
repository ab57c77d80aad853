// The names of Graft's message-passing layers and of the tensors that tell their widths, one
// table for every reader: the model builders (nn/node-models.ts, nn/task-models.ts), the
// model-file reader (infer/model-file.ts) and the PyTorch Geometric mapping (interop/pyg.ts).
// It lives in core because interop may import core alone (test/layers.test.ts).

/** The layers with a row in LAYER_TENSORS: GCN and PyG's SAGEConv, GINConv, GINEConv, GATConv, GATv2Conv. */
export type ConvKind = 'gcn' | 'sage' | 'gin' | 'gine' | 'gat' | 'gatv2';

/** The prefix of a model's layer names (gcn0, sage0, gin0, gine0, gat0 …; gatv2's is 'gatv2_', so layer 0 is gatv2_0, not gatv20). */
export const layerPrefix = (model: string): string => (model === 'gatv2' ? 'gatv2_' : model);

/**
 * Per layer kind, two tensors under a layer's name: `input`, its first Linear's weight (Graft
 * keeps it [in, out], PyTorch [out, in]), and `output`, a tensor whose last dimension is the
 * layer's output width. The names are PyG's (and Graft's, which takes PyG's).
 */
export const LAYER_TENSORS: Readonly<Record<ConvKind, { input: string; output: string }>> = {
  gcn: { input: 'weight', output: 'weight' },
  sage: { input: 'lin_l.weight', output: 'lin_l.bias' },
  gin: { input: 'nn.0.weight', output: 'nn.2.bias' },
  gine: { input: 'nn.0.weight', output: 'nn.2.bias' },
  gat: { input: 'lin.weight', output: 'bias' },
  gatv2: { input: 'lin_l.weight', output: 'bias' },
};
