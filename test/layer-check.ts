// Shared checks for the message-passing layers (test/layers-*.test.ts): gradients against
// central finite differences, 1 against 2 threads bit for bit, and awkward graphs.
import { expect } from 'vitest';
import { Rng } from '../src/core/random.js';
import type { Layer, PassContext } from '../src/nn/layer.js';
import { Tensor } from '../src/memory/tensor.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { randn } from './helpers.js';

/** Random edges over `nodes` nodes, with a self loop, a duplicated edge and the last node isolated. */
export function awkwardEdges(nodes: number, edges: number, seed: number): { src: number[]; dst: number[] } {
  const r = new Rng(seed),
    src: number[] = [],
    dst: number[] = [];
  const live = Math.max(1, nodes - 1); // node nodes-1 has no edge at all (when nodes > 1)
  for (let e = 0; e < edges; e++) {
    src.push(Math.floor(r.next() * live));
    dst.push(Math.floor(r.next() * live));
  }
  if (nodes > 1) {
    src.push(0, 1, 1);
    dst.push(0, 0, 0);
  } // a self loop on 0, and 1 → 0 twice (plus any drawn)
  return { src, dst };
}

/**
 * Backprop against central differences of L = Σ w ⊙ layer(x) (w fixed, summed in f64), at
 * three entries of every parameter and of x. f32 forward passes with h = 5e-3 resolve the
 * gradient to about 1e-4 on these small graphs; the tolerance is 3% relative plus 2e-3 (a ReLU
 * kink within h of an entry would show as a failure of a fixed seed, not a flake: deep stacks
 * of ReLUs, as D-MPNN's, take a smaller h).
 */
export async function gradCheck(layer: Layer, x: Tensor, ctx: PassContext, seed = 1, h = 5e-3): Promise<number> {
  const y0 = await layer.forward(ctx, x);
  const w = randn(y0.size, seed);
  const loss = (y: Tensor): number => {
    const d = y.data() as Float32Array;
    let s = 0;
    for (let i = 0; i < d.length; i++) s += w[i]! * d[i]!;
    return s;
  };
  const gy = Tensor.from(x.heap, 'float32', y0.shape, w);
  const gx = await layer.backward(ctx, gy, true);
  gy.free();
  y0.free();
  expect(gx!.shape).toEqual(x.shape);
  const grads = new Map(layer.params().map((p) => [p.name, (p.grad.data() as Float32Array).slice()]));
  const gxv = (gx!.data() as Float32Array).slice();
  gx!.free();
  const total = async (): Promise<number> => {
    const y = await layer.forward(ctx, x);
    const l = loss(y);
    y.free();
    layer.release();
    return l;
  };
  let checked = 0;
  const probe = async (name: string, v: Float32Array, g: Float32Array): Promise<void> => {
    for (const i of [0, Math.floor(v.length / 3), v.length - 1]) {
      const v0 = v[i]!;
      v[i] = v0 + h;
      const up = await total();
      v[i] = v0 - h;
      const down = await total();
      v[i] = v0;
      const fd = (up - down) / (2 * h);
      expect(Math.abs(fd - g[i]!), `${name}[${i}]: backprop ${g[i]}, finite difference ${fd}`).toBeLessThan(
        2e-3 + 0.03 * Math.abs(fd),
      );
      checked++;
    }
  };
  for (const p of layer.params()) await probe(p.name, p.value.data() as Float32Array, grads.get(p.name)!);
  await probe('x', x.data() as Float32Array, gxv);
  return checked;
}

/** Output, input gradient and every parameter gradient of one forward and backward pass, as copies. */
export async function passResults(layer: Layer, x: Tensor, ctx: PassContext, seed = 7): Promise<Float32Array[]> {
  const y = await layer.forward(ctx, x);
  const gy = Tensor.from(x.heap, 'float32', y.shape, randn(y.size, seed));
  const out = [(y.data() as Float32Array).slice()];
  const gx = await layer.backward(ctx, gy, true);
  out.push((gx!.data() as Float32Array).slice(), ...layer.params().map((p) => (p.grad.data() as Float32Array).slice()));
  for (const t of [y, gy, gx!]) t.free();
  return out;
}

export const trainCtx = (rt: Runtime, step = 1): PassContext => ({ exec: rt.exec, training: true, seed: 3, step });
export const evalCtx = (rt: Runtime): PassContext => ({ exec: rt.exec, training: false, seed: 3, step: 0 });

/** Row-major f32 [r, c] as f64 rows, for the dense references. */
export function rows(t: Tensor | Float32Array, r: number, c: number): number[][] {
  const d = t instanceof Tensor ? (t.data() as Float32Array) : t;
  return Array.from({ length: r }, (_, i) => Array.from(d.subarray(i * c, (i + 1) * c)));
}

/** x·W + b in f64 for W [in, out] row-major. */
export function affine(x: number[], w: Float32Array, out: number, b?: Float32Array): number[] {
  const y = new Array<number>(out).fill(0);
  for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < x.length; i++) s += x[i]! * w[i * out + o]!;
    y[o] = s;
  }
  return y;
}

/** Largest |got − want| / (atol + rtol·|want|) over a [r, c] output. */
export function worst(got: Float32Array, want: number[][], atol = 1e-5, rtol = 1e-4): number {
  let m = 0;
  want.forEach((row, i) => {
    row.forEach((v, j) => {
      m = Math.max(m, Math.abs(got[i * row.length + j]! - v) / (atol + rtol * Math.abs(v)));
    });
  });
  return m;
}
