import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { plantedPartition } from '../src/data/synthetic.js';
import { CsrMatrix } from '../src/graph/csr.js';
import { gcnNorm } from '../src/graph/gcn-norm.js';
import { Tensor } from '../src/memory/tensor.js';
import { gcnStack } from '../src/nn/gcn-stack.js';
import type { PassContext } from '../src/nn/layer.js';
import { densityOf, SparseFeatures, sparseInputModel } from '../src/nn/sparse-input.js';
import { softmaxCrossEntropy } from '../src/ops/losses.js';
import { Runtime } from '../src/runtime/runtime.js';
import { KIPF_DEFAULTS, trainNodeClassifier } from '../src/train/node-trainer.js';
import { closeness } from './helpers.js';

// Sparse input features (bag-of-words, binary): X·W as an SpMM, dropout on the nonzeros,
// dW = Xᵀ·(Â·G) through the transposed CSR. Held to the dense path and to finite differences.
const rt = await Runtime.create({ threads: 2 });
afterAll(() => rt.close());

describe('CSR for features', () => {
  it('fromDense keeps the nonzeros in column order; transposed() and its order map the values', () => {
    const d = [0, 2, 0, 3, 0, 0, 0, 0, 4, 5, 0, 6];
    const x = CsrMatrix.fromDense(rt.heap, 3, 4, d);
    expect(Array.from(x.rowPtr.data())).toEqual([0, 2, 2, 5]);
    expect(Array.from(x.colIdx.data())).toEqual([1, 3, 0, 1, 3]);
    expect(Array.from(x.vals.data())).toEqual([2, 3, 4, 5, 6]);
    const f = SparseFeatures.fromCsr(x);
    const t = f.xT;
    expect([t.rows, t.cols]).toEqual([4, 3]);
    expect(Array.from(t.rowPtr.data())).toEqual([0, 1, 3, 3, 5]);
    expect(Array.from(t.colIdx.data())).toEqual([2, 0, 2, 0, 2]);
    expect(Array.from(t.vals.data())).toEqual([4, 2, 5, 3, 6]);
    const v = Tensor.from(rt.heap, 'float32', [5], [10, 20, 30, 40, 50]) as Tensor<'float32'>;
    const tv = f.transposeValues(rt.heap, v);
    expect(Array.from(tv.data())).toEqual([30, 10, 40, 20, 50]);
    expect(() => x.withValues(Tensor.zeros(rt.heap, 'float32', [4]) as Tensor<'float32'>)).toThrow(
      "CsrMatrix.withValues: argument 'vals' must be 5 values (one per nonzero), got 4",
    );
    expect(densityOf(d)).toBeCloseTo(5 / 12, 12);
    v.free();
    tv.free();
    f.free();
  });
});

describe('sparse input features', () => {
  it('without dropout, training on sparse features follows the dense run (same weights, same init, same curve)', async () => {
    const data = plantedPartition({ nodes: 400, features: 48, seed: 5 });
    const config = { ...KIPF_DEFAULTS, dropout: 0, epochs: 15, patience: 0 };
    const dense = await trainNodeClassifier(rt, data, { ...config, featureFormat: 'dense' });
    const sparse = await trainNodeClassifier(rt, data, { ...config, featureFormat: 'sparse' });
    expect([dense.sparseFeatures, sparse.sparseFeatures]).toEqual([false, true]);
    const curve = (r: typeof dense): number[] => r.history.flatMap((h) => [h.train_loss, h.val_loss]);
    expect(closeness(curve(sparse), curve(dense), 1e-6, 1e-5)).toBeLessThanOrEqual(1);
    for (const [name, w] of dense.weights)
      expect(closeness(sparse.weights.get(name)!, w, 1e-6, 1e-4), name).toBeLessThanOrEqual(1);
    expect(Array.from(sparse.predictions)).toEqual(Array.from(dense.predictions));
  });

  it("'auto' keeps features sparse below the density threshold and dense above it", async () => {
    const sparseData = plantedPartition({ nodes: 200, features: 32, seed: 1 });
    const denseData = {
      ...sparseData,
      features: Float32Array.from(sparseData.features, (v, i) => v + 0.01 * ((i % 7) + 1)),
    };
    const cfg = { ...KIPF_DEFAULTS, epochs: 2, patience: 0 };
    expect((await trainNodeClassifier(rt, sparseData, cfg)).sparseFeatures).toBe(true);
    expect((await trainNodeClassifier(rt, denseData, cfg)).sparseFeatures).toBe(false);
  });

  it('with dropout on the nonzeros, the gradients match finite differences of the loss', async () => {
    const n = 30,
      f = 10,
      c = 3,
      rng = new Rng(8);
    const src: number[] = [],
      dst: number[] = [];
    for (let e = 0; e < 60; e++) {
      src.push(Math.floor(rng.next() * n));
      dst.push(Math.floor(rng.next() * n));
    }
    const adj = gcnNorm(rt.heap, n, src, dst);
    const dense = Float32Array.from({ length: n * f }, () => (rng.next() < 0.3 ? rng.next() + 0.5 : 0));
    const feats = SparseFeatures.fromCsr(CsrMatrix.fromDense(rt.heap, n, f, dense));
    const layers = gcnStack(rt.heap, new Rng(2), () => ({ adj }), {
      inFeatures: f,
      hidden: 6,
      layers: 2,
      dropout: 0.4,
      inputDropout: true,
      out: c,
      weightDecay: () => 0,
    });
    const model = sparseInputModel(rt.heap, layers, feats, () => ({ adj }));
    const labels = Tensor.from(
      rt.heap,
      'int32',
      [n],
      Array.from({ length: n }, (_, i) => i % c),
    );
    const ctx: PassContext = { exec: rt.exec, training: true, seed: 4, step: 3 }; // same masks every pass
    const lossNow = async (): Promise<number> => {
      const out = await model.forward(ctx, undefined);
      const l = await softmaxCrossEntropy(rt.exec, out, labels);
      l.grad.free();
      model.release();
      return l.loss;
    };
    const out = await model.forward(ctx, undefined);
    const l = await softmaxCrossEntropy(rt.exec, out, labels);
    await model.backward(ctx, l.grad);
    l.grad.free();
    let checked = 0;
    for (const p of model.params()) {
      const w = p.value.data() as Float32Array,
        g = (p.grad.data() as Float32Array).slice();
      for (const i of [0, Math.floor(w.length / 2), w.length - 1]) {
        const w0 = w[i]!,
          h = 2e-3;
        w[i] = w0 + h;
        const up = await lossNow();
        w[i] = w0 - h;
        const down = await lossNow();
        w[i] = w0;
        const fd = (up - down) / (2 * h);
        expect(Math.abs(fd - g[i]!), `${p.name}[${i}]`).toBeLessThan(2e-3 + 0.03 * Math.abs(fd));
        checked++;
      }
    }
    expect(checked).toBe(12);
    model.dispose();
    feats.free();
    adj.free();
    labels.free();
  });
});
