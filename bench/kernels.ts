// npm run bench:kernels [-- --threads 1,2,16] [--only gemm,spmm,triad,dispatch]
// One JSON line per case:
//   {"kernel":"gemmNN","backend","shape":"...","threads","ms","gflops","limit_fraction"}
//   {"kernel":"spmmCsr","shape":"...","order","threads","ms","gbps","triad_fraction"}
//   {"kernel":"stream-triad","threads","gbps"}  {"kernel":"dispatch","threads","us"}
import { availableParallelism } from 'node:os';
import { CsrMatrix } from '../src/graph/csr.js';
import { csrEdges, csrInOrder, reverseCuthillMcKee } from '../src/graph/reorder.js';
import { matmul } from '../src/ops/linalg.js';
import { spmm } from '../src/ops/sparse.js';
import { partsFor, splitEven } from '../src/runtime/partition.js';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/memory/tensor.js';
import { Rng } from '../src/core/random.js';
import { workloadGraph } from '../src/bench/graph.js';
import { flag, GEMM_SHAPES, measure, threadList } from './measure.js';

const only = flag('only')?.split(',');

/**
 * The WebAssembly SIMD128 ceiling of one core, GFLOP/s: 4 lanes × 2 FP pipes × 2 flops
 * (multiply and add) × ~3.5 GHz. Every GEMM line reports its fraction of this per thread.
 */
const SIMD128_LIMIT_GFLOPS = 56;
const want = (k: string): boolean => !only || only.includes(k);

const line = (o: object): void => console.log(JSON.stringify(o));

async function main(): Promise<void> {
  const cores = availableParallelism();
  for (const threads of threadList(cores)) {
    const rt = await Runtime.create({ threads });
    const h = rt.heap;
    let triadGbps = NaN;

    if (want('dispatch')) {
      const bounds = Array.from({ length: threads + 1 }, (_, i) => i);
      for (let i = 0; i < 2000; i++) await rt.exec.run('noop', [], bounds);
      const n = 20000;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) await rt.exec.run('noop', [], bounds);
      line({ kernel: 'dispatch', threads, us: +(((performance.now() - t0) * 1000) / n).toFixed(2) });
    }

    if (want('triad') || want('spmm')) {
      const n = 1 << 25; // three 128 MiB arrays: far beyond any cache
      const a = Tensor.empty(h, 'float32', [n]),
        b = Tensor.empty(h, 'float32', [n]),
        c = Tensor.empty(h, 'float32', [n]);
      b.data().fill(1);
      c.data().fill(2);
      const bounds = splitEven(n, threads, 16);
      const t = await measure('triad', () => rt.exec.run('streamTriad', [a.ptr, b.ptr, c.ptr, 3], bounds), 10);
      triadGbps = (3 * n * 4) / (t.ms / 1000) / 1e9;
      line({ kernel: 'stream-triad', threads, gbps: +triadGbps.toFixed(2) });
      a.free();
      b.free();
      c.free();
    }

    if (want('gemm')) {
      for (const [name, m, k, n, form] of GEMM_SHAPES) {
        const a = form === 'TN' ? Tensor.empty(h, 'float32', [k, m]) : Tensor.empty(h, 'float32', [m, k]);
        const b = form === 'NT' ? Tensor.empty(h, 'float32', [n, k]) : Tensor.empty(h, 'float32', [k, n]);
        a.data().fill(0.5);
        b.data().fill(0.25);
        const c = Tensor.empty(h, 'float32', [m, n]);
        const opts = { transA: form === 'TN', transB: form === 'NT' };
        const t = await measure(name, () => matmul(rt.exec, a, b, c, opts), 5);
        const gflops = (2 * m * n * k) / (t.ms / 1000) / 1e9;
        line({
          kernel: `gemm${form}`,
          backend: rt.backendKind,
          shape: `${name} [${m}x${k}]·[${k}x${n}]`,
          threads,
          ms: +t.ms.toFixed(3),
          gflops: +gflops.toFixed(2),
          limit_fraction: +(gflops / (SIMD128_LIMIT_GFLOPS * threads)).toFixed(3),
        });
        a.free();
        b.free();
        c.free();
      }
    }

    if (want('spmm')) {
      const nodes = 169_343,
        cols = 256;
      const g = workloadGraph(nodes, 7, new Rng(1));
      // The generated order, and the reverse Cuthill–McKee order the node trainer runs it in.
      const { src, dst } = csrEdges(g.rowPtr, g.colIdx);
      const o = reverseCuthillMcKee(nodes, src, dst);
      const x = Tensor.empty(h, 'float32', [nodes, cols]);
      x.data().fill(1);
      const y = Tensor.empty(h, 'float32', [nodes, cols]);
      for (const [order, m] of [
        ['generated', g],
        ['rcm', csrInOrder(g, o)],
      ] as const) {
        const adj = CsrMatrix.fromArrays(h, nodes, nodes, m.rowPtr, m.colIdx, m.vals);
        // Bytes a perfect cache would still move: the CSR once, each gathered X row, Y once.
        const bytes = adj.nnz * 8 + (nodes + 1) * 4 + adj.nnz * cols * 4 + nodes * cols * 4;
        for (const colBlock of [0, 64]) {
          const t = await measure('spmm', () => spmm(rt.exec, adj, x, y, { colBlock }), 5);
          const gbps = bytes / (t.ms / 1000) / 1e9;
          line({
            kernel: 'spmmCsr',
            shape: `arxiv ${nodes}x${nodes} nnz=${adj.nnz} · [${nodes}x${cols}] colBlock=${colBlock || 'none'}`,
            order,
            threads,
            ms: +t.ms.toFixed(3),
            gbps: +gbps.toFixed(2),
            triad_fraction: +(gbps / triadGbps).toFixed(3),
            parts: partsFor(threads, (adj.nnz + nodes) * cols),
          });
        }
        adj.free();
      }
      x.free();
      y.free();
    }
    await rt.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
