import { describe, expect, it } from 'vitest';
import { sumSparseInRankOrder, topkCount, topkErrorFeedback, topkIndices } from '../src/distributed/topk-sync.js';
import { rankBatches } from '../src/train/sampled-distributed.js';
import { bitsEqual, rng } from './helpers.js';

// Top-k sparsified gradients with error feedback, and the split of a sampled epoch over ranks,
// against independent oracles: a sort for the top k, the float32 sum for the residual, the
// rank-order dense sum for the exchange, and the single-process batch list for the split.
// The exchange itself under mpirun: test/sampled-distributed.test.ts.

const gaussian = (n: number, seed: number, scale = 1): Float32Array => {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => Math.fround((r() - 0.5) * scale));
};

describe('topkIndices', () => {
  it('the k largest magnitudes, ties to the lower index, ascending: against a full sort (awkward sizes)', () => {
    for (const n of [1, 3, 8, 17, 100, 240]) {
      // Few distinct values, so ties happen, with signs mixed.
      const r = rng(n);
      const a = Float32Array.from({ length: n }, () => Math.round((r() - 0.5) * 8) / 2);
      for (const k of [1, Math.ceil(n / 3), n]) {
        const oracle = Array.from({ length: n }, (_, i) => i)
          .sort((x, y) => Math.abs(a[y]!) - Math.abs(a[x]!) || x - y)
          .slice(0, k)
          .sort((x, y) => x - y);
        expect(Array.from(topkIndices(a, k)), `n ${n} k ${k}`).toEqual(oracle);
      }
    }
  });
});

describe('topkErrorFeedback', () => {
  it('sent + residual = gradient + previous residual, entry by entry and exactly, over many steps; the sent are the largest', () => {
    const n = 240,
      k = topkCount(n, 0.05),
      residual = new Float32Array(n);
    expect(k).toBe(12);
    for (let step = 0; step < 20; step++) {
      const g = gaussian(n, 100 + step),
        before = residual.slice();
      const { indices, values } = topkErrorFeedback(g, residual, k);
      const sent = new Float32Array(n);
      indices.forEach((i, j) => {
        sent[i] = values[j]!;
      });
      for (let i = 0; i < n; i++) {
        // The oracle: the float32 sum of the two, computed here independently.
        const acc = Math.fround(g[i]! + before[i]!);
        expect(sent[i]! + residual[i]!, `step ${step} entry ${i}`).toBe(acc);
        expect(sent[i] === 0 || residual[i] === 0).toBe(true); // each entry sent whole or kept whole
      }
      const smallestSent = Math.min(...Array.from(values, Math.abs));
      expect(Math.max(...Array.from(residual, Math.abs))).toBeLessThanOrEqual(smallestSent);
      expect(indices).toHaveLength(k);
    }
    // Error feedback delays, it does not drop: entries never sent have grown in the residual.
    expect(residual.some((v) => Math.abs(v) > 0.5)).toBe(true);
  });

  it('R = 1 sends every entry as is (-0 included) and keeps no residual', () => {
    const g = gaussian(17, 5);
    g[3] = -0;
    const residual = new Float32Array(17);
    const { indices, values } = topkErrorFeedback(g, residual, topkCount(17, 1));
    expect(Array.from(indices)).toEqual(Array.from({ length: 17 }, (_, i) => i));
    expect(bitsEqual(values, g)).toBe(true);
    expect(Object.is(values[3], -0)).toBe(true);
    expect(residual.every((v) => v === 0)).toBe(true);
  });

  it('refuses a residual of another size and a k out of range, naming the argument', () => {
    expect(() => topkErrorFeedback(new Float32Array(4), new Float32Array(3), 1)).toThrow(
      "topkErrorFeedback: argument 'residual' must be 4 entries, got 3",
    );
    expect(() => topkErrorFeedback(new Float32Array(4), new Float32Array(4), 5)).toThrow(
      /argument 'k' must be in \[1, 4\]/,
    );
  });
});

describe('sumSparseInRankOrder', () => {
  it('with every entry sent, it is the dense float32 sum over ranks 0, 1, … in that order, bit for bit', () => {
    const n = 100,
      ranks = [gaussian(n, 1), gaussian(n, 2, 1e-3), gaussian(n, 3, 1e4)];
    ranks[0]![7] = -0;
    ranks[1]![7] = -0;
    ranks[2]![7] = -0;
    const out = new Float32Array(n);
    sumSparseInRankOrder(
      ranks.map((v) => ({ indices: Int32Array.from({ length: n }, (_, i) => i), values: v })),
      out,
    );
    // allreduceOrdered's order (native/mpi.cc): s = x0; s += x1; s += x2, in float32.
    const dense = Float32Array.from({ length: n }, (_, i) =>
      Math.fround(Math.fround(ranks[0]![i]! + ranks[1]![i]!) + ranks[2]![i]!),
    );
    expect(bitsEqual(out, dense)).toBe(true);
    expect(Object.is(out[7], -0)).toBe(true);
  });

  it('sparse parts: entries nobody sent are 0, overlapping ones summed in rank order', () => {
    const out = new Float32Array(5).fill(9);
    sumSparseInRankOrder(
      [
        { indices: Int32Array.of(0, 2), values: Float32Array.of(1, 2) },
        { indices: Int32Array.of(2, 4), values: Float32Array.of(0.5, -3) },
      ],
      out,
    );
    expect(Array.from(out)).toEqual([1, 0, 2.5, 0, -3]);
  });
});

describe('rankBatches', () => {
  it("the ranks' batches over an epoch are the single-process batches, each once; every rank has the same number of steps", () => {
    for (const [batches, ranks] of [
      [8, 2],
      [9, 2],
      [7, 3],
      [1, 4],
      [5, 1],
    ] as const) {
      const per = Array.from({ length: ranks }, (_, r) => rankBatches(batches, r, ranks));
      const steps = Math.ceil(batches / ranks);
      for (const p of per) expect(p).toHaveLength(steps);
      const all = per.flat().filter((b): b is number => b !== null);
      expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: batches }, (_, b) => b));
      // Step s is one contiguous run of batches, rank r on sP + r: P consecutive slices of the shuffled seeds.
      for (let s = 0; s < steps; s++)
        per.forEach((p, r) => {
          expect(p[s]).toBe(s * ranks + r < batches ? s * ranks + r : null);
        });
    }
    expect(() => rankBatches(4, 2, 2)).toThrow(/argument 'rank' must be an integer in \[0, 2\)/);
  });
});
