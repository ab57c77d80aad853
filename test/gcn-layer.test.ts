import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { gcnNorm } from '../src/graph/gcn-norm.js';
import { Tensor } from '../src/memory/tensor.js';
import type { PassContext } from '../src/nn/layer.js';
import { GCNConv, ReLU, type Propagation } from '../src/nn/layers.js';
import { Sequential } from '../src/nn/sequential.js';
import { Runtime } from '../src/runtime/runtime.js';
import { bitsEqual, closeness, randn } from './helpers.js';

// GCNConv picks the narrower side: Â·(X·W) when it narrows, (Â·X)·W when it widens, with Â·X
// cached for a constant input. Each path is held to the dense float64 formula H = ÂXW + b,
// and cached to uncached bitwise.
const rt = await Runtime.create({ threads: 2 });
afterAll(() => rt.close());

function denseHat(n: number, src: number[], dst: number[]): Float64Array {
  const a = new Float64Array(n * n);
  const add = (i: number, j: number): void => {
    a[i * n + j] = a[i * n + j]! + 1;
  };
  for (let e = 0; e < src.length; e++) {
    add(src[e]!, dst[e]!);
    if (src[e] !== dst[e]) add(dst[e]!, src[e]!);
  }
  for (let i = 0; i < n; i++) add(i, i);
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) d[i] = d[i]! + a[i * n + j]!;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = a[i * n + j]! / Math.sqrt(d[i]! * d[j]!);
  return a;
}

describe('GCNConv', () => {
  for (const [fin, fout] of [
    [12, 5],
    [5, 12],
  ] as const) {
    it(`${fin} → ${fout} (${fin < fout ? '(ÂX)·W' : 'Â·(XW)'}) equals ÂXW + b; a constant input's cached ÂX gives the same bits`, async () => {
      const n = 37,
        rng = new Rng(4);
      const src: number[] = [],
        dst: number[] = [];
      for (let e = 0; e < 70; e++) {
        src.push(Math.floor(rng.next() * n));
        dst.push(Math.floor(rng.next() * n));
      }
      const adj = gcnNorm(rt.heap, n, src, dst);
      const prop: Propagation = { adj };
      const plain = new GCNConv(rt.heap, 'g', fin, fout, new Rng(9), () => prop);
      const cached = new GCNConv(rt.heap, 'g', fin, fout, new Rng(9), () => prop, { constantInput: true });
      expect(plain.propagateFirst).toBe(fin < fout);
      const bias = Float32Array.from({ length: fout }, (_, j) => 0.1 * j - 0.2);
      for (const l of [plain, cached]) l.lin.bias!.value.data().set(bias);
      const x = Tensor.from(rt.heap, 'float32', [n, fin], randn(n * fin, 5));
      const ctx: PassContext = { exec: rt.exec, training: true, seed: 1, step: 1 };
      const y0 = await plain.forward(ctx, x);
      const want = new Float64Array(n * fout);
      const hat = denseHat(n, src, dst),
        xv = x.data(),
        w = plain.lin.weight.value.data();
      for (let i = 0; i < n; i++)
        for (let o = 0; o < fout; o++) {
          let s = bias[o]!;
          for (let j = 0; j < n; j++) {
            if (hat[i * n + j] === 0) continue;
            let xw = 0;
            for (let k = 0; k < fin; k++) xw += xv[j * fin + k]! * w[k * fout + o]!;
            s += hat[i * n + j]! * xw;
          }
          want[i * fout + o] = s;
        }
      expect(closeness(y0.data() as Float32Array, want, 1e-5, 1e-5)).toBeLessThanOrEqual(1);
      // Three passes through the cached layer (the first fills the cache) equal the plain one.
      for (let pass = 0; pass < 3; pass++) {
        const y = await cached.forward(ctx, x);
        expect(bitsEqual(y.data() as Float32Array, y0.data() as Float32Array)).toBe(true);
        const g = Tensor.from(rt.heap, 'float32', [n, fout], randn(n * fout, 6));
        const gx = await cached.backward(ctx, g, true);
        y.free();
        if (pass === 0) {
          const gxPlain = await plain.backward(ctx, g, true);
          expect(bitsEqual(gx!.data() as Float32Array, gxPlain!.data() as Float32Array)).toBe(true);
          expect(
            bitsEqual(cached.lin.weight.grad.data() as Float32Array, plain.lin.weight.grad.data() as Float32Array),
          ).toBe(true);
          gxPlain!.free();
        }
        gx!.free();
        g.free();
      }
      y0.free();
      const blocks = rt.heap.stats().blocks;
      plain.dispose();
      cached.dispose();
      // Each layer freed its weight, bias and their gradients; the cached one its ÂX too.
      expect(blocks - rt.heap.stats().blocks).toBe(8 + (fin < fout ? 1 : 0));
      x.free();
      adj.free();
    });
  }

  for (const [fin, fout] of [
    [12, 5],
    [5, 12],
  ] as const) {
    it(`${fin} → ${fout}: in a Sequential, GCN then ReLU runs the ReLU in the GCN's epilogue and its backward in the GCN's bias-gradient pass; output and gradients equal the layers run one by one, bit for bit`, async () => {
      const n = 41,
        rng = new Rng(8);
      const src: number[] = [],
        dst: number[] = [];
      for (let e = 0; e < 90; e++) {
        src.push(Math.floor(rng.next() * n));
        dst.push(Math.floor(rng.next() * n));
      }
      const adj = gcnNorm(rt.heap, n, src, dst);
      const prop: Propagation = { adj };
      const make = (): [GCNConv, ReLU, GCNConv] => {
        const a = new GCNConv(rt.heap, 'a', fin, fout, new Rng(3), () => prop),
          b = new GCNConv(rt.heap, 'b', fout, 3, new Rng(4), () => prop);
        // Biases that straddle zero, so the ReLU cuts some outputs and keeps others.
        a.lin.bias!.value.data().set(Float32Array.from({ length: fout }, (_, j) => 0.3 * (j % 3) - 0.3));
        return [a, new ReLU(), b];
      };
      const x = Tensor.from(rt.heap, 'float32', [n, fin], randn(n * fin, 11));
      const g = Tensor.from(rt.heap, 'float32', [n, 3], randn(n * 3, 12));
      const ctx: PassContext = { exec: rt.exec, training: true, seed: 1, step: 1 };
      const fusedLayers = make(),
        seq = new Sequential(fusedLayers);
      const y = await seq.forward(ctx, x);
      const yFused = (y.data() as Float32Array).slice();
      const ran: string[] = [],
        run = rt.exec.run.bind(rt.exec);
      rt.exec.run = (name, ...rest) => {
        ran.push(name);
        return run(name, ...rest);
      };
      let gxFused: Tensor | null;
      try {
        gxFused = await seq.backward(ctx, g, true);
      } finally {
        rt.exec.run = run;
      }
      // The fused way back ran: one pass for the ReLU and a's bias, none of the separate ones.
      expect(ran.filter((k) => k === 'reluBackwardColSum')).toHaveLength(1);
      expect(ran.filter((k) => k === 'reluBackward')).toHaveLength(0);
      expect(ran.filter((k) => k === 'colSum')).toHaveLength(1); // b's bias, no ReLU above it
      // The same layers one by one: the GCN's own bias pass, then the ReLU layer's pass.
      const [a, r, b] = make();
      const h1 = await a.forward(ctx, x),
        h2 = await r.forward(ctx, h1),
        h3 = await b.forward(ctx, h2);
      expect(bitsEqual(yFused, h3.data() as Float32Array)).toBe(true);
      const cut = (h1.data() as Float32Array).filter((v) => v < 0).length;
      expect(cut).toBeGreaterThan(0); // the test would not see a missing ReLU otherwise
      expect(cut).toBeLessThan(h1.size);
      const g3 = await b.backward(ctx, g, true),
        g2 = await r.backward(ctx, g3!, true),
        gx = await a.backward(ctx, g2!, true);
      expect(bitsEqual(gxFused!.data() as Float32Array, gx!.data() as Float32Array)).toBe(true);
      for (const [p, q] of [
        [fusedLayers[0], a],
        [fusedLayers[2], b],
      ] as const) {
        expect(bitsEqual(p.lin.weight.grad.data() as Float32Array, q.lin.weight.grad.data() as Float32Array)).toBe(
          true,
        );
        expect(bitsEqual(p.lin.bias!.grad.data() as Float32Array, q.lin.bias!.grad.data() as Float32Array)).toBe(true);
      }
      for (const t of [h1, h2, h3, g3!, g2!, gx!, gxFused!, x, g]) t.free();
      seq.dispose();
      a.dispose();
      b.dispose();
      adj.free();
    });
  }
});
