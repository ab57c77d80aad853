// The int8 GEMM (quantizeU7 + gemmI8) against the float GEMM (gemmNN) on one thread, on
// Cora-, PubMed-, molecule- and arxiv-like shapes: the README's int8 kernel rates. Run after
// npm run build:  node bench/int8-kernels.mjs [relaxed|simd]
// On Node 20, the relaxed build needs --experimental-wasm-relaxed-simd, which the engine sets
// itself (kernels/wasm.ts) before it compiles.
import { Heap } from '../dist/src/memory/heap.js';
import { Tensor } from '../dist/src/memory/tensor.js';
import { createBackend } from '../dist/src/kernels/wasm.js';
import { Int8Weight } from '../dist/src/ops/int8.js';
import { quantizeWeight, activationQuant } from '../dist/src/quant/int8.js';
const heap = new Heap({ initialBytes: 256 << 20 });
const kind = process.argv[2] ?? 'relaxed';
const be = createBackend(kind, heap.memory);
for (const [m, k, n] of [
  [2708, 1433, 16],
  [19717, 500, 16],
  [3200, 32, 128],
  [3200, 128, 128],
  [169343, 128, 256],
]) {
  const X = Tensor.empty(heap, 'float32', [m, k]);
  const xd = X.data();
  for (let i = 0; i < xd.length; i++) xd[i] = Math.random();
  const w = Float32Array.from({ length: k * n }, () => Math.random() - 0.5);
  const W = Tensor.from(heap, 'float32', [k, n], w);
  const { q, weightScale } = quantizeWeight(w, k, n);
  const iw = Int8Weight.create(heap, { q, k, out: n, weightScale, ...activationQuant(0, 1) });
  const Q = Tensor.empty(heap, 'uint8', [m, iw.kPad]);
  const Y = Tensor.empty(heap, 'float32', [m, n]);
  const t = (f) => {
    for (let i = 0; i < 3; i++) f();
    const ts = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      f();
      ts.push(performance.now() - t0);
    }
    ts.sort((a, b) => a - b);
    return ts[3];
  };
  const tq = t(() => be.quantizeU7(X.ptr, k, Q.ptr, iw.kPad, k, iw.inv, 0, 0, m));
  const tg = t(() => be.gemmI8(Q.ptr, iw.kPad, iw.q.ptr, iw.wsum.ptr, iw.scale.ptr, 0, Y.ptr, n, n, 0, m));
  const tf = t(() => be.gemmNN(X.ptr, k, W.ptr, n, Y.ptr, n, n, k, 0, m));
  console.log(
    kind,
    `${m}x${k}x${n}`,
    'quant',
    tq.toFixed(2),
    'gemmI8',
    tg.toFixed(2),
    `(${((2 * m * k * n) / tg / 1e6).toFixed(1)} Gop/s)`,
    'gemmNN',
    tf.toFixed(2),
    `(${((2 * m * k * n) / tf / 1e6).toFixed(1)} GFLOP/s)`,
  );
  X.free();
  W.free();
  Q.free();
  Y.free();
  iw.free();
}
