#!/usr/bin/env python3
"""Plain-PyTorch twin of bench/layers.ts (npm run bench:layers), for issue 30's bar: at 2
threads each Graft layer trains at least as fast as its plain-PyTorch twin.

Not part of CI; run with /usr/bin/python3 (PyTorch 1.13) beside bench/layers.ts, alternating
(docs/performance.md gives the ratios and the load they were measured under). Needs only
PyTorch (no PyG): each layer is written with index_add_ / scatter_reduce_ as PyG computes it.
Same shapes as bench/layers.ts (uniform random edges of the same counts, sparse binary
features), same step: forward in training mode, then backward of sum(y * y) / 2 (so the
output gradient is y, as the TypeScript bench passes y as its own gradient), input gradient
included. Median of --reps timed repetitions after 2 warm-ups, one JSON line per case with
the same keys as bench/layers.ts.

    /usr/bin/python3 bench/torch_layers.py --threads 2 [--shape cora,molecules] [--layer sage,gat]
"""
import argparse, json, statistics, time
import torch
import torch.nn.functional as F


def cora(g):
    n, e = 2708, 5278
    a, b = torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g)
    # Cora has no edge features: 8 random binary ones (as bench/layers.ts), so GINE and D-MPNN have a cora line.
    # Each edge in both directions, side by side (2k, 2k + 1), as bench/layers.ts lays them out and D-MPNN's reverse reads them.
    return dict(name='cora', nodes=n, src=torch.stack([a, b], 1).flatten(), dst=torch.stack([b, a], 1).flatten(),
                inF=1433, hidden=16, edgeDim=8)


def molecules(g):
    src, dst, atoms = [], [], 24
    def bond(a, b): src.extend([a, b]); dst.extend([b, a])
    for m in range(128):
        o = m * atoms
        for i in range(6): bond(o + i, o + (i + 1) % 6)
        for i in range(5): bond(o + 6 + i, o + 6 + (i + 1) % 5)
        bond(o + 2, o + 6)
        for i in range(11, atoms): bond(o + i - 1 - (3 if i % 3 == 0 else 0), o + i)
    return dict(name='molecules', nodes=128 * atoms, src=torch.tensor(src), dst=torch.tensor(dst), inF=133, hidden=64, edgeDim=14)


def lin(i, o, bias=True):
    return torch.nn.Linear(i, o, bias=bias)


def sum_into(n, index, values):
    return torch.zeros(n, values.shape[1], dtype=values.dtype).index_add_(0, index, values)


def edge_softmax(score, dst, n):
    # score [E, H]: softmax over each destination's incoming edges, per head (PyG's softmax).
    idx = dst.unsqueeze(1).expand_as(score)
    m = torch.full((n, score.shape[1]), float('-inf')).scatter_reduce(0, idx, score, reduce='amax', include_self=True)
    e = (score - m[dst]).exp()
    return e / sum_into(n, dst, e)[dst]


class GCN(torch.nn.Module):
    def __init__(s, sh, adj):
        super().__init__(); s.lin = lin(sh['inF'], sh['hidden'], False); s.bias = torch.nn.Parameter(torch.zeros(sh['hidden'])); s.adj = adj
    def forward(s, x): return s.adj @ s.lin(x) + s.bias


class SAGE(torch.nn.Module):
    def __init__(s, sh):
        super().__init__(); s.lin_l = lin(sh['inF'], sh['hidden']); s.lin_r = lin(sh['inF'], sh['hidden'], False)
        s.src, s.dst, s.n = sh['src'], sh['dst'], sh['nodes']
        s.deg = sum_into(s.n, s.dst, torch.ones(len(s.dst), 1)).clamp(min=1)
    def forward(s, x): return s.lin_l(sum_into(s.n, s.dst, x[s.src]) / s.deg) + s.lin_r(x)


class GIN(torch.nn.Module):
    def __init__(s, sh, edge_attr=None):
        super().__init__(); h = sh['hidden']
        s.nn = torch.nn.Sequential(lin(sh['inF'], h), torch.nn.ReLU(), lin(h, h)); s.eps = torch.nn.Parameter(torch.zeros(1))
        s.lin = lin(sh['edgeDim'], sh['inF']) if edge_attr is not None else None
        s.edge_attr, s.src, s.dst, s.n = edge_attr, sh['src'], sh['dst'], sh['nodes']
    def forward(s, x):
        m = x[s.src] if s.lin is None else F.relu(x[s.src] + s.lin(s.edge_attr))
        return s.nn((1 + s.eps) * x + sum_into(s.n, s.dst, m))


class GAT(torch.nn.Module):
    def __init__(s, sh, v2, heads=8, c=8):
        super().__init__(); s.h, s.c, s.v2 = heads, c, v2
        if v2: s.lin_l, s.lin_r = lin(sh['inF'], heads * c), lin(sh['inF'], heads * c); s.att = torch.nn.Parameter(torch.randn(1, heads, c) * 0.1)
        else: s.lin = lin(sh['inF'], heads * c, False); s.att_src = torch.nn.Parameter(torch.randn(1, heads, c) * 0.1); s.att_dst = torch.nn.Parameter(torch.randn(1, heads, c) * 0.1)
        s.bias = torch.nn.Parameter(torch.zeros(heads * c)); s.n = sh['nodes']
        keep = sh['src'] != sh['dst']; loops = torch.arange(s.n)  # PyG's add_self_loops: given loops out, one per node in
        s.src, s.dst = torch.cat([sh['src'][keep], loops]), torch.cat([sh['dst'][keep], loops])
    def forward(s, x):
        if s.v2:
            xl, xr = s.lin_l(x).view(-1, s.h, s.c), s.lin_r(x).view(-1, s.h, s.c)
            score = (F.leaky_relu(xl[s.src] + xr[s.dst], 0.2) * s.att).sum(-1); xs = xl
        else:
            xs = s.lin(x).view(-1, s.h, s.c)
            a_s, a_d = (xs * s.att_src).sum(-1), (xs * s.att_dst).sum(-1)
            score = F.leaky_relu(a_s[s.src] + a_d[s.dst], 0.2)
        alpha = F.dropout(edge_softmax(score, s.dst, s.n), 0.6, s.training)
        return sum_into(s.n, s.dst, (xs[s.src] * alpha.unsqueeze(-1)).view(-1, s.h * s.c)) + s.bias


class DMPNN(torch.nn.Module):
    """Chemprop's BondMessagePassing: W_i, W_h without bias, W_o with, depth 3, hidden 300."""
    def __init__(s, sh, edge_attr, hidden=300, depth=3):
        super().__init__(); a, b = sh['inF'], sh['edgeDim']
        s.W_i, s.W_h, s.W_o = lin(a + b, hidden, False), lin(hidden, hidden, False), lin(a + hidden, hidden)
        s.src, s.dst, s.n, s.e, s.depth = sh['src'], sh['dst'], sh['nodes'], edge_attr, depth
        # Bonds come in pairs (2k, 2k + 1) = (v → w, w → v): the reverse of edge i is i ^ 1.
        s.rev = torch.arange(len(s.src)) ^ 1
    def forward(s, x):
        h0 = s.W_i(torch.cat([x[s.src], s.e], 1)); h = F.relu(h0)
        for _ in range(1, s.depth):
            m = sum_into(s.n, s.dst, h)[s.src] - h[s.rev]
            h = F.relu(h0 + s.W_h(m))
        return F.relu(s.W_o(torch.cat([x, sum_into(s.n, s.dst, h)], 1)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--threads', type=int, default=2); p.add_argument('--reps', type=int, default=10)
    p.add_argument('--shape', default='cora,molecules'); p.add_argument('--layer', default='gcn,sage,gin,gine,gat,gatv2,dmpnn')
    a = p.parse_args()
    torch.set_num_threads(a.threads); g = torch.Generator().manual_seed(1)
    for make in (cora, molecules):
        sh = make(g)
        if sh['name'] not in a.shape.split(','): continue
        n, E = sh['nodes'], len(sh['src'])
        x = (torch.rand(n, sh['inF'], generator=g) < 0.02).float().requires_grad_()
        ea = (torch.rand(E, sh['edgeDim'], generator=g) < 0.2).float() if sh['edgeDim'] else None
        loops = torch.arange(n); s2, d2 = torch.cat([sh['src'], sh['dst'], loops]), torch.cat([sh['dst'], sh['src'], loops])
        deg = torch.zeros(n).index_add_(0, d2, torch.ones(len(d2))); w = deg[s2].rsqrt() * deg[d2].rsqrt()
        adj = torch.sparse_coo_tensor(torch.stack([d2, s2]), w, (n, n)).coalesce().to_sparse_csr()
        layers = dict(gcn=lambda: GCN(sh, adj), sage=lambda: SAGE(sh), gin=lambda: GIN(sh),
                      gine=lambda: GIN(sh, ea) if ea is not None else None, gat=lambda: GAT(sh, False),
                      gatv2=lambda: GAT(sh, True), dmpnn=lambda: DMPNN(sh, ea) if ea is not None else None)
        for name in a.layer.split(','):
            m = layers[name]()
            if m is None: continue
            def fwd():
                m.eval()
                with torch.no_grad(): m(x)
            def step():
                m.train(); m.zero_grad(); x.grad = None
                y = m(x); (y * y).sum().mul(0.5).backward()
            out = {}
            for key, fn in (('forward_ms', fwd), ('step_ms', step)):
                for _ in range(2): fn()
                ts = []
                for _ in range(a.reps):
                    t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1e3)
                out[key] = round(statistics.median(ts), 3)
            print(json.dumps(dict(layer=name, shape=sh['name'], threads=a.threads, nodes=n, edges=E, torch=torch.__version__, **out)), flush=True)


if __name__ == '__main__':
    main()
