import { describe, expect, it } from 'vitest';
import { kernelShap, type PredictFn } from '../src/explain/kernelshap.js';
import { rng } from './helpers.js';

// Oracle: interventional Shapley values by enumerating every coalition S, with
// v(S) = mean over background rows b of f(x_S, b_rest), φ_j = Σ_S |S|!(M-|S|-1)!/M! (v(S ∪ j) - v(S)).

function exactShapley(
  predict: PredictFn,
  x: Float64Array,
  f: number,
  bg: Float64Array,
  nb: number,
  outputs: number,
): Float64Array {
  const fact = [1];
  for (let k = 1; k <= f; k++) fact.push(fact[k - 1]! * k);
  const v = new Float64Array((1 << f) * outputs);
  for (let m = 0; m < 1 << f; m++) {
    const rows = new Float64Array(nb * f);
    for (let b = 0; b < nb; b++) for (let j = 0; j < f; j++) rows[b * f + j] = (m >> j) & 1 ? x[j]! : bg[b * f + j]!;
    const out = predict(rows, nb);
    for (let b = 0; b < nb; b++) for (let k = 0; k < outputs; k++) v[m * outputs + k]! += out[b * outputs + k]! / nb;
  }
  const phi = new Float64Array(outputs * f);
  for (let k = 0; k < outputs; k++) {
    for (let j = 0; j < f; j++) {
      for (let m = 0; m < 1 << f; m++) {
        if ((m >> j) & 1) continue;
        let size = 0;
        for (let b = m; b; b &= b - 1) size++;
        phi[k * f + j]! +=
          ((fact[size]! * fact[f - size - 1]!) / fact[f]!) * (v[(m | (1 << j)) * outputs + k]! - v[m * outputs + k]!);
      }
    }
  }
  return phi;
}

/** A nonlinear model with interactions and two outputs: a logistic score and a max. */
function model(f: number): PredictFn {
  return (x, n) => {
    const out = new Float64Array(n * 2);
    for (let i = 0; i < n; i++) {
      const r = x.subarray(i * f, i * f + f);
      let s = 0.5 * r[0]! - r[1]! * r[2]! + Math.sin(r[3]!);
      for (let j = 4; j < f; j++) s += 0.1 * j * r[j]! * (j % 2 ? 1 : r[j - 1]!);
      out[i * 2] = 1 / (1 + Math.exp(-s));
      out[i * 2 + 1] = Math.max(r[0]!, r[f - 1]!, 0);
    }
    return out;
  };
}

function data(n: number, f: number, seed: number): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n * f }, () => 2 * r() - 1);
}

describe('KernelSHAP (oracle: interventional Shapley values by enumeration)', () => {
  it('with a budget that covers every coalition it returns the exact Shapley values (7 features, 2 outputs)', () => {
    const f = 7,
      predict = model(f),
      x = data(3, f, 1),
      bg = data(6, f, 2);
    const s = kernelShap(predict, x, 3, f, { background: bg, backgroundRows: 6, budget: 200 });
    expect(s.exact).toBe(true);
    expect(s.coalitions).toBe(126);
    for (let i = 0; i < 3; i++) {
      const oracle = exactShapley(predict, x.subarray(i * f, i * f + f), f, bg, 6, 2);
      for (let k = 0; k < 2; k++)
        for (let j = 0; j < f; j++)
          expect(Math.abs(s.values[(i * 2 + k) * f + j]! - oracle[k * f + j]!)).toBeLessThan(1e-9);
    }
  });

  it('sampled coalitions (10 features, 400 of 1022): unbiased within sampling error, and additive to 1e-9', () => {
    const f = 10,
      predict = model(f),
      x = data(1, f, 3),
      bg = data(8, f, 4);
    const oracle = exactShapley(predict, x, f, bg, 8, 2);
    const R = 8,
      runs = Array.from({ length: R }, (_, r) =>
        kernelShap(predict, x, 1, f, { background: bg, backgroundRows: 8, budget: 400, seed: 10 + r }),
      );
    expect(runs[0]!.exact).toBe(false);
    let within = 0,
      scale = 0;
    for (let c = 0; c < 2 * f; c++) scale = Math.max(scale, Math.abs(oracle[c]!));
    for (let c = 0; c < 2 * f; c++) {
      const est = runs.map((s) => s.values[c]!),
        mean = est.reduce((a, b) => a + b, 0) / R;
      const sd = Math.sqrt(est.reduce((a, b) => a + (b - mean) ** 2, 0) / (R - 1));
      // the mean of R independent estimates sits within 4 standard errors of the truth
      expect(Math.abs(mean - oracle[c]!)).toBeLessThanOrEqual((4 * sd) / Math.sqrt(R) + 1e-9);
      if (Math.abs(est[0]! - oracle[c]!) < 0.1 * scale) within++;
    }
    expect(within).toBe(2 * f); // and one run is already close: every φ within 10% of the largest
    for (const s of runs) {
      for (let k = 0; k < 2; k++) {
        let sum = s.base[k]!;
        for (let j = 0; j < f; j++) sum += s.values[k * f + j]!;
        expect(Math.abs(sum - s.prediction[k]!)).toBeLessThan(1e-9);
      }
    }
  });

  it('a linear model: any sample of coalitions gives φ_j = w_j (x_j - mean background_j) (40 features)', () => {
    const f = 40,
      w = Float64Array.from({ length: f }, (_, j) => (j % 5) - 2 + 0.1 * j);
    const predict: PredictFn = (x, n) =>
      Float64Array.from({ length: n }, (_, i) => {
        let s = 3;
        for (let j = 0; j < f; j++) s += w[j]! * x[i * f + j]!;
        return s;
      });
    const x = data(2, f, 5),
      bg = data(10, f, 6);
    const s = kernelShap(predict, x, 2, f, { background: bg, backgroundRows: 10, budget: 200 });
    expect(s.outputs).toBe(1);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < f; j++) {
        let mean = 0;
        for (let b = 0; b < 10; b++) mean += bg[b * f + j]! / 10;
        expect(s.values[i * f + j]).toBeCloseTo(w[j]! * (x[i * f + j]! - mean), 9);
      }
    }
  });

  it('the same seed gives the same bits; too small a budget and a bad background are refused', () => {
    const f = 12,
      predict = model(f),
      x = data(1, f, 7),
      bg = data(4, f, 8);
    const a = kernelShap(predict, x, 1, f, { background: bg, backgroundRows: 4, budget: 100, seed: 3 });
    const b = kernelShap(predict, x, 1, f, { background: bg, backgroundRows: 4, budget: 100, seed: 3 });
    expect(Array.from(a.values)).toEqual(Array.from(b.values));
    expect(() => kernelShap(predict, x, 1, f, { background: bg, backgroundRows: 4, budget: 10 })).toThrow(
      /kernelShap: argument 'options.budget' must be an integer of at least 26/,
    );
    expect(() => kernelShap(predict, x, 1, f, { background: bg, backgroundRows: 5 })).toThrow(
      /options.background.length/,
    );
  });
});
