import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { Tensor } from '../src/memory/tensor.js';
import { type BnnBatch, type BnnNet, bnnElbo, bnnParams, createBnnNet, freeBnnNet } from '../src/microbiome/bnn.js';
import {
  gaussianKl,
  localReparamBackward,
  localReparamForward,
  normals,
  softplus,
  type BnnLayer,
  type LayerGrads,
} from '../src/microbiome/bnn-layer.js';
import type { Exec } from '../src/runtime/exec.js';
import { Runtime } from '../src/runtime/runtime.js';
import { bitsEqual } from './helpers.js';

// The BNN's training step computes σ = softplus(ρ) and sigmoid(ρ) once per step and draws its
// noise into one array (bnn.ts, for speed). Oracle: the straightforward step, written here from
// the layer functions with nothing cached (σ recomputed by each pass, the KL and its gradient,
// one noise stream per row through a callback, new arrays everywhere) — the ELBO as it was
// computed before. The two must give the same bits: loss, NLL, KL and every gradient.

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
});
afterAll(async () => {
  await rt.close();
});

async function referenceElbo(
  exec: Exec,
  net: BnnNet,
  b: BnnBatch,
  trainRows: number,
  s: { priorSd: number; klWeight: number },
  key: number[],
): Promise<{ loss: number; nll: number; kl: number; grads: Float64Array[] }> {
  const heap = exec.heap;
  const [l0, l1] = net.layers as [BnnLayer, BnnLayer];
  const rows = b.ids.length,
    p = l0.fanIn,
    h = l0.fanOut,
    width = l1.fanOut;
  const x = Tensor.from(heap, 'float32', [rows, p], b.x);
  const x2 = Tensor.from(
    heap,
    'float32',
    [rows, p],
    b.x.map((v) => v * v),
  );
  const pass0 = await localReparamForward(exec, l0, x, x2, (r) => normals(h, ...key, 0, b.ids[r]!));
  const hid = Float32Array.from(pass0.out, (v) => Math.max(v, 0));
  const hT = Tensor.from(heap, 'float32', [rows, h], hid);
  const h2T = Tensor.from(
    heap,
    'float32',
    [rows, h],
    hid.map((v) => v * v),
  );
  const pass1 = await localReparamForward(exec, l1, hT, h2T, (r) => normals(width, ...key, 1, b.ids[r]!));
  const g = new Float64Array(rows * width);
  let nll = 0,
    gNoise = 0;
  if (b.labels) {
    for (let r = 0; r < rows; r++) {
      const z = pass1.out.subarray(r * width, r * width + width);
      const top = Math.max(...z);
      let sum = 0;
      for (const v of z) sum += Math.exp(v - top);
      const y = b.labels[r]!;
      nll += top + Math.log(sum) - z[y]!;
      for (let c = 0; c < width; c++) g[r * width + c] = (Math.exp(z[c]! - top) / sum - (c === y ? 1 : 0)) / rows;
    }
  } else {
    const tau = (net.logNoise!.data() as Float32Array)[0]!,
      prec = Math.exp(-2 * tau);
    for (let r = 0; r < rows; r++) {
      const d = pass1.out[r]! - b.target![r]!;
      nll += 0.5 * d * d * prec + tau + 0.5 * Math.log(2 * Math.PI);
      g[r] = (d * prec) / rows;
      gNoise += (1 - d * d * prec) / rows;
    }
  }
  nll /= rows;
  let kl = 0;
  for (const l of net.layers)
    for (const [mu, rho] of [
      [l.muW, l.rhoW],
      [l.muB, l.rhoB],
    ] as const) {
      const md = mu.data() as Float32Array,
        rd = rho.data() as Float32Array;
      for (let i = 0; i < md.length; i++) kl += gaussianKl(md[i]!, softplus(rd[i]!), s.priorSd);
    }
  const klScale = s.klWeight / trainRows;
  const back1 = await localReparamBackward(exec, l1, hT, h2T, pass1, g, true);
  const g0 = Float64Array.from(back1.gx!, (v, k) => (pass0.out[k]! > 0 ? v : 0));
  const back0 = await localReparamBackward(exec, l0, x, x2, pass0, g0, false);
  const layerGrads: LayerGrads[] = [back0.grads, back1.grads];
  const grads: Float64Array[] = [];
  net.layers.forEach((l, i) => {
    const lg = layerGrads[i]!;
    for (const [mu, rho, gm, gr] of [
      [l.muW, l.rhoW, lg.muW, lg.rhoW],
      [l.muB, l.rhoB, lg.muB, lg.rhoB],
    ] as const) {
      const md = mu.data() as Float32Array,
        rd = rho.data() as Float32Array,
        s2 = s.priorSd * s.priorSd;
      for (let k = 0; k < md.length; k++) {
        const sigma = softplus(rd[k]!);
        gm[k]! += (klScale * md[k]!) / s2;
        gr[k]! += klScale * (-1 / sigma + sigma / s2) * (1 / (1 + Math.exp(-rd[k]!)));
      }
    }
    grads.push(lg.muW, lg.rhoW, lg.muB, lg.rhoB);
  });
  if (net.logNoise) grads.push(Float64Array.of(gNoise));
  for (const t of [x, x2, hT, h2T]) t.free();
  return { loss: nll + klScale * kl, nll, kl, grads };
}

describe('the BNN training step against the uncached reference', () => {
  it('loss, NLL, KL and every gradient are the same bits, classes and regression, awkward sizes', async () => {
    for (const [regression, p, h, rows] of [
      [false, 7, 17, 9],
      [true, 5, 8, 1],
      [false, 33, 64, 64],
    ] as const) {
      const width = regression ? 1 : 3;
      const net = createBnnNet(rt.exec, p, h, width, regression, { initSigma: 0.05 }, 11);
      const rng = new Rng(p);
      try {
        // μ and ρ spread out, as after some training, so σ is not one value.
        for (const t of bnnParams(net)) {
          const d = t.data() as Float32Array;
          for (let i = 0; i < d.length; i++) d[i] = d[i]! < -0.5 ? -4 + 3 * rng.next() : 2 * rng.next() - 1;
        }
        const batch: BnnBatch = {
          x: Float32Array.from({ length: rows * p }, () => rng.normal()),
          labels: regression ? null : Int32Array.from({ length: rows }, (_, r) => r % width),
          target: regression ? Float64Array.from({ length: rows }, () => rng.normal()) : null,
          ids: Array.from({ length: rows }, (_, r) => 3 * r + 1),
        };
        const s = { priorSd: 1, klWeight: 1 },
          key = [5, 3, 2];
        const got = await bnnElbo(rt.exec, net, batch, 40, s, key, true);
        const want = await referenceElbo(rt.exec, net, batch, 40, s, key);
        expect([got.loss, got.nll, got.kl]).toEqual([want.loss, want.nll, want.kl]);
        expect(got.grads!.length).toBe(want.grads.length);
        for (const [t, gw] of want.grads.entries())
          expect(bitsEqual(new Float32Array(got.grads![t]!.buffer), new Float32Array(gw.buffer)), `gradient ${t}`).toBe(
            true,
          );
        expect(got.grads!.some((gr) => gr.some((v) => v !== 0))).toBe(true);
      } finally {
        freeBnnNet(net);
      }
    }
  });
});
