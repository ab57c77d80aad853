#!/usr/bin/env python3
"""PyTorch CPU twin of bench/workloads.ts, for the comparison table in the README.

Not part of CI. Needs PyTorch (Debian: apt-get install python3-torch, then run with
/usr/bin/python3). Same workloads, same definitions: uniform random symmetric edges plus
self loops, D^-1/2 (A+I) D^-1/2, standard normal features; GCN layers as X@W then A@(XW)+b,
ReLU between, no dropout; graph batches: mean pooling per graph then a Linear head. One
training epoch = forward + backward + Adam step (lr 0.01) on MSE vs random targets;
inference = forward under no_grad. Median of --reps timed repetitions after 2 warm-ups.

    /usr/bin/python3 bench/torch_bench.py --threads 1 [--only cora,arxiv] [--sparse csr|coo]

A fair PyTorch on Debian needs OpenBLAS (apt-get install libopenblas0-pthread): on the
reference BLAS it is about 10x slower and every ratio is meaningless. The BLAS PyTorch
actually loaded is read from /proc/self/maps after a matmul, printed in every JSON line, and
the script refuses to run on the reference BLAS (--allow-reference-blas to override).
"""
import argparse, json, os, re, resource, statistics, sys, time
import torch

def loaded_blas():
    """Which BLAS this process runs: the libraries mapped after a matmul, as one label."""
    a = torch.randn(64, 64); (a @ a).sum()
    libs = set()
    with open('/proc/self/maps') as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ''
            if re.search(r'blas|mkl|lapack|blis', os.path.basename(path)):
                libs.add(os.path.realpath(path))
    names = sorted(os.path.basename(p) for p in libs)
    if any('mkl' in n for n in names): kind = 'mkl'
    elif any('openblas' in n for n in names):
        v = next((re.search(r'openblas\w*-r([\d.]+)', n) for n in names if 'openblas' in n), None)
        variant = 'pthread' if any('pthread' in p for p in libs) else 'openmp' if any('openmp' in p for p in libs) else ''
        kind = f"openblas{'-' + variant if variant else ''}{' ' + v.group(1).rstrip('.') if v else ''}"
    elif any('blis' in n for n in names): kind = 'blis'
    elif any(n.startswith('libblas') for n in names): kind = 'reference'
    else: kind = 'builtin'  # no shared BLAS mapped: PyTorch's own kernels (MKL-DNN, or a static BLAS)
    core = os.environ.get('OPENBLAS_CORETYPE')
    return kind + (f' (OPENBLAS_CORETYPE={core})' if core and kind.startswith('openblas') else '')

def graph(n, avg_degree, blocks, gen):
    per = n // blocks
    src, dst = [], []
    for b in range(blocks):
        m = round(per * avg_degree / 2)
        a = torch.randint(0, per, (m,), generator=gen) + b * per
        c = torch.randint(0, per, (m,), generator=gen) + b * per
        src += [a, c]; dst += [c, a]
    loops = torch.arange(n)
    src = torch.cat(src + [loops]); dst = torch.cat(dst + [loops])
    deg = torch.bincount(src, minlength=n).float()
    val = deg[src].rsqrt() * deg[dst].rsqrt()
    return torch.sparse_coo_tensor(torch.stack([src, dst]), val, (n, n)).coalesce()

class GCN(torch.nn.Module):
    def __init__(self, widths, adj, pool_index=None, graphs=0):
        super().__init__()
        self.adj, self.pool_index, self.graphs = adj, pool_index, graphs
        n_gcn = len(widths) - 1 - (1 if pool_index is not None else 0)
        self.lins = torch.nn.ModuleList(torch.nn.Linear(widths[i], widths[i + 1]) for i in range(n_gcn))
        self.head = torch.nn.Linear(widths[-2], widths[-1]) if pool_index is not None else None
    def forward(self, x):
        for i, lin in enumerate(self.lins):
            x = torch.sparse.mm(self.adj, x @ lin.weight.t()) + lin.bias
            if i < len(self.lins) - 1 or self.head is not None:
                x = torch.relu(x)
        if self.head is not None:
            pooled = torch.zeros(self.graphs, x.shape[1]).index_add_(0, self.pool_index, x)
            pooled = pooled / torch.bincount(self.pool_index, minlength=self.graphs).unsqueeze(1)
            x = self.head(pooled)
        return x

def run(w, reps, sparse):
    gen = torch.Generator().manual_seed(1234)
    blocks = w.get('graphs', 1)
    n = w['graphs'] * w['nodesPerGraph'] if 'graphs' in w else w['nodes']
    adj = graph(n, w['avgDegree'], blocks, gen)
    if sparse == 'csr':
        adj = adj.to_sparse_csr()
    x = torch.randn(n, w['features'], generator=gen)
    pool = torch.arange(n) // w['nodesPerGraph'] if 'graphs' in w else None
    widths = [w['features']] + [w['hidden']] * (w['layers'] - 1) + [w['outputs']]
    model = GCN(widths, adj, pool, blocks)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    target = torch.randn(blocks if pool is not None else n, w['outputs'], generator=gen)
    def train():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), target)
        loss.backward()
        opt.step()
    def infer():
        with torch.no_grad():
            model(x)
    def timed(fn):
        for _ in range(2): fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1000)
        return statistics.median(ts)
    return timed(train), timed(infer)

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--threads', type=int, required=True)
    p.add_argument('--only', default='')
    p.add_argument('--reps', type=int, default=10)
    p.add_argument('--sparse', default='coo', choices=['coo', 'csr'])
    p.add_argument('--workloads', default='../shared/bench/workloads.json')
    p.add_argument('--allow-reference-blas', action='store_true')
    a = p.parse_args()
    blas = loaded_blas()
    if blas == 'reference' and not a.allow_reference_blas:
        sys.exit('torch_bench: PyTorch is running on the reference BLAS (libblas.so.3 -> ' +
                 os.path.realpath('/usr/lib/x86_64-linux-gnu/libblas.so.3') +
                 '), about 10x slower than what users have; install libopenblas0-pthread (or pass --allow-reference-blas)')
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    only = set(filter(None, a.only.split(',')))
    for w in json.load(open(a.workloads))['workloads']:
        if only and w['name'] not in only: continue
        train_ms, infer_ms = run(w, a.reps, a.sparse)
        print(json.dumps({'workload': w['name'], 'threads': a.threads, 'train_ms': round(train_ms, 3), 'infer_ms': round(infer_ms, 3),
                          'peak_rss_mb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), 'impl': f'torch {torch.__version__} {a.sparse}', 'blas': blas}), flush=True)

if __name__ == '__main__':
    main()
