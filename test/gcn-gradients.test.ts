// Reverse-mode gradients of the layers, checked against central finite differences of the
// loss, with the tape of a real model: dropout → GCN → ReLU → dropout → GCN → softmax CE,
// and GCN → ReLU → mean pool → Linear → BCE for the graph-level path.
import { afterAll, describe, expect, it } from 'vitest';
import { gcnNorm } from '../src/graph/gcn-norm.js';
import type { Parameter, PassContext } from '../src/nn/layer.js';
import { Dropout, GCNConv, GraphPool, Linear, ReLU, type Propagation } from '../src/nn/layers.js';
import { Rng } from '../src/core/random.js';
import { Sequential } from '../src/nn/sequential.js';
import { appnpStack, PersonalizedPageRank } from '../src/nn/appnp.js';
import { bceWithLogits, mseLoss, softmaxCrossEntropy, type LossResult } from '../src/ops/losses.js';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/memory/tensor.js';
import { randn } from './helpers.js';

// The loss is summed in f64, so central differences with h = 2e-3 on f32 weights resolve the
// gradient to a few parts in a thousand; the tolerance is 3% relative plus 2e-3.
const rt = await Runtime.create({ threads: 2 });
afterAll(() => rt.close());

async function check(
  model: Sequential,
  x: Tensor,
  loss: (out: Tensor) => Promise<LossResult>,
  ctx: PassContext,
): Promise<void> {
  const total = async (): Promise<number> => {
    const out = await model.forward(ctx, x);
    const l = await loss(out);
    l.grad.free();
    model.release();
    return l.loss;
  };
  const out = await model.forward(ctx, x);
  const l = await loss(out);
  await model.backward(ctx, l.grad);
  l.grad.free();
  const params: Parameter[] = model.params();
  let checked = 0;
  for (const p of params) {
    const w = p.value.data() as Float32Array,
      g = (p.grad.data() as Float32Array).slice();
    for (const i of [0, Math.floor(w.length / 3), w.length - 1]) {
      const w0 = w[i]!,
        h = 2e-3;
      w[i] = w0 + h;
      const up = await total();
      w[i] = w0 - h;
      const down = await total();
      w[i] = w0;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - g[i]!), `${p.name}[${i}]: backprop ${g[i]}, finite difference ${fd}`).toBeLessThan(
        2e-3 + 0.03 * Math.abs(fd),
      );
      checked++;
    }
  }
  expect(checked).toBe(params.length * 3);
}

describe('gradients against finite differences', () => {
  it('node model: dropout, GCNConv, ReLU, softmax cross-entropy', async () => {
    const n = 40,
      f = 12,
      c = 4;
    const rng = new Rng(3);
    const src: number[] = [],
      dst: number[] = [];
    for (let e = 0; e < 80; e++) {
      src.push(Math.floor(rng.next() * n));
      dst.push(Math.floor(rng.next() * n));
    }
    const adj = gcnNorm(rt.heap, n, src, dst);
    const prop: Propagation = { adj };
    const model = new Sequential([
      new Dropout(0.3, 0),
      new GCNConv(rt.heap, 'g0', f, 8, rng, () => prop),
      new ReLU(),
      new Dropout(0.3, 1),
      new GCNConv(rt.heap, 'g1', 8, c, rng, () => prop),
    ]);
    const x = Tensor.from(rt.heap, 'float32', [n, f], randn(n * f, 1));
    const labels = Tensor.from(
      rt.heap,
      'int32',
      [n],
      Array.from({ length: n }, (_, i) => i % c),
    );
    const mask = Tensor.from(
      rt.heap,
      'uint8',
      [n],
      Array.from({ length: n }, (_, i) => i % 2),
    );
    // Same (seed, step) each pass: the dropout masks are identical in every evaluation.
    await check(model, x, (out) => softmaxCrossEntropy(rt.exec, out, labels, { mask }), {
      exec: rt.exec,
      training: true,
      seed: 9,
      step: 4,
    });
    model.dispose();
  });

  it('graph model: GCNConv, ReLU, mean pooling, Linear, BCE with missing labels', async () => {
    const sizes = [5, 1, 7, 3];
    const offsets = [0];
    for (const s of sizes) offsets.push(offsets[offsets.length - 1]! + s);
    const n = offsets[offsets.length - 1]!;
    const src: number[] = [],
      dst: number[] = [];
    sizes.forEach((s, g) => {
      for (let i = 1; i < s; i++) {
        src.push(offsets[g]! + i - 1);
        dst.push(offsets[g]! + i);
      }
    });
    const adj = gcnNorm(rt.heap, n, src, dst);
    const prop: Propagation = { adj };
    const off = Tensor.from(rt.heap, 'int32', [sizes.length + 1], offsets);
    const rng = new Rng(5);
    const model = new Sequential([
      new GCNConv(rt.heap, 'g0', 6, 10, rng, () => prop),
      new ReLU(),
      new GraphPool('mean', () => off),
      new Linear(rt.heap, 'out', 10, 3, rng),
    ]);
    const x = Tensor.from(rt.heap, 'float32', [n, 6], randn(n * 6, 2));
    const y = Tensor.from(rt.heap, 'float32', [4, 3], [1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0]);
    const lm = Tensor.from(rt.heap, 'uint8', [4, 3], [1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1]);
    await check(model, x, (out) => bceWithLogits(rt.exec, out, y, { labelMask: lm }), {
      exec: rt.exec,
      training: true,
      seed: 1,
      step: 1,
    });
    model.dispose();
  });

  it('widening GCN layers propagate first, (ÂX)·W, with the cached ÂX on the first: input gradients through Â·(G·Wᵀ)', async () => {
    const n = 30,
      rng = new Rng(11);
    const src: number[] = [],
      dst: number[] = [];
    for (let e = 0; e < 50; e++) {
      src.push(Math.floor(rng.next() * n));
      dst.push(Math.floor(rng.next() * n));
    }
    const adj = gcnNorm(rt.heap, n, src, dst);
    const prop: Propagation = { adj };
    const g0 = new GCNConv(rt.heap, 'g0', 4, 9, rng, () => prop, { constantInput: true });
    const g1 = new GCNConv(rt.heap, 'g1', 9, 12, rng, () => prop);
    const model = new Sequential([g0, new ReLU(), g1, new ReLU(), new GCNConv(rt.heap, 'g2', 12, 3, rng, () => prop)]);
    expect([g0.propagateFirst, g1.propagateFirst]).toEqual([true, true]);
    const x = Tensor.from(rt.heap, 'float32', [n, 4], randn(n * 4, 3));
    const labels = Tensor.from(
      rt.heap,
      'int32',
      [n],
      Array.from({ length: n }, (_, i) => i % 3),
    );
    await check(model, x, (out) => softmaxCrossEntropy(rt.exec, out, labels), {
      exec: rt.exec,
      training: true,
      seed: 2,
      step: 1,
    });
    model.dispose();
  });

  it('APPNP: MLP (dropout, Linear, ReLU, Linear), then 10 steps of personalized PageRank, MSE', async () => {
    const n = 40,
      f = 10;
    const rng = new Rng(8);
    const src: number[] = [],
      dst: number[] = [];
    for (let e = 0; e < 90; e++) {
      src.push(Math.floor(rng.next() * n));
      dst.push(Math.floor(rng.next() * n));
    }
    const adj = gcnNorm(rt.heap, n, src, dst);
    const prop: Propagation = { adj };
    const model = new Sequential(
      appnpStack(rt.heap, rng, () => prop, {
        inFeatures: f,
        hidden: 8,
        out: 2,
        dropout: 0.2,
        weightDecay: 0,
        steps: 10,
        alpha: 0.1,
      }),
    );
    const x = Tensor.from(rt.heap, 'float32', [n, f], randn(n * f, 9));
    const y = Tensor.from(rt.heap, 'float32', [n, 2], randn(n * 2, 10));
    await check(model, x, (out) => mseLoss(rt.exec, out, y), { exec: rt.exec, training: true, seed: 4, step: 2 });
    // The propagation itself, against its formula by hand: Z = Σ_k α(1 − α)^k Â^k H + (1 − α)^K Â^K H.
    const ppr = new PersonalizedPageRank(3, 0.25, () => prop);
    const z = await ppr.forward({ exec: rt.exec, training: false, seed: 0, step: 0 }, x);
    const rowPtr = adj.rowPtr.data() as Int32Array,
      col = adj.colIdx.data() as Int32Array,
      val = adj.vals.data() as Float32Array;
    const prop1 = (v: Float64Array): Float64Array => {
      const o = new Float64Array(n * f);
      for (let i = 0; i < n; i++)
        for (let p = rowPtr[i]!; p < rowPtr[i + 1]!; p++)
          for (let c = 0; c < f; c++) o[i * f + c]! += val[p]! * v[col[p]! * f + c]!;
      return o;
    };
    const h = Float64Array.from(x.data() as Float32Array);
    let zz = h;
    for (let k = 0; k < 3; k++) {
      const t = prop1(zz);
      zz = Float64Array.from(t, (v, i) => 0.75 * v + 0.25 * h[i]!);
    }
    const got = z.data() as Float32Array;
    for (let i = 0; i < n * f; i++) expect(got[i]).toBeCloseTo(zz[i]!, 4);
    z.free();
    ppr.release();
    model.dispose();
    x.free();
    y.free();
    adj.free();
  });
});
