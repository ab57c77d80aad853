#!/usr/bin/env python3
"""Plain PyTorch GraphSAGE with neighbour sampling over a Graft graph store: the peer Graft's
sampled training is measured against (issue 29). Not run in CI.

The same model as `graft train --store FILE --sampler neighbor` (src/nn/sage-conv.ts,
src/train/sampled-sage.ts): per layer H = mean_{j->i}(x_j) W_l + b + x_i W_r (PyG's SAGEConv with
its defaults), dropout before every layer, ReLU between layers, each layer trimmed to the nodes
the next layers read, cross-entropy on the batch's seed nodes, Adam. The same sampler semantics
(PyG's NeighborLoader): seeds are the training nodes shuffled each epoch in batches; hop h draws
up to fanouts[h] in-neighbours of each node the previous hop added, without replacement (all of
them where the degree is at most the fanout); nodes are relabelled in order of first sight, seeds
first. The sampler is vectorized with torch ops, no Python loop per node: per hop, the frontier's
CSR rows are expanded with repeat_interleave, each entry gets a uniform key, one argsort by
(row, key) orders every row at random, and the first k of each row are kept; the new nodes are
found and relabelled with torch.unique(return_inverse) and a scatter of first positions.

The store (src/store/format.ts): "GRAFTSTR", the header length (u64 LE), a JSON header naming
each array's dtype, shape and byte offset, then raw little-endian arrays, read with numpy.memmap.

Prints one JSON line per thread count: seed nodes per second over the timed batches (sampling,
gathering, forward, backward and Adam, all on the calling thread: torch has no prefetch here).

    /usr/bin/python3 bench/torch_sage.py --store .graft-cache/synthetic-arxiv-v1-s7.graftstore \
        --fanouts 10,5 --batch-size 1024 --hidden 128 --batches 100 --threads 1,2
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {'int32': np.int32, 'int64': np.int64, 'float32': np.float32, 'uint8': np.uint8}


def open_store(path):
    """The header and each array as a read-only numpy.memmap."""
    with open(path, 'rb') as f:
        if f.read(8) != b'GRAFTSTR':
            sys.exit(f'{path}: not a graft store (no GRAFTSTR magic)')
        (length,) = struct.unpack('<Q', f.read(8))
        header = json.loads(f.read(length).decode('utf-8'))
    if os.path.getsize(path) != header['fileBytes']:
        sys.exit(f"{path}: {os.path.getsize(path)} bytes, the header says {header['fileBytes']} (truncated?)")
    arrays = {}
    for name, a in header['arrays'].items():
        dtype = np.dtype(DTYPES[a['dtype']]).newbyteorder('<')
        arrays[name] = np.memmap(path, dtype=dtype, mode='r', offset=a['offset'], shape=tuple(a['shape']))
    return header, arrays


class NeighborSampler:
    """NeighborLoader's batches, vectorized: see the file comment."""

    def __init__(self, rowptr, col, fanouts, generator):
        self.rowptr, self.col, self.fanouts, self.g = rowptr, col, fanouts, generator

    def sample(self, seeds):
        nodes = seeds
        hop_sizes = [len(seeds)]
        src_all, dst_all = [], []
        frontier_start = 0
        for k in self.fanouts:
            frontier_at = frontier_start  # the frontier's first local id
            frontier = nodes[frontier_start:]
            start = self.rowptr[frontier]
            deg = self.rowptr[frontier + 1] - start
            rows = torch.repeat_interleave(torch.arange(len(frontier)), deg)
            row_start = torch.cumsum(deg, 0) - deg
            within = torch.arange(len(rows)) - row_start[rows]
            if k >= 0:
                # A random order within each row: sort by row + a key in [0, 1).
                keys = rows.to(torch.float64) + torch.rand(len(rows), generator=self.g, dtype=torch.float64)
                order = torch.argsort(keys)
                rows, within = rows[order], within[order]
                rank = torch.arange(len(rows)) - row_start[rows]
                keep = rank < k
                rows, within = rows[keep], within[keep]
            nbrs = self.col[start[rows] + within]
            # Relabel: the nodes so far keep their ids, new ones follow in order of first sight.
            combined = torch.cat([nodes, nbrs])
            uniq, inv = torch.unique(combined, return_inverse=True)
            first = torch.full((len(uniq),), len(combined), dtype=torch.int64)
            first.scatter_reduce_(0, inv, torch.arange(len(combined)), reduce='amin')
            perm = torch.argsort(first)
            local = torch.empty_like(perm)
            local[perm] = torch.arange(len(perm))
            frontier_start = len(nodes)
            nodes = uniq[perm]
            hop_sizes.append(len(nodes) - frontier_start)
            src_all.append(local[inv[len(combined) - len(nbrs):]])
            dst_all.append(rows + frontier_at)
        return nodes, hop_sizes, src_all, dst_all


class SAGE(torch.nn.Module):
    def __init__(self, fin, hidden, classes, layers, dropout):
        super().__init__()
        dims = [fin] + [hidden] * (layers - 1) + [classes]
        self.lin_l = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims, dims[1:]))
        self.lin_r = torch.nn.ModuleList(torch.nn.Linear(a, b, bias=False) for a, b in zip(dims, dims[1:]))
        self.dropout = dropout

    def forward(self, x, hop_sizes, src_all, dst_all):
        L = len(self.lin_l)
        prefix = np.cumsum(hop_sizes)
        for l in range(L):
            x = F.dropout(x, self.dropout, self.training)
            targets = int(prefix[L - 1 - l])  # nodes within L-1-l hops of the seeds
            src = torch.cat(src_all[: L - l])
            dst = torch.cat(dst_all[: L - l])
            agg = torch.zeros(targets, x.shape[1]).index_add_(0, dst, x[src])
            deg = torch.zeros(targets).index_add_(0, dst, torch.ones(len(dst))).clamp_(min=1)
            x = self.lin_l[l](agg / deg[:, None]) + self.lin_r[l](x[:targets])
            if l < L - 1:
                x = F.relu(x)
        return x


def run(args, header, arrays, threads):
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    g = torch.Generator().manual_seed(args.seed)
    rowptr = torch.from_numpy(np.asarray(arrays['rowPtr'], dtype=np.int64))
    col = torch.from_numpy(np.asarray(arrays['colIdx'], dtype=np.int64))
    feats = torch.from_numpy(np.array(arrays['features']))
    labels = torch.from_numpy(np.asarray(arrays['labels'], dtype=np.int64))
    train = torch.from_numpy(np.asarray(arrays['train'], dtype=np.int64))
    fanouts = [int(k) for k in args.fanouts.split(',')]
    sampler = NeighborSampler(rowptr, col, fanouts, g)
    model = SAGE(header['numFeatures'], args.hidden, header['numClasses'], len(fanouts), args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    model.train()
    seeds_done, sample_s, t0, b, epoch = 0, 0.0, None, 0, 0
    total = args.warmup + args.batches
    while b < total:
        order = train[torch.randperm(len(train), generator=g)]
        for i in range(0, len(order), args.batch_size):
            if b == args.warmup:
                t0, seeds_done, sample_s = time.perf_counter(), 0, 0.0
            if b == total:
                break
            seeds = order[i : i + args.batch_size]
            ts = time.perf_counter()
            nodes, hop_sizes, src_all, dst_all = sampler.sample(seeds)
            x = feats[nodes]
            sample_s += time.perf_counter() - ts
            out = model(x, hop_sizes, src_all, dst_all)
            loss = F.cross_entropy(out, labels[seeds].clamp(min=0))
            opt.zero_grad()
            loss.backward()
            opt.step()
            seeds_done += len(seeds)
            b += 1
        epoch += 1
    wall = time.perf_counter() - t0
    return {
        'impl': 'torch',
        'torch': torch.__version__,
        'threads': threads,
        'batches': args.batches,
        'seeds_per_s': seeds_done / wall,
        'ms_per_batch': 1000 * wall / args.batches,
        'sample_gather_share': sample_s / wall,
        'last_loss': float(loss),
        'load_avg': os.getloadavg(),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--store', required=True)
    p.add_argument('--fanouts', default='10,5')
    p.add_argument('--batch-size', type=int, default=1024)
    p.add_argument('--hidden', type=int, default=128)
    p.add_argument('--dropout', type=float, default=0.5)
    p.add_argument('--lr', type=float, default=0.005)
    p.add_argument('--batches', type=int, default=100, help='timed batches per thread count')
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--threads', default='1,2')
    p.add_argument('--seed', type=int, default=1)
    args = p.parse_args()
    header, arrays = open_store(args.store)
    for t in [int(s) for s in args.threads.split(',')]:
        print(json.dumps(run(args, header, arrays, t)), flush=True)


if __name__ == '__main__':
    main()
