#!/usr/bin/env python3
"""Trains a 2-layer GCN on Cora with PyTorch and writes the fixtures of test/pyg-interop.test.ts.

Not run in CI: its outputs are committed under test/fixtures/pyg-cora/. Run it with
Debian's PyTorch (apt-get install python3-torch), from the repository root:

    /usr/bin/python3 bench/pyg_cora.py ../shared/data/planetoid/cora.json test/fixtures/pyg-cora

The model is PyTorch Geometric's GCNConv written out in plain PyTorch (Debian packages no
PyG and no Python safetensors), with PyG's parameter names, so its state_dict is the one a
PyG model saves: conv1.lin.weight [16, 1433] (PyTorch's Linear stores [out, in]),
conv1.bias [16], conv2.lin.weight [7, 16], conv2.bias [7]. GCNConv's propagation is
Â = D^-1/2 (A + I) D^-1/2 on the undirected graph, applied after the linear map, bias after.
Training follows Kipf & Welling: row-normalized features, dropout 0.5 before each layer,
Adam (lr 0.01, weight decay 5e-4 on the first layer), 200 epochs, seed 1.

Writes state_dict.safetensors (the safetensors layout, written here byte by byte),
logits.f32 (eval-mode logits [2708, 7], float32 little-endian) and meta.json.
"""
import json
import os
import struct
import sys

import torch


class GCNConv(torch.nn.Module):
    """torch_geometric.nn.GCNConv's computation and parameter names, on a dense Â."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.lin = torch.nn.Linear(in_channels, out_channels, bias=False)
        self.bias = torch.nn.Parameter(torch.zeros(out_channels))
        torch.nn.init.xavier_uniform_(self.lin.weight)

    def forward(self, x, a_hat):
        return a_hat @ self.lin(x) + self.bias


class GCN(torch.nn.Module):
    def __init__(self, features, hidden, classes, dropout=0.5):
        super().__init__()
        self.conv1 = GCNConv(features, hidden)
        self.conv2 = GCNConv(hidden, classes)
        self.dropout = dropout

    def forward(self, x, a_hat):
        x = torch.nn.functional.dropout(x, self.dropout, self.training)
        x = torch.relu(self.conv1(x, a_hat))
        x = torch.nn.functional.dropout(x, self.dropout, self.training)
        return self.conv2(x, a_hat)


def normalized_adjacency(n, edges):
    """D^-1/2 (A + I) D^-1/2 of the undirected graph, duplicates merged (PyG's gcn_norm after to_undirected)."""
    a = torch.zeros(n, n)
    for s, d in edges:
        a[s, d] = 1.0
        a[d, s] = 1.0
    a.fill_diagonal_(1.0)
    dinv = a.sum(1).pow(-0.5)
    return dinv[:, None] * a * dinv[None, :]


def write_safetensors(path, tensors, metadata):
    header = {'__metadata__': metadata}
    offset, blobs = 0, []
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().to(torch.float32)
        b = t.numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    cora_json, out = sys.argv[1], sys.argv[2]
    d = json.load(open(cora_json))
    n, f, c = d['num_nodes'], d['num_features'], d['num_classes']
    x = torch.zeros(n, f)
    for i, cols in enumerate(d['features']):
        x[i, cols] = 1.0
    x = x / x.sum(1, keepdim=True).clamp(min=1)
    y = torch.tensor(d['labels'])
    split = {k: torch.tensor(v) for k, v in d['split'].items()}
    a_hat = normalized_adjacency(n, d['edges'])

    torch.manual_seed(1)
    model = GCN(f, 16, c)
    opt = torch.optim.Adam([
        {'params': model.conv1.parameters(), 'weight_decay': 5e-4},
        {'params': model.conv2.parameters(), 'weight_decay': 0.0},
    ], lr=0.01)
    for _ in range(200):
        model.train()
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x, a_hat)[split['train']], y[split['train']])
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        logits = model(x, a_hat)
    acc = (logits.argmax(1)[split['test']] == y[split['test']]).float().mean().item()

    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, 'state_dict.safetensors'), model.state_dict(), {'format': 'pt'})
    with open(os.path.join(out, 'logits.f32'), 'wb') as fh:
        fh.write(logits.numpy().astype('<f4').tobytes())
    meta = {
        'command': 'python3 bench/pyg_cora.py ' + ' '.join(sys.argv[1:]),
        'torch': torch.__version__, 'nodes': n, 'features': f, 'classes': c, 'hidden': 16,
        'test_accuracy': round(acc, 4), 'state_dict': sorted(model.state_dict().keys()),
    }
    json.dump(meta, open(os.path.join(out, 'meta.json'), 'w'), indent=1)
    print(json.dumps(meta))


if __name__ == '__main__':
    main()
