import { join } from 'node:path';
import { EigenvalueDecomposition, Matrix, solve } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { fitKernelReml, kernelBasis, trainBlock } from '../src/genomics/kernel-reml.js';
import {
  fitKernelAverage,
  fitRkhs,
  gaussianKernel,
  KERNEL_AVERAGE_WEIGHTS,
  RKHS_BANDWIDTHS,
} from '../src/genomics/rkhs.js';
import { runStudy } from '../src/genomics/study.js';
import { GCN_GP_DEFAULTS } from '../src/train/gcn-regressor.js';
import { rng } from './helpers.js';

// RKHS beside GBLUP: the Gaussian kernel against its formula, the bandwidth and the kernel
// weights chosen by the restricted likelihood (checked the long way, with ml-matrix), and the
// model in a cross-validation study.

/** A small marker set: n samples × m centred dosages, its VanRaden-style G = ZZᵀ/c, and phenotypes with an epistatic part. */
function markers(n: number, m: number, seed: number): { z: number[][]; g: Float64Array; y: Float64Array } {
  const r = rng(seed);
  const z = Array.from({ length: n }, () => Array.from({ length: m }, () => Math.floor(r() * 3) - 1));
  const c = 0.5 * m,
    g = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) g[i * n + j] = z[i]!.reduce((s, v, k) => s + v * z[j]![k]!, 0) / c;
  const y = Float64Array.from(z, (row) => row[0]! + 0.8 * row[1]! * row[2]! + 0.5 * (r() - 0.5));
  return { z, g, y };
}

/** −2 l_R / 2 (no constants) of y under V = K + δI, the long way. */
function remlDirect(k: Float64Array, n: number, y: Float64Array, delta: number): number {
  const v = new Matrix(Array.from({ length: n }, (_, i) => Array.from(k.subarray(i * n, i * n + n)))).add(
    Matrix.eye(n).mul(delta),
  );
  const ones = Matrix.ones(n, 1),
    yM = Matrix.columnVector(Array.from(y));
  const vinv1 = solve(v, ones),
    vinvY = solve(v, yM);
  const xvx = ones.transpose().mmul(vinv1).get(0, 0),
    mu = ones.transpose().mmul(vinvY).get(0, 0) / xvx;
  const resid = yM.clone().sub(ones.clone().mul(mu));
  const ypy = resid.transpose().mmul(solve(v, resid)).get(0, 0);
  const logdet = new EigenvalueDecomposition(v, { assumeSymmetric: true }).realEigenvalues.reduce(
    (s, l) => s + Math.log(l),
    0,
  );
  return -0.5 * (logdet + Math.log(xvx) + (n - 1) * Math.log(ypy));
}

describe('RKHS kernels', () => {
  const n = 30,
    m = 40;
  const { z, g, y } = markers(n, m, 5);
  const all = Int32Array.from({ length: n }, (_, i) => i);

  it('the Gaussian kernel is exp(−‖z_i − z_j‖² / (θ · median)) of the markers behind G', () => {
    const d2 = (i: number, j: number): number => z[i]!.reduce((s, v, k) => s + (v - z[j]![k]!) ** 2, 0) / (0.5 * m);
    const pairs: number[] = [];
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) pairs.push(d2(i, j));
    pairs.sort((a, b) => a - b);
    const h = pairs.length;
    const median = h % 2 ? pairs[(h - 1) / 2]! : (pairs[h / 2 - 1]! + pairs[h / 2]!) / 2;
    for (const theta of [0.5, 2]) {
      const k = gaussianKernel(g, n, theta);
      for (const [i, j] of [
        [0, 1],
        [3, 17],
        [29, 2],
        [4, 4],
      ] as const)
        expect(k[i * n + j]).toBeCloseTo(Math.exp(-d2(i, j) / (theta * median)), 12);
      expect(k[5 * n + 9]).toBe(k[9 * n + 5]);
    }
    expect(() => gaussianKernel(g, n, 0)).toThrow(/bandwidth must be positive, got 0/);
  });

  it('RKHS takes the bandwidth of the highest restricted likelihood, and its fit is the REML fit of that kernel', () => {
    const kernels = RKHS_BANDWIDTHS.map((t) => gaussianKernel(g, n, t));
    const c = fitRkhs(kernels, RKHS_BANDWIDTHS, n, all, y);
    const lls = kernels.map((k) => fitKernelReml(kernelBasis(trainBlock(k, n, all), n), y).logLik);
    expect(c.candidates).toEqual(lls);
    expect(c.theta).toBe(RKHS_BANDWIDTHS[lls.indexOf(Math.max(...lls))]);
    expect(c.fit.logLik).toBeCloseTo(remlDirect(c.kernel, n, y, c.fit.delta), 6);
    for (const t of [-2, -1, 0, 1, 2])
      expect(remlDirect(c.kernel, n, y, 10 ** t)).toBeLessThanOrEqual(c.fit.logLik + 1e-9);
  });

  it('the kernel average fits Σ w_k K_k by REML over the simplex points; σ_k² = w_k σg²', () => {
    const kernels = [0.2, 1, 5].map((t) => gaussianKernel(g, n, t));
    const c = fitKernelAverage(kernels, n, all, y);
    const mixed = KERNEL_AVERAGE_WEIGHTS.map((w) => {
      const k = new Float64Array(n * n);
      for (let t = 0; t < k.length; t++)
        k[t] = w[0]! * kernels[0]![t]! + w[1]! * kernels[1]![t]! + w[2]! * kernels[2]![t]!;
      return fitKernelReml(kernelBasis(k, n), y).logLik;
    });
    expect(c.candidates.map((x) => +x.toFixed(9))).toEqual(mixed.map((x) => +x.toFixed(9)));
    expect(c.weights).toEqual(KERNEL_AVERAGE_WEIGHTS[mixed.indexOf(Math.max(...mixed))]);
    expect(c.fit.logLik).toBeCloseTo(remlDirect(c.kernel, n, y, c.fit.delta), 6);
    c.sigma2.forEach((s, k) => {
      expect(s).toBeCloseTo(c.weights![k]! * c.fit.sigmaG2, 12);
    });
    expect(() => fitKernelAverage(kernels.slice(0, 2), n, all, y)).toThrow(/three kernels, got 2/);
  });
});

describe('RKHS in a genomic study', () => {
  it('on the synthetic set (additive traits) RKHS is within a few points of GBLUP and far above chance', async () => {
    const res = await runStudy({
      geno: join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
      pheno: join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
      traits: ['height'],
      qc: { minMaf: 0.01, minCallRate: 0.9 },
      features: 'pcs',
      pcs: 20,
      graph: 'knn',
      knn: 5,
      threshold: 0,
      models: ['gblup', 'rkhs', 'rkhs-ka'],
      k: 3,
      repeats: 1,
      seed: 3,
      threads: 1,
      gcn: GCN_GP_DEFAULTS,
    });
    const r = (m: string): number => res.table[m]!['height']!.r_mean;
    expect(r('rkhs')).toBeGreaterThan(0.55);
    expect(Math.abs(r('rkhs') - r('gblup'))).toBeLessThan(0.05);
    expect(Math.abs(r('rkhs-ka') - r('gblup'))).toBeLessThan(0.05);
    const info = res.folds.filter((f) => f.model === 'rkhs').map((f) => f.info['theta']);
    for (const t of info) expect(RKHS_BANDWIDTHS).toContain(t);
  }, 60_000);
});
