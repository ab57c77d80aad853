// node dist/bench/revectorize.js            (run it with Node 22+: npx -p node@22 node dist/bench/revectorize.js)
// V8's experimental --experimental-wasm-revectorize widens some 128-bit WebAssembly SIMD to
// 256-bit AVX2. This measures what it gives Graft's kernels and whether the results stay
// bitwise: each backend (simd, relaxed) runs the bench GEMM shapes, the arxiv-size SpMM and a
// short GCN training in a child process without the flag and one with it, on seeded random
// inputs, and prints per case the GFLOP/s (or ms) of both, the speed-up, and whether the
// outputs' SHA-256 agree. One JSON line per case, then one summary line per backend.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CsrMatrix } from '../src/graph/csr.js';
import { matmul } from '../src/ops/linalg.js';
import { spmm } from '../src/ops/sparse.js';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/memory/tensor.js';
import { Rng } from '../src/core/random.js';
import { workloadGraph } from '../src/bench/graph.js';
import { GCN_GP_DEFAULTS, trainGcnRegressor } from '../src/train/gcn-regressor.js';
import { GEMM_SHAPES, measure } from './measure.js';

const FLAG = '--experimental-wasm-revectorize';
interface CaseResult {
  name: string;
  ms: number;
  gflops?: number;
  sha256: string;
}

const sha = (a: Float32Array | Float64Array): string =>
  createHash('sha256')
    .update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
    .digest('hex');
const fillRandom = (t: Tensor, rng: Rng): void => {
  const d = t.data() as Float32Array;
  for (let i = 0; i < d.length; i++) d[i] = rng.nextU32() / 2 ** 32 - 0.5;
};

async function child(): Promise<void> {
  const rt = await Runtime.create({ threads: 1 });
  const h = rt.heap,
    rng = new Rng(7),
    out: CaseResult[] = [];
  for (const [name, m, k, n, form] of GEMM_SHAPES) {
    const a = Tensor.empty(h, 'float32', form === 'TN' ? [k, m] : [m, k]),
      b = Tensor.empty(h, 'float32', form === 'NT' ? [n, k] : [k, n]);
    fillRandom(a, rng);
    fillRandom(b, rng);
    const c = Tensor.empty(h, 'float32', [m, n]);
    const t = await measure(name, () => matmul(rt.exec, a, b, c, { transA: form === 'TN', transB: form === 'NT' }), 5);
    out.push({
      name: `gemm${form} ${name}`,
      ms: t.ms,
      gflops: (2 * m * n * k) / (t.ms / 1000) / 1e9,
      sha256: sha(c.data() as Float32Array),
    });
    a.free();
    b.free();
    c.free();
  }
  const nodes = 169_343,
    cols = 256,
    g = workloadGraph(nodes, 7, new Rng(1));
  const adj = CsrMatrix.fromArrays(h, nodes, nodes, g.rowPtr, g.colIdx, g.vals);
  const x = Tensor.empty(h, 'float32', [nodes, cols]),
    y = Tensor.empty(h, 'float32', [nodes, cols]);
  fillRandom(x, rng);
  const t = await measure('spmm', () => spmm(rt.exec, adj, x, y), 5);
  out.push({ name: 'spmm arxiv-size × 256', ms: t.ms, sha256: sha(y.data() as Float32Array) });
  adj.free();
  x.free();
  y.free();
  // A short GCN fit: dropout, ReLU, SpMM, GEMM, MSE and Adam, every kernel a training epoch runs.
  const n = 600,
    f = 256,
    feats = Float32Array.from({ length: n * f }, () => rng.nextU32() / 2 ** 32 - 0.5);
  const src = Int32Array.from({ length: 3 * n }, (_, e) => e % n),
    dst = Int32Array.from({ length: 3 * n }, (_, e) => (e * 7 + 1) % n);
  const yv = Float64Array.from({ length: n }, (_, i) => feats[i * f]! + feats[i * f + 1]!);
  const t0 = performance.now();
  const fit = await trainGcnRegressor(
    rt,
    { n, features: feats, f, src, dst, y: yv, train: Int32Array.from({ length: 500 }, (_, i) => i) },
    { ...GCN_GP_DEFAULTS, epochs: 40, patience: 0 },
  );
  out.push({ name: 'GCN fit, 40 epochs', ms: performance.now() - t0, sha256: sha(fit.predictions) });
  await rt.close();
  console.log(JSON.stringify({ backend: rt.backendKind, cases: out }));
}

function parent(): void {
  const self = fileURLToPath(import.meta.url);
  const run = (backend: string, revectorize: boolean): { backend: string; cases: CaseResult[] } | { error: string } => {
    const r = spawnSync(process.execPath, [...(revectorize ? [FLAG] : []), self, '--child'], {
      env: { ...process.env, GRAFT_BACKEND: backend },
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    if (r.status !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ') };
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as { backend: string; cases: CaseResult[] };
  };
  for (const backend of ['simd', 'relaxed']) {
    const off = run(backend, false);
    if ('error' in off) {
      console.log(JSON.stringify({ backend, node: process.version, error: off.error }));
      continue;
    }
    const on = run(backend, true);
    if ('error' in on) {
      console.log(JSON.stringify({ backend, node: process.version, revectorize: 'refused', error: on.error }));
      continue;
    }
    let allSame = true;
    const speedups: number[] = [];
    off.cases.forEach((c, i) => {
      const d = on.cases[i]!,
        same = c.sha256 === d.sha256,
        speedup = c.ms / d.ms;
      allSame &&= same;
      speedups.push(speedup);
      console.log(
        JSON.stringify({
          backend: off.backend,
          node: process.version,
          case: c.name,
          ms: +c.ms.toFixed(3),
          ms_revectorized: +d.ms.toFixed(3),
          ...(c.gflops !== undefined
            ? { gflops: +c.gflops.toFixed(2), gflops_revectorized: +d.gflops!.toFixed(2) }
            : {}),
          speedup: +speedup.toFixed(3),
          bitwise_same: same,
        }),
      );
    });
    const geo = Math.exp(speedups.reduce((s, v) => s + Math.log(v), 0) / speedups.length);
    console.log(
      JSON.stringify({
        backend: off.backend,
        node: process.version,
        summary: true,
        geomean_speedup: +geo.toFixed(3),
        min_speedup: +Math.min(...speedups).toFixed(3),
        bitwise_same: allSame,
      }),
    );
  }
}

if (process.argv.includes('--child')) {
  child().catch((err: unknown) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  });
} else {
  parent();
}
