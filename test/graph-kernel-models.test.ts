import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { predictKernel } from '../src/genomics/kernel-reml.js';
import { fitRkhs, gaussianKernel, RKHS_BANDWIDTHS } from '../src/genomics/rkhs.js';
import { blendWeight, innerValidation } from '../src/genomics/stacking.js';
import { runStudy, type StudyOptions } from '../src/genomics/study.js';
import { Runtime } from '../src/runtime/runtime.js';
import { GCN_GP_DEFAULTS, trainGcnRegressor } from '../src/train/gcn-regressor.js';
import { rng } from './helpers.js';

// The graph models that build on the kernel model: the stacked blend (GCN and RKHS, weight
// fitted on an inner split) and the boosted model (a GCN on RKHS's residuals), checked against
// a brute-force search, against their parts recomputed here, and in a study.

describe('the stacking blend weight', () => {
  it('is the w in [0, 1] of least squared error: a fine grid finds none better', () => {
    const r = rng(11);
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(r() * 40);
      const y = Array.from({ length: n }, () => r() * 2 - 1);
      const g = y.map((v) => v * r() * 2 + (r() - 0.5));
      const k = y.map((v) => v * r() + (r() - 0.5) * 2);
      const sse = (w: number): number => y.reduce((s, v, i) => s + (v - (w * g[i]! + (1 - w) * k[i]!)) ** 2, 0);
      const w = blendWeight(y, g, k);
      expect(w).toBeGreaterThanOrEqual(0);
      expect(w).toBeLessThanOrEqual(1);
      for (let q = 0; q <= 1000; q++) expect(sse(w)).toBeLessThanOrEqual(sse(q / 1000) + 1e-12);
    }
  });

  it('is 1 when the graph model is exact, 0 when the kernel model is, and 0 when the two agree', () => {
    const y = [1, -2, 3, 0.5],
      noisy = [0, 1, 1, -1];
    expect(blendWeight(y, y, noisy)).toBe(1);
    expect(blendWeight(y, noisy, y)).toBe(0);
    expect(blendWeight(y, noisy, noisy)).toBe(0);
    // Beyond [0, 1] the weight is clipped: least squares would take 2 here, and −1.
    expect(blendWeight([2, 4], [1, 2], [0, 0])).toBe(1);
    expect(blendWeight([-1, -2], [1, 2], [0, 0])).toBe(0);
    expect(blendWeight([1, 2], [0, 0], [2, 4])).toBeCloseTo(0.5, 12);
    expect(blendWeight([2, 4], [6, 12], [0, 0])).toBeCloseTo(1 / 3, 12);
  });

  it('the inner split is a seeded tenth of the training nodes, sorted, leaving at least 3 to fit on', () => {
    const train = Int32Array.from({ length: 95 }, (_, i) => 3 * i + 1);
    const v = innerValidation(train, 0.1, 7);
    expect(v.length).toBe(10);
    expect(Array.from(v).every((i) => train.includes(i))).toBe(true);
    expect(Array.from(v)).toEqual([...v].sort((a, b) => a - b));
    expect(innerValidation(train, 0.1, 7)).toEqual(v);
    expect(innerValidation(train, 0.1, 8)).not.toEqual(v);
    expect(innerValidation(Int32Array.of(1, 2, 3, 4), 0.9, 1).length).toBe(1);
  });
});

describe('a GCN with a given inner validation split', () => {
  it('never fits the validation nodes: changing their phenotypes leaves the fitted weights unchanged', async () => {
    const n = 60,
      f = 6,
      r = rng(3);
    const features = Float32Array.from({ length: n * f }, () => r() - 0.5);
    const src = Int32Array.from({ length: n }, (_, i) => i),
      dst = Int32Array.from({ length: n }, (_, i) => (i + 1) % n);
    const y = Float64Array.from({ length: n }, (_, i) => features[i * f]! + 0.3 * r());
    const train = Int32Array.from({ length: 50 }, (_, i) => i),
      validation = Int32Array.of(3, 10, 20, 41);
    // One epoch: the reported weights are then that epoch's whatever the validation loss (it picks the best epoch otherwise).
    const c = { ...GCN_GP_DEFAULTS, epochs: 1, patience: 0, hidden: 8, layers: 2, ensemble: 1 };
    const rt = await Runtime.create({ threads: 1 });
    try {
      const fitOn = (yy: Float64Array) =>
        trainGcnRegressor(rt, { n, features, f, src, dst, y: yy, train, validation }, c);
      const a = await fitOn(y);
      const moved = Float64Array.from(y);
      for (const i of validation) moved[i] = moved[i]! + 5;
      const b = await fitOn(moved);
      expect(b.predictions).toEqual(a.predictions);
      expect(b.valLoss).not.toBe(a.valLoss);
      const movedFit = Float64Array.from(y);
      movedFit[5] = movedFit[5]! + 5;
      expect((await fitOn(movedFit)).predictions).not.toEqual(a.predictions);
      await expect(
        trainGcnRegressor(rt, { n, features, f, src, dst, y, train, validation: Int32Array.of(55) }, c),
      ).rejects.toThrow(/data\.validation/);
    } finally {
      await rt.close();
    }
  });
});

describe('stacked and boosted graph models in a study (synthetic set)', () => {
  const base: StudyOptions = {
    geno: join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
    pheno: join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
    traits: ['height'],
    qc: { minMaf: 0.01, minCallRate: 0.9 },
    features: 'pcs',
    pcs: 20,
    graph: 'knn',
    knn: 5,
    threshold: 0,
    models: ['stack', 'boost', 'rkhs'],
    k: 3,
    repeats: 1,
    seed: 3,
    threads: 1,
    gcn: { ...GCN_GP_DEFAULTS, epochs: 30, patience: 10, hidden: 16, ensemble: 2 },
  };

  it('boost = RKHS + a GCN fitted to its residuals; stack = w·GCN + (1 − w)·RKHS with w fitted on the inner split', async () => {
    const res = await runStudy(base);
    const d = res.data,
      y = d.y[0]!;
    const kernels = RKHS_BANDWIDTHS.map((t) => gaussianKernel(d.grm, d.n, t));
    const rt = await Runtime.create({ threads: 1 });
    try {
      for (let fold = 1; fold <= 3; fold++) {
        const pred = (m: string): Map<number, number> =>
          new Map(res.predictions.filter((p) => p.model === m && p.fold === fold).map((p) => [p.sample, p.predicted]));
        const boost = pred('boost'),
          stack = pred('stack'),
          rkhs = pred('rkhs');
        const train = Int32Array.from(
          Array.from({ length: d.n }, (_, i) => i).filter(
            (i) => Number.isFinite(y[i]!) && !boost.has(i) && !rkhs.has(i),
          ),
        );
        const test = Int32Array.from([...rkhs.keys()]);
        // RKHS: the study's own rkhs model is the kernel half of both.
        const rk = fitRkhs(
          kernels,
          RKHS_BANDWIDTHS,
          d.n,
          train,
          Float64Array.from(train, (i) => y[i]!),
        );
        const kTest = predictKernel(rk.fit, rk.kernel, d.n, train, test);
        test.forEach((s, q) => {
          expect(rkhs.get(s)).toBeCloseTo(kTest[q]!, 10);
        });
        // boost − RKHS: the GCN ensemble on the residuals, recomputed here member by member.
        const fitted = predictKernel(rk.fit, rk.kernel, d.n, train, train);
        const residual = new Float64Array(d.n).fill(NaN);
        train.forEach((i, q) => {
          residual[i] = y[i]! - fitted[q]!;
        });
        const members = await Promise.all(
          [0, 1].map((e) =>
            trainGcnRegressor(
              rt,
              { n: d.n, features: d.features, f: d.f, src: d.src, dst: d.dst, y: residual, train },
              { ...base.gcn, seed: base.gcn.seed + fold + 100_003 * e },
            ),
          ),
        );
        test.forEach((s, q) => {
          expect(boost.get(s)).toBeCloseTo(
            kTest[q]! + (members[0]!.predictions[s]! + members[1]!.predictions[s]!) / 2,
            8,
          );
        });
        // stack: between its two halves, with the fold's recorded weight.
        const w = res.folds.find((f) => f.model === 'stack' && f.fold === fold)!.info['w_graph']!;
        expect(w).toBeGreaterThanOrEqual(0);
        expect(w).toBeLessThanOrEqual(1);
        if (w === 0)
          test.forEach((s, q) => {
            expect(stack.get(s)).toBeCloseTo(kTest[q]!, 10);
          });
      }
    } finally {
      await rt.close();
    }
    // Both use what RKHS knows: neither falls far below it on an additive trait.
    const r = (m: string): number => res.table[m]!['height']!.r_mean;
    expect(r('boost')).toBeGreaterThan(r('rkhs') - 0.05);
    expect(r('stack')).toBeGreaterThan(r('rkhs') - 0.05);
  }, 120_000);
});
