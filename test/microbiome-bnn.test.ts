import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { Tensor } from '../src/memory/tensor.js';
import {
  BNN_DEFAULTS,
  bnnElbo,
  bnnParams,
  bnnPredict,
  createBnnNet,
  freeBnnNet,
  trainBnn,
  type BnnBatch,
  type FittedBnn,
} from '../src/microbiome/bnn.js';
import { gaussianKl, localReparamForward, normals, softplus, type BnnLayer } from '../src/microbiome/bnn-layer.js';
import { loadMicrobiome } from '../src/microbiome/data.js';
import { fitKeptModel, loadKeptModel, saveKeptModel, scoreKeptModel } from '../src/microbiome/kept-model.js';
import { MB_MODEL_DEFAULTS, runMbModel } from '../src/microbiome/models.js';
import { preprocess } from '../src/microbiome/pipeline.js';
import { withAugmented } from '../src/microbiome/study.js';
import { Runtime } from '../src/runtime/runtime.js';
import { bitsEqual, runGraft, tempDir } from './helpers.js';

// graft mb's Bayesian neural network (src/microbiome/bnn.ts, bnn-layer.ts). Oracles: the KL by
// numerical quadrature; the ELBO's gradient by central differences; the local
// reparameterization's pre-activations against Monte Carlo over sampled weights; the
// predictive sd against where the training data lie; 1 vs 2 threads; the kept model against
// the study's in-fit path.

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
});
afterAll(async () => {
  await rt.close();
});

/** ∫ q log(q / p) by Simpson's rule over μ ± 12σ (q = N(μ, σ²), p = N(0, s²)). */
function klByQuadrature(mu: number, sigma: number, s: number): number {
  const logq = (w: number): number => -0.5 * ((w - mu) / sigma) ** 2 - Math.log(sigma) - 0.5 * Math.log(2 * Math.PI);
  const logp = (w: number): number => -0.5 * (w / s) ** 2 - Math.log(s) - 0.5 * Math.log(2 * Math.PI);
  const n = 20000,
    a = mu - 12 * sigma,
    h = (24 * sigma) / n;
  let sum = 0;
  for (let i = 0; i <= n; i++) {
    const w = a + i * h;
    const f = Math.exp(logq(w)) * (logq(w) - logp(w));
    sum += (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * f;
  }
  return (sum * h) / 3;
}

function setLayer(l: BnnLayer, muW: number[], rhoW: number[], muB: number[], rhoB: number[]): void {
  (l.muW.data() as Float32Array).set(muW);
  (l.rhoW.data() as Float32Array).set(rhoW);
  (l.muB.data() as Float32Array).set(muB);
  (l.rhoB.data() as Float32Array).set(rhoB);
}

describe('the BNN posterior', () => {
  it('KL(q ‖ prior) of one weight equals the quadrature of ∫ q log(q/p), and the ELBO sums it over every weight and bias', async () => {
    for (const [mu, sigma, s] of [
      [0, 1, 1],
      [0.3, 0.05, 1],
      [-1.7, 0.4, 0.5],
      [2, 3, 1.5],
    ] as const)
      expect(Math.abs(gaussianKl(mu, sigma, s) - klByQuadrature(mu, sigma, s))).toBeLessThan(1e-8);
    expect(gaussianKl(0, 1, 1)).toBe(0);
    const net = createBnnNet(rt.exec, 3, 2, 2, false, { initSigma: 0.2 }, 5);
    try {
      const batch: BnnBatch = { x: Float32Array.of(0.5, -1, 2), labels: Int32Array.of(1), target: null, ids: [0] };
      const r = await bnnElbo(rt.exec, net, batch, 1, { priorSd: 0.7, klWeight: 1 }, [1, 1, 0], false);
      let want = 0;
      for (const l of net.layers)
        for (const [m, rho] of [
          [l.muW, l.rhoW],
          [l.muB, l.rhoB],
        ] as const) {
          const md = m.data() as Float32Array,
            rd = rho.data() as Float32Array;
          for (let i = 0; i < md.length; i++) want += klByQuadrature(md[i]!, softplus(rd[i]!), 0.7);
        }
      expect(Math.abs(r.kl - want) / want).toBeLessThan(1e-8);
      expect(r.loss).toBeCloseTo(r.nll + r.kl, 12);
    } finally {
      freeBnnNet(net);
    }
  });

  it("the ELBO's gradient in every μ, ρ (and regression's log noise sd) equals central differences on a tiny net, the noise held fixed by its key", async () => {
    for (const regression of [false, true]) {
      const p = 3,
        h = 4,
        width = regression ? 1 : 3,
        rows = 5;
      const net = createBnnNet(rt.exec, p, h, width, regression, { initSigma: 0.3 }, 9);
      const rng = new Rng(regression ? 4 : 3);
      try {
        // Wider μ and varied σ than at initialization, so every term weighs in.
        for (const t of bnnParams(net)) {
          const d = t.data() as Float32Array;
          for (let i = 0; i < d.length; i++) d[i] = d[i]! < -0.5 ? -1.5 + rng.next() : 2 * rng.next() - 1;
        }
        const batch: BnnBatch = {
          x: Float32Array.from({ length: rows * p }, () => 2 * rng.next() - 1),
          labels: regression ? null : Int32Array.from({ length: rows }, (_, r) => r % width),
          target: regression ? Float64Array.from({ length: rows }, () => rng.next() * 2 - 1) : null,
          ids: [3, 8, 1, 4, 6],
        };
        const s = { priorSd: 0.8, klWeight: 1 },
          key = [7, 2, 1];
        const r = await bnnElbo(rt.exec, net, batch, 10, s, key, true);
        const params = bnnParams(net);
        let checked = 0;
        for (const [t, tensor] of params.entries()) {
          const d = tensor.data() as Float32Array;
          for (let i = 0; i < d.length; i++) {
            const w = d[i]!,
              step = 1e-3;
            d[i] = w + step;
            const up = d[i]!;
            const fUp = (await bnnElbo(rt.exec, net, batch, 10, s, key, false)).loss;
            (tensor.data() as Float32Array)[i] = w - step;
            const down = (tensor.data() as Float32Array)[i]!;
            const fDown = (await bnnElbo(rt.exec, net, batch, 10, s, key, false)).loss;
            (tensor.data() as Float32Array)[i] = w;
            const fd = (fUp - fDown) / (up - down),
              g = r.grads![t]![i]!;
            expect(Math.abs(fd - g), `param ${t}[${i}]: fd ${fd}, grad ${g}`).toBeLessThan(2e-3 + 1e-2 * Math.abs(g));
            checked++;
          }
        }
        expect(checked).toBe(p * h * 2 + h * 2 + h * width * 2 + width * 2 + (regression ? 1 : 0));
      } finally {
        freeBnnNet(net);
      }
    }
  });

  it("local reparameterization: the sampled pre-activations' mean and variance equal Monte Carlo over sampled weights", async () => {
    const p = 3,
      out = 2,
      draws = 20000;
    const muW = [0.4, -0.2, 1.1, 0.3, -0.7, 0.05],
      rhoW = [-1, -2, -0.5, -3, 0, -1.5],
      muB = [0.2, -0.1],
      rhoB = [-2, -1];
    const layer: BnnLayer = {
      fanIn: p,
      fanOut: out,
      muW: Tensor.zeros(rt.heap, 'float32', [p, out]),
      rhoW: Tensor.zeros(rt.heap, 'float32', [p, out]),
      muB: Tensor.zeros(rt.heap, 'float32', [out]),
      rhoB: Tensor.zeros(rt.heap, 'float32', [out]),
    };
    setLayer(layer, muW, rhoW, muB, rhoB);
    const row = [0.8, -1.5, 2];
    // The layer applied to `draws` copies of one row: each copy draws its own noise.
    const xs = Float32Array.from({ length: draws * p }, (_, k) => row[k % p]!);
    const x = Tensor.from(rt.heap, 'float32', [draws, p], xs),
      x2 = Tensor.from(
        rt.heap,
        'float32',
        [draws, p],
        xs.map((v) => v * v),
      );
    const pass = await localReparamForward(rt.exec, layer, x, x2, (r) => normals(out, 1, 2, 3, r));
    pass.s2W.free();
    // Monte Carlo over weights: W ~ N(μ, σ²), b ~ N(μ_b, σ_b²), then x·W + b.
    const rng = new Rng(77);
    const mc = Array.from({ length: out }, () => new Float64Array(draws));
    for (let d = 0; d < draws; d++)
      for (let j = 0; j < out; j++) {
        let v = muB[j]! + softplus(rhoB[j]!) * rng.normal();
        for (let i = 0; i < p; i++) v += row[i]! * (muW[i * out + j]! + softplus(rhoW[i * out + j]!) * rng.normal());
        mc[j]![d] = v;
      }
    const moments = (a: ArrayLike<number>): [number, number] => {
      let m = 0;
      for (let i = 0; i < a.length; i++) m += a[i]! / a.length;
      let v = 0;
      for (let i = 0; i < a.length; i++) v += (a[i]! - m) ** 2 / (a.length - 1);
      return [m, v];
    };
    for (let j = 0; j < out; j++) {
      const sampled = Float64Array.from({ length: draws }, (_, r) => pass.out[r * out + j]!);
      const [ms, vs] = moments(sampled),
        [mm, vm] = moments(mc[j]!);
      // The layer's stated Gaussian (mean, variance) against the weights' Monte Carlo, to 5 standard errors.
      expect(Math.abs(pass.mean[j]! - mm)).toBeLessThan(5 * Math.sqrt(vm / draws));
      expect(Math.abs(pass.variance[j]! - vm)).toBeLessThan(5 * vm * Math.sqrt(2 / draws));
      // The sampled pre-activations against the same Monte Carlo (two samples: √2 wider).
      expect(Math.abs(ms - mm)).toBeLessThan(5 * Math.sqrt((2 * vm) / draws));
      expect(Math.abs(vs - vm)).toBeLessThan(5 * vm * Math.sqrt(4 / draws));
    }
    for (const t of [x, x2, layer.muW, layer.rhoW, layer.muB, layer.rhoB]) t.free();
  });
});

/** A regression set: y = sin(2·x₀) + x₁/2 + noise with x uniform in [−1, 1]². */
function sineSet(n: number, seed: number, lo = -1, hi = 1): { z: Float32Array; y: Float64Array } {
  const rng = new Rng(seed);
  const z = Float32Array.from({ length: n * 2 }, () => lo + (hi - lo) * rng.next());
  const y = Float64Array.from(
    { length: n },
    (_, i) => Math.sin(2 * z[i * 2]!) + z[i * 2 + 1]! / 2 + 0.1 * rng.normal(),
  );
  return { z, y };
}

describe('BNN training and prediction', () => {
  it('predictive sd is larger on inputs outside the training range than inside it', async () => {
    const train = sineSet(160, 1);
    const fitted = await trainBnn(
      rt.exec,
      {
        z: train.z,
        n: 160,
        p: 2,
        labels: null,
        classes: 0,
        target: train.y,
        fit: Int32Array.from({ length: 130 }, (_, i) => i),
        val: Int32Array.from({ length: 30 }, (_, i) => 130 + i),
      },
      { ...BNN_DEFAULTS, hidden: 16, epochs: 150, patience: 30, samples: 40 },
      3,
    );
    const inside = sineSet(50, 2),
      outside = sineSet(50, 3, 3, 5);
    const z = new Float32Array(200);
    z.set(inside.z);
    z.set(outside.z, 100);
    const m: FittedBnn = { ...fitted, mean: new Float64Array(2), sd: Float64Array.of(1, 1) };
    const { mean, draws } = await bnnPredict(rt.exec, m, z, 100);
    const sd = Array.from({ length: 100 }, (_, r) => {
      let v = 0;
      for (const d of draws) v += (d[r]! - mean[r]!) ** 2 / (draws.length - 1);
      return Math.sqrt(v);
    });
    const avg = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
    const sdIn = avg(sd.slice(0, 50)),
      sdOut = avg(sd.slice(50));
    expect(sdOut).toBeGreaterThan(2 * sdIn);
    // Inside the range the mean tracks the truth (the fit is not all prior).
    let se = 0;
    for (let r = 0; r < 50; r++) se += (mean[r]! - inside.y[r]!) ** 2 / 50;
    expect(Math.sqrt(se)).toBeLessThan(0.4);
  }, 60_000);

  it('a fit and its predictions are the same bits at 1 and 2 threads', async () => {
    const n = 150,
      p = 40;
    const rng = new Rng(21);
    const z = Float32Array.from({ length: n * p }, () => rng.normal());
    const labels = Int32Array.from({ length: n }, (_, i) => (z[i * p]! + z[i * p + 1]! > 0 ? 1 : 0));
    const input = {
      z,
      n,
      p,
      labels,
      classes: 2,
      target: null,
      fit: Int32Array.from({ length: 120 }, (_, i) => i),
      val: Int32Array.from({ length: 30 }, (_, i) => 120 + i),
    };
    const s = { ...BNN_DEFAULTS, hidden: 64, epochs: 6, patience: 0, samples: 5 };
    const two = await Runtime.create({ threads: 2 });
    try {
      expect(two.exec.threads).toBe(2);
      const runs = [];
      for (const r of [rt, two]) {
        const f = await trainBnn(r.exec, input, s, 11);
        const m: FittedBnn = { ...f, mean: new Float64Array(p), sd: new Float64Array(p).fill(1) };
        runs.push({ f, pred: await bnnPredict(r.exec, m, z, n) });
      }
      const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
      expect(a.f.bestEpoch).toBe(b.f.bestEpoch);
      for (const [i, l] of a.f.layers.entries())
        for (const key of ['muW', 'sigmaW', 'muB', 'sigmaB'] as const)
          expect(bitsEqual(l[key], b.f.layers[i]![key]), `layer ${i} ${key}`).toBe(true);
      expect(bitsEqual(new Float32Array(a.pred.mean.buffer), new Float32Array(b.pred.mean.buffer))).toBe(true);
      // Not a trivial fit: it learned the labels (and changed μ from its start).
      let right = 0;
      for (let r = 0; r < n; r++) if ((a.pred.mean[r * 2 + 1]! > 0.5 ? 1 : 0) === labels[r]) right++;
      expect(right / n).toBeGreaterThan(0.75);
    } finally {
      await two.close();
    }
  }, 60_000);
});

describe('graft mb --models bnn --keep-model bnn and graft predict', () => {
  const dir = tempDir('graft-mb-bnn-');
  const P = 10,
    N = 40,
    HELD = 5;
  const rng = new Rng(17);
  const taxa = Array.from({ length: P }, (_, j) => `g__t${j}`);
  const rows = Array.from({ length: N }, (_, i) =>
    Array.from({ length: P }, (_, j) => 1 + Math.floor(rng.next() * (j < 3 ? (i % 2 ? 40 : 8) : 15))),
  );
  const put = (name: string, keep: (i: number) => boolean): [string, string] => {
    const counts = join(dir, `${name}-counts.csv`),
      meta = join(dir, `${name}-meta.csv`);
    writeFileSync(
      counts,
      `${['sample_id', ...taxa].join(',')}\n${rows.flatMap((r, i) => (keep(i) ? [[`s${i}`, ...r].join(',')] : [])).join('\n')}\n`,
    );
    writeFileSync(
      meta,
      `sample_id,diagnosis\n${rows.flatMap((_, i) => (keep(i) ? [`s${i},${i % 2 ? 'CD' : 'no'}`] : [])).join('\n')}\n`,
    );
    return [counts, meta];
  };

  it('keeps μ and σ, and graft predict scores a new sample with the bits of the in-fit path; the run reports the BNN beside the ensemble with its per-sample sd', async () => {
    const [fitCounts, fitMeta] = put('fit', (i) => i !== HELD);
    const [allCounts, allMeta] = put('all', () => true);
    const [heldCounts] = put('held', (i) => i === HELD);
    const run = join(dir, 'run');
    const cli = ['mb', '--counts', fitCounts, '--meta', fitMeta, '--label', 'diagnosis', '--k', '3', '--repeats', '1'];
    const flags = ['--epochs', '15', '--ensemble', '2', '--posterior-samples', '6', '--min-prevalence', '0'];
    const r = runGraft([
      ...cli,
      ...flags,
      '--models',
      'mlp,bnn',
      '--keep-model',
      'bnn',
      '--threads',
      '1',
      '--quiet',
      '--out',
      run,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(readFileSync(join(run, 'results.json'), 'utf8')) as {
      models: Record<string, Record<string, { mean: number }>>;
      kept_model: { model: string };
    };
    expect(Object.keys(res.models)).toEqual(['mlp', 'bnn']);
    expect(res.models['bnn']!['predictive_sd']!.mean).toBeGreaterThan(0);
    expect(res.models['mlp']!['ensemble_sd']!.mean).toBeGreaterThan(0);
    expect(res.kept_model.model).toBe('bnn');
    const pred = readFileSync(join(run, 'predictions.csv'), 'utf8').trim().split('\n');
    const header = pred[0]!.split(',');
    expect(header.slice(-2)).toEqual(['ensemble_sd', 'predictive_sd']);
    const bnnRows = pred.slice(1).filter((l) => l.split(',')[1] === 'bnn');
    expect(bnnRows).toHaveLength(N - 1);
    expect(bnnRows.every((l) => Number(l.split(',').at(-1)) > 0 && l.split(',').at(-2) === '')).toBe(true);
    expect(readFileSync(join(run, 'report.md'), 'utf8')).toMatch(/\| bnn \|.*\n[\s\S]*posterior samples/);

    const p = runGraft(['predict', '--run', run, '--counts', heldCounts, '--quiet']);
    expect(p.status, p.stderr).toBe(0);
    const [head, line] = p.stdout.trim().split('\n');
    expect(head).toBe('id,predicted,p_CD,p_no,predictive_sd');
    const got = line!.split(',').slice(2, -1).map(Number);
    const predictiveSd = Number(line!.split(',').at(-1));

    // The oracle: HELD as the test row of a fold of the whole table whose training rows are the kept model's samples.
    const all = loadMicrobiome({ counts: allCounts, meta: allMeta, label: 'diagnosis' });
    const others = Array.from({ length: all.n }, (_, i) => i).filter((i) => i !== HELD);
    // The BNN holds out no validation rows: it fits on every training row for the set epochs.
    const t = withAugmented(all, others, 'none', 1);
    const x = preprocess(t.counts, t.n, all.p, { normalize: 'tss', zeros: 'pseudo', seed: 1 });
    const settings = { ...MB_MODEL_DEFAULTS, ensemble: 2, epochs: 15, threads: 1, bnn: { samples: 6 } };
    const inFit = await runMbModel(
      rt,
      'bnn',
      {
        x,
        n: t.n,
        p: all.p,
        labels: t.labels,
        classes: 2,
        target: null,
        fit: Int32Array.from(others),
        val: new Int32Array(0),
        test: Int32Array.of(HELD),
        graph: null,
        seed: 1,
      },
      settings,
    );
    expect(got).toEqual(Array.from(inFit.scores));
    expect(inFit.spread![0]).toBeGreaterThan(0);
    // predictive_sd is the study's own sd of that row (the same posterior draws, the same formula): the same bits.
    expect(predictiveSd).toBe(inFit.spread![0]);

    // The file alone: saved, loaded and scored again in process, the same bits; σ kept positive.
    const kept = loadKeptModel(join(run, 'model', 'model.safetensors'));
    expect(kept.model.model).toBe('bnn');
    if (kept.model.model !== 'bnn') return;
    expect(kept.model.samples).toBe(6);
    expect(kept.model.layers.every((l) => l.sigmaW.every((v) => v > 0))).toBe(true);
    const fitData = loadMicrobiome({ counts: fitCounts, meta: fitMeta, label: 'diagnosis', minPrevalence: 0 });
    const refit = await fitKeptModel(rt, fitData, 'bnn', {
      normalize: 'tss',
      zeros: 'pseudo',
      augment: 'none',
      seed: 1,
      minPrevalence: 0,
      settings,
      graph: 'aitchison',
      knn: 10,
      valFraction: 0.15,
    });
    const again = join(dir, 'again.safetensors');
    saveKeptModel(again, refit);
    const counts = Float64Array.from(rows[HELD]!);
    expect(Array.from(await scoreKeptModel(rt, loadKeptModel(again), counts, 1))).toEqual(got);
  }, 120_000);
});
