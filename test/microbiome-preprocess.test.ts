import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  clr,
  com,
  css,
  cssPercentile,
  mclr,
  normalize,
  NORMALIZATIONS,
  rarefy,
  tss,
  type Normalization,
} from '../src/microbiome/normalize.js';
import {
  gbm,
  multiplicativeReplacement,
  pseudocount,
  replaceZeros,
  ZERO_REPLACEMENTS,
  type ZeroReplacement,
} from '../src/microbiome/zeros.js';
import { augmentBalanced, augmentCopies } from '../src/microbiome/augment.js';

const m = (rows: number[][]): Float64Array => Float64Array.from(rows.flat());
const row = (x: Float64Array, p: number, i: number): number[] => Array.from(x.subarray(i * p, (i + 1) * p));
const rowSums = (x: Float64Array, n: number, p: number): number[] =>
  Array.from({ length: n }, (_, i) => row(x, p, i).reduce((a, b) => a + b, 0));

function expectClose(actual: Float64Array, expected: number[][], digits = 12): void {
  const flat = expected.flat();
  expect(actual.length).toBe(flat.length);
  flat.forEach((v, k) => {
    expect(actual[k]).toBeCloseTo(v, digits);
  });
}

describe('normalizations on hand-computed matrices', () => {
  it('tss divides by the row total; rows sum to 1', () => {
    const out = tss(
      m([
        [1, 2, 3, 4],
        [0, 5, 5, 0],
      ]),
      2,
      4,
    );
    expectClose(out, [
      [0.1, 0.2, 0.3, 0.4],
      [0, 0.5, 0.5, 0],
    ]);
    rowSums(out, 2, 4).forEach((s) => {
      expect(s).toBeCloseTo(1, 12);
    });
  });

  it('com scales every row to the smallest total', () => {
    const out = com(
      m([
        [1, 2, 3, 4],
        [0, 5, 15, 0],
        [10, 10, 10, 10],
      ]),
      3,
      4,
    );
    expectClose(out, [
      [1, 2, 3, 4],
      [0, 2.5, 7.5, 0],
      [2.5, 2.5, 2.5, 2.5],
    ]);
    rowSums(out, 3, 4).forEach((s) => {
      expect(s).toBeCloseTo(10, 12);
    });
  });

  it('clr is log minus the row mean of logs; rows sum to 0', () => {
    const out = clr(
      m([
        [1, 2, 4, 8],
        [3, 3, 3, 3],
      ]),
      2,
      4,
    );
    const l = Math.LN2;
    expectClose(out, [
      [-1.5 * l, -0.5 * l, 0.5 * l, 1.5 * l],
      [0, 0, 0, 0],
    ]);
    rowSums(out, 2, 4).forEach((s) => {
      expect(s).toBeCloseTo(0, 12);
    });
  });

  it('mclr centres over nonzeros, keeps zeros, and shifts the minimum nonzero to eps', () => {
    // Row 0 nonzeros {1, 4}: mean log = ln2, c = (−ln2, ln2). Row 1 {2, 2, 8}: mean log = 5/3 ln2,
    // c = (−2/3, −2/3, 4/3)·ln2. Global min −ln2, so nonzeros get + ln2 + eps.
    const x = m([
        [1, 0, 4, 0],
        [2, 2, 8, 0],
      ]),
      l = Math.LN2;
    for (const eps of [1, 0.5]) {
      const out = mclr(x, 2, 4, eps);
      expectClose(out, [
        [eps, 0, eps + 2 * l, 0],
        [eps + l / 3, eps + l / 3, eps + (7 / 3) * l, 0],
      ]);
      const nonzero = Array.from(out).filter((_, k) => x[k]! > 0);
      expect(Math.min(...nonzero)).toBeCloseTo(eps, 12);
      Array.from(x).forEach((v, k) => {
        if (v === 0) expect(out[k]).toBe(0);
      });
    }
    expectClose(normalize(x, 2, 4, 'mclr'), [
      [1, 0, 1 + 2 * l, 0],
      [1 + l / 3, 1 + l / 3, 1 + (7 / 3) * l, 0],
    ]);
  });

  it('none is a copy, and normalize dispatches to each method', () => {
    const x = m([
      [1, 2, 3, 4],
      [5, 1, 2, 8],
    ]);
    const copy = normalize(x, 2, 4, 'none');
    expect(copy).not.toBe(x);
    expect(Array.from(copy)).toEqual(Array.from(x));
    expect(Array.from(normalize(x, 2, 4, 'tss'))).toEqual(Array.from(tss(x, 2, 4)));
    expect(Array.from(normalize(x, 2, 4, 'com'))).toEqual(Array.from(com(x, 2, 4)));
    expect(Array.from(normalize(x, 2, 4, 'clr'))).toEqual(Array.from(clr(x, 2, 4)));
    expect(Array.from(normalize(x, 2, 4, 'css', { cssQuantile: 0.5 }))).toEqual(Array.from(css(x, 2, 4, 0.5)));
    expect(Array.from(normalize(x, 2, 4, 'rarefy', { seed: 3, depth: 5 }))).toEqual(Array.from(rarefy(x, 2, 4, 5, 3)));
    expect(NORMALIZATIONS).toEqual(['tss', 'css', 'com', 'rarefy', 'clr', 'mclr', 'none']);
  });
});

describe('css', () => {
  it('scales by the sum of counts up to the quantile of nonzero counts, times 1000', () => {
    // Row 0 nonzeros 1,2,3,4: median (type 7) 2.5, s = 1 + 2 = 3. Row 1 nonzeros 1,5,7,100:
    // median 6, s = 1 + 5 = 6.
    const x = m([
      [1, 2, 3, 4, 0],
      [5, 0, 1, 100, 7],
    ]);
    expectClose(
      css(x, 2, 5, 0.5),
      [
        [1000 / 3, 2000 / 3, 1000, 4000 / 3, 0],
        [5000 / 6, 0, 1000 / 6, 100000 / 6, 7000 / 6],
      ],
      9,
    );
    // Quantile 0.75 on row 0: h = 3·0.75 = 2.25, q = 3.25, s = 1 + 2 + 3 = 6.
    expect(css(x, 2, 5, 0.75)[0]).toBeCloseTo(1000 / 6, 10);
    // A quantile that equals a count includes it: nonzeros 1, 2, 9 have median 2, s = 1 + 2 = 3.
    expectClose(css(m([[9, 0, 1, 2]]), 1, 4, 0.5), [[3000, 0, 1000 / 3, 2000 / 3]], 9);
  });

  it('picks the data-driven quantile of cumNormStatFast', () => {
    // Samples' nonzero counts: A 1,2,3,10; B 1,2,3,20; C 1,2,3,30; D 1,4,7 (padded 0,1,4,7).
    // ref = (0.75, 1.75, 3.25, 16.75); D's quantiles at 0, 1/3, 2/3, 1 are 1, 3, 5, 7; the
    // median deviations are d = (0.25, 0.25, 0.25, 8.25): the first jump > 10% is at k = 3,
    // so l = 3/4.
    const x = m([
      [1, 2, 3, 10],
      [20, 1, 2, 3],
      [1, 2, 30, 3],
      [0, 1, 4, 7],
    ]);
    expect(cssPercentile(x, 4, 4)).toBe(0.75);
    // At 0.75: A, B, C have q = 3 + 0.25·(top − 3) ≥ 4.75, s = 6; D has q = 5.5, s = 1 + 4 = 5.
    expectClose(
      css(x, 4, 4),
      [
        [1, 2, 3, 10].map((v) => v / 0.006),
        [20, 1, 2, 3].map((v) => v / 0.006),
        [1, 2, 30, 3].map((v) => v / 0.006),
        [0, 1, 4, 7].map((v) => v / 0.005),
      ],
      9,
    );
    // A, B = 1,2,3,40, C = 2,4,6,8: d = (1/3, 2/3, 1, 40/3); the first jump is at k = 1,
    // l = 1/4, which is raised to 0.5.
    expect(
      cssPercentile(
        m([
          [1, 2, 3, 4],
          [1, 2, 3, 40],
          [2, 4, 6, 8],
        ]),
        3,
        4,
      ),
    ).toBe(0.5);
  });
});

describe('rarefy', () => {
  const x = m([
    [10, 0, 5, 85],
    [30, 30, 30, 10],
    [3, 7, 0, 40],
  ]);

  it('draws depth reads per sample, never more than there were', () => {
    const out = rarefy(x, 3, 4, undefined, 7);
    rowSums(out, 3, 4).forEach((s) => {
      expect(s).toBe(50);
    });
    out.forEach((v, k) => {
      expect(Number.isInteger(v)).toBe(true);
      expect(v).toBeLessThanOrEqual(x[k]!);
    });
    expect(Array.from(row(out, 4, 2))).toEqual([3, 7, 0, 40]); // depth = its total: all reads
    expect(Array.from(rarefy(x, 3, 4, 20, 7))).toEqual(Array.from(rarefy(x, 3, 4, 20, 7)));
    expect(Array.from(rarefy(x, 3, 4, 20, 7))).not.toEqual(Array.from(rarefy(x, 3, 4, 20, 8)));
  });

  it('has the hypergeometric mean and variance', () => {
    // Each count is hypergeometric: mean d·π, variance d·π(1−π)(N−d)/(N−1), π = x/N. The mean
    // of R draws is within 5 standard errors (normal tail 6e-7 per entry). Depth 80 of 100 makes
    // the without-replacement variance 20/99 of the multinomial one, so the ±20% band on the
    // sample variance (its relative sd is about √(2/R) ≈ 2%) rejects sampling with replacement.
    const d = 80,
      R = 4000,
      n = 3,
      p = 4;
    const y = m(
      [
        [10, 0, 5, 85],
        [30, 30, 30, 10],
        [3, 7, 0, 40],
      ].map((r, i) => (i === 2 ? r.map((v) => v * 2) : r)),
    );
    const total = rowSums(y, n, p);
    expect(total).toEqual([100, 100, 100]);
    const sum = new Float64Array(n * p),
      sq = new Float64Array(n * p);
    for (let r = 0; r < R; r++) {
      const out = rarefy(y, n, p, d, 1000 + r);
      out.forEach((v, k) => {
        sum[k]! += v;
        sq[k]! += v * v;
      });
    }
    for (let k = 0; k < n * p; k++) {
      const N = total[Math.floor(k / p)]!,
        pi = y[k]! / N;
      const mean = sum[k]! / R,
        variance = (sq[k]! - R * mean * mean) / (R - 1);
      const hyperVar = (d * pi * (1 - pi) * (N - d)) / (N - 1);
      expect(Math.abs(mean - d * pi)).toBeLessThanOrEqual(5 * Math.sqrt(hyperVar / R) + 1e-12);
      if (hyperVar > 0) expect(Math.abs(variance / hyperVar - 1)).toBeLessThan(0.2);
      else expect(variance).toBe(0);
    }
  });

  it('scales to deep samples (cost follows depth, not reads)', () => {
    const deep = m([[4e6, 3e6, 2e6, 1e6]]);
    const out = rarefy(deep, 1, 4, 10000, 1);
    expect(rowSums(out, 1, 4)[0]).toBe(10000);
    row(out, 4, 0).forEach((v, j) => {
      expect(Math.abs(v - 10000 * [0.4, 0.3, 0.2, 0.1][j]!)).toBeLessThan(5 * 50);
    }); // sd ≤ 50
  });
});

describe('zero replacement', () => {
  it('pseudocount adds c to every entry', () => {
    expectClose(
      pseudocount(
        m([
          [0, 1],
          [2, 0],
        ]),
        2,
        2,
      ),
      [
        [1, 2],
        [3, 1],
      ],
    );
    expectClose(
      replaceZeros(
        m([
          [0, 1],
          [2, 0],
        ]),
        2,
        2,
        'pseudo',
        { pseudo: 0.5 },
      ),
      [
        [0.5, 1.5],
        [2.5, 0.5],
      ],
    );
  });

  it('multiplicative replacement: zeros become δ, nonzeros shrink by 1 − z·δ on the closed rows', () => {
    // δ = 1/16. Row 0: closed (.2, 0, .6, .2), one zero → × 15/16. Row 1: (0, 0, .5, .5), two → × 14/16.
    const out = multiplicativeReplacement(
      m([
        [2, 0, 6, 2],
        [0, 0, 5, 5],
      ]),
      2,
      4,
    );
    expectClose(out, [
      [0.1875, 0.0625, 0.5625, 0.1875],
      [0.0625, 0.0625, 0.4375, 0.4375],
    ]);
    rowSums(out, 2, 4).forEach((s) => {
      expect(s).toBeCloseTo(1, 12);
    });
    expectClose(multiplicativeReplacement(m([[2, 0, 6, 2]]), 1, 4, 0.01), [[0.2 * 0.99, 0.01, 0.6 * 0.99, 0.2 * 0.99]]);
  });

  it("matches scikit-bio's documented multiplicative_replacement example", () => {
    const out = replaceZeros(
      m([
        [0.2, 0.4, 0.4, 0],
        [0, 0.5, 0.5, 0],
      ]),
      2,
      4,
      'multrepl',
    );
    expectClose(out, [
      [0.1875, 0.375, 0.375, 0.0625],
      [0.0625, 0.4375, 0.4375, 0.0625],
    ]);
  });

  it('gbm follows the formula on a 3×4 example', () => {
    // Column sums (16, 14, 9, 21), every N_i = 20, so Σ_j α_ij = 60 − 20 = 40 for each row:
    const x = m([
      [10, 0, 5, 5],
      [0, 8, 4, 8],
      [6, 6, 0, 8],
    ]);
    const t = [
      [6 / 40, 14 / 40, 4 / 40, 16 / 40],
      [16 / 40, 6 / 40, 5 / 40, 13 / 40],
      [10 / 40, 8 / 40, 9 / 40, 13 / 40],
    ];
    const s = t.map((ti) => 1 / (ti[0]! * ti[1]! * ti[2]! * ti[3]!) ** (1 / 4));
    const r = (i: number, j: number): number => (t[i]![j]! * s[i]!) / (20 + s[i]!);
    // Every r is below its column's smallest observed proportion (0.3, 0.3, 0.2): no adjustment.
    const [r01, r10, r22] = [r(0, 1), r(1, 0), r(2, 2)];
    expect(Math.max(r01 / 0.3, r10 / 0.3, r22 / 0.2)).toBeLessThan(1);
    const expected = [
      [0.5 * (1 - r01), r01, 0.25 * (1 - r01), 0.25 * (1 - r01)],
      [r10, 0.4 * (1 - r10), 0.2 * (1 - r10), 0.4 * (1 - r10)],
      [0.3 * (1 - r22), 0.3 * (1 - r22), r22, 0.4 * (1 - r22)],
    ];
    const out = gbm(x, 3, 4);
    expectClose(out, expected);
    expectClose(replaceZeros(x, 3, 4, 'gbm'), expected);
    rowSums(out, 3, 4).forEach((v) => {
      expect(v).toBeCloseTo(1, 12);
    });
  });

  it('gbm caps an imputation above the smallest observed proportion at 0.65 of it', () => {
    // Row 0 (total 2) has a zero in column 1, whose smallest observed proportion is 1/2001;
    // t_0 = (1001, 1001, 2000)/4002 gives r ≈ 0.15, far above it, so r = 0.65/2001.
    const x = m([
      [1, 0, 1],
      [1, 1000, 1000],
      [1000, 1, 1000],
    ]);
    const capped = 0.65 / 2001;
    expectClose(gbm(x, 3, 3).subarray(0, 3), [[0.5 * (1 - capped), capped, 0.5 * (1 - capped)]]);
    const t = [1001 / 4002, 1001 / 4002, 2000 / 4002],
      s = 1 / Math.cbrt(t[0]! * t[1]! * t[2]!);
    const r = (t[1]! * s) / (2 + s);
    expectClose(gbm(x, 3, 3, { adjust: false }).subarray(0, 3), [[0.5 * (1 - r), r, 0.5 * (1 - r)]]);
    expectClose(gbm(x, 3, 3).subarray(3, 6), [[1 / 2001, 1000 / 2001, 1000 / 2001]]); // no zeros: closed only
  });

  it('none is a copy; the method list is complete', () => {
    const x = m([[0, 1]]);
    const out = replaceZeros(x, 1, 2, 'none');
    expect(out).not.toBe(x);
    expect(Array.from(out)).toEqual([0, 1]);
    expect(ZERO_REPLACEMENTS).toEqual(['none', 'pseudo', 'multrepl', 'gbm']);
  });
});

describe('augmentation', () => {
  const x = m([
    [10, 0, 5],
    [3, 3, 0],
    [0, 8, 1],
    [50, 0, 0],
    [7, 7, 7],
    [0, 2, 20],
  ]);
  const labels = Int32Array.of(0, 0, 0, 1, 2, 2);

  it('balances classes with copies of the given rows of each class, originals first', () => {
    const before = Float64Array.from(x);
    const a = augmentBalanced(x, 6, 3, labels, { seed: 1 });
    expect(Array.from(x)).toEqual(Array.from(before));
    expect(a.n).toBe(9);
    expect(Array.from(a.x.subarray(0, 18))).toEqual(Array.from(x));
    expect(Array.from(a.labels)).toEqual([0, 0, 0, 1, 2, 2, 1, 1, 2]);
    expect(Array.from(a.source.subarray(0, 6))).toEqual([0, 1, 2, 3, 4, 5]);
    for (let k = 6; k < a.n; k++) {
      const from = a.source[k]!;
      expect(from).toBeGreaterThanOrEqual(0);
      expect(from).toBeLessThan(6);
      expect(labels[from]).toBe(a.labels[k]);
      for (let j = 0; j < 3; j++) {
        const v = a.x[k * 3 + j]!;
        if (x[from * 3 + j] === 0) expect(v).toBe(0);
        expect(Number.isInteger(v) && v >= 0).toBe(true);
      }
    }
    const big = augmentBalanced(x, 6, 3, labels, { seed: 1, factor: 2 });
    expect(big.n).toBe(18);
    for (const c of [0, 1, 2]) expect(Array.from(big.labels).filter((l) => l === c).length).toBe(6);
  });

  it('noise is multiplicative on nonzeros: none gives exact copies, some moves counts', () => {
    const exact = augmentBalanced(x, 6, 3, labels, { seed: 2, noise: 0 });
    for (let k = 6; k < exact.n; k++) expect(row(exact.x, 3, k)).toEqual(row(x, 3, exact.source[k]!));
    const big = m([
      [1000, 0, 2000],
      [500, 500, 0],
    ]);
    const noisy = augmentCopies(big, 2, 3, { seed: 3, copies: 200 });
    // Mean of copies ≈ original (E[1 + 0.1ε] = 1); sd of one copy's count is 0.1·x, so the mean of
    // 200 is within 5·0.1·x/√200 ≈ 0.035·x.
    for (const i of [0, 1]) {
      const copies = Array.from({ length: noisy.n }, (_, k) => k).filter((k) => k >= 2 && noisy.source[k] === i);
      for (let j = 0; j < 3; j++) {
        const v = big[i * 3 + j]!,
          mean = copies.reduce((s, k) => s + noisy.x[k * 3 + j]!, 0) / copies.length;
        if (v === 0) expect(mean).toBe(0);
        else expect(Math.abs(mean - v)).toBeLessThan(0.036 * v);
      }
      expect(copies.some((k) => noisy.x[k * 3] !== big[i * 3])).toBe(true);
    }
  });

  it('a copy that rounding would empty keeps the original counts', () => {
    // [1, 0, 0] with noise 10: round(max(0, 1 + 10ε)) is 0 about half the time.
    const a = augmentCopies(m([[1, 0, 0]]), 1, 3, { seed: 4, copies: 50, noise: 10 });
    for (let k = 1; k < a.n; k++) expect(a.x[k * 3]).toBeGreaterThan(0);
    expect(Array.from({ length: 50 }, (_, k) => a.x[(k + 1) * 3]).filter((v) => v === 1).length).toBeGreaterThan(10);
  });

  it('is deterministic for a seed, and copies per sample in order for regression', () => {
    const a = augmentBalanced(x, 6, 3, labels, { seed: 5 }),
      b = augmentBalanced(x, 6, 3, labels, { seed: 5 });
    expect(Array.from(a.x)).toEqual(Array.from(b.x));
    expect(Array.from(a.source)).toEqual(Array.from(b.source));
    const c = augmentBalanced(x, 6, 3, labels, { seed: 6 });
    expect(Array.from(c.x).concat(Array.from(c.source))).not.toEqual(Array.from(a.x).concat(Array.from(a.source)));
    const r = augmentCopies(x.subarray(0, 9), 3, 3, { seed: 1, copies: 2 });
    expect(r.n).toBe(9);
    expect(Array.from(r.source)).toEqual([0, 1, 2, 0, 0, 1, 1, 2, 2]);
    expect(Array.from(r.x.subarray(0, 9))).toEqual(Array.from(x.subarray(0, 9)));
  });
});

describe('bad input', () => {
  const cases: [string, () => unknown, string][] = [
    ['negative', () => tss(m([[1, -1]]), 1, 2), "tss: argument 'x[0, 1]' must be a finite non-negative count, got -1"],
    [
      'NaN',
      () =>
        clr(
          m([
            [1, 2],
            [NaN, 1],
          ]),
          2,
          2,
        ),
      "clr: argument 'x[1, 0]' must be a finite non-negative count, got NaN",
    ],
    [
      'Infinity',
      () => com(m([[1, Infinity]]), 1, 2),
      "com: argument 'x[0, 1]' must be a finite non-negative count, got Infinity",
    ],
    ['shape', () => tss(new Float64Array(5), 2, 3), "tss: argument 'x.length' must be n*p = 6, got 5"],
    ['n', () => tss(new Float64Array(0), 0, 3), "tss: argument 'n' must be a positive integer, got 0"],
    [
      'all-zero tss',
      () =>
        tss(
          m([
            [1, 1],
            [0, 0],
          ]),
          2,
          2,
        ),
      "tss: argument 'row 1 of x' must be a sample with a positive total, got 0",
    ],
    [
      'all-zero com',
      () =>
        com(
          m([
            [0, 0],
            [1, 1],
          ]),
          2,
          2,
        ),
      "com: argument 'row 0 of x' must be a sample with a positive total, got 0",
    ],
    [
      'all-zero css',
      () =>
        css(
          m([
            [1, 1],
            [0, 0],
          ]),
          2,
          2,
          0.5,
        ),
      "css: argument 'row 1 of x' must be a sample with a positive total, got 0",
    ],
    [
      'all-zero multrepl',
      () =>
        multiplicativeReplacement(
          m([
            [0, 0],
            [1, 1],
          ]),
          2,
          2,
        ),
      "multiplicativeReplacement: argument 'row 0 of x' must be a sample with a positive total, got 0",
    ],
    [
      'all-zero gbm',
      () =>
        gbm(
          m([
            [1, 1],
            [1, 1],
            [0, 0],
          ]),
          3,
          2,
        ),
      "gbm: argument 'row 2 of x' must be a sample with a positive total, got 0",
    ],
    [
      'all-zero rarefy',
      () =>
        rarefy(
          m([
            [1, 1],
            [0, 0],
          ]),
          2,
          2,
          undefined,
          1,
        ),
      "rarefy: argument 'row 1 of x' must be a sample with a positive total, got 0",
    ],
    [
      'rarefy non-integer',
      () => rarefy(m([[1.5, 2]]), 1, 2, 1, 1),
      "rarefy: argument 'x[0, 0]' must be a whole-number count, got 1.5",
    ],
    [
      'rarefy shallow',
      () =>
        rarefy(
          m([
            [5, 5],
            [1, 3],
          ]),
          2,
          2,
          10,
          1,
        ),
      "rarefy: argument 'row 1 of x' must be a sample with at least depth = 10 reads, got 4",
    ],
    [
      'rarefy depth',
      () => rarefy(m([[5, 5]]), 1, 2, 2.5, 1),
      "rarefy: argument 'depth' must be a positive integer, got 2.5",
    ],
    [
      'rarefy seed',
      () => normalize(m([[5, 5]]), 1, 2, 'rarefy'),
      "normalize: argument 'o.seed' must be an integer seed when method is rarefy, got undefined",
    ],
    [
      'clr zeros',
      () => clr(m([[1, 0]]), 1, 2),
      "clr: argument 'x[0, 1]' must be strictly positive (zeros must be replaced first), got 0",
    ],
    [
      'method',
      () => normalize(m([[1]]), 1, 1, 'tmm' as Normalization),
      'normalize: argument \'method\' must be one of tss, css, com, rarefy, clr, mclr, none, got "tmm"',
    ],
    [
      'zero method',
      () => replaceZeros(m([[1]]), 1, 1, 'knn' as ZeroReplacement),
      'replaceZeros: argument \'method\' must be one of none, pseudo, multrepl, gbm, got "knn"',
    ],
    ['css quantile', () => css(m([[1, 2]]), 1, 2, 1.5), "css: argument 'quantile' must be a number in [0, 1], got 1.5"],
    [
      'css one nonzero',
      () =>
        cssPercentile(
          m([
            [1, 2],
            [0, 3],
          ]),
          2,
          2,
        ),
      "cssPercentile: argument 'row 1 of x' must be a sample with at least two nonzero counts, got 1",
    ],
    [
      'pseudocount',
      () => pseudocount(m([[1]]), 1, 1, 0),
      "pseudocount: argument 'c' must be a positive finite number, got 0",
    ],
    [
      'delta',
      () => multiplicativeReplacement(m([[1, 0, 0]]), 1, 3, 0.5),
      "multiplicativeReplacement: argument 'delta' must be below 1/2 (row 0 has 2 zeros), got 0.5",
    ],
    [
      'gbm lone taxon',
      () =>
        gbm(
          m([
            [1, 2],
            [1, 0],
            [1, 0],
          ]),
          3,
          2,
        ),
      "gbm: argument 'column 1 of x' must be a taxon with positive counts in at least two samples, got 2",
    ],
    [
      'gbm one sample',
      () => gbm(m([[1, 2]]), 1, 2),
      "gbm: argument 'n' must be at least 2 (the prior leaves each sample out), got 1",
    ],
    ['mclr eps', () => mclr(m([[1, 2]]), 1, 2, -1), "mclr: argument 'eps' must be a positive finite number, got -1"],
    [
      'augment labels',
      () => augmentBalanced(m([[1], [2]]), 2, 1, Int32Array.of(0), { seed: 1 }),
      "augmentBalanced: argument 'labels.length' must be n = 2, got 1",
    ],
    [
      'augment factor',
      () => augmentBalanced(m([[1], [2]]), 2, 1, Int32Array.of(0, 1), { seed: 1, factor: 0.5 }),
      "augmentBalanced: argument 'o.factor' must be a finite number ≥ 1, got 0.5",
    ],
    [
      'augment noise',
      () => augmentCopies(m([[1]]), 1, 1, { seed: 1, copies: 1, noise: -0.1 }),
      "augmentCopies: argument 'o.noise' must be a finite non-negative number, got -0.1",
    ],
    [
      'augment seed',
      () => augmentCopies(m([[1]]), 1, 1, { seed: 0.5, copies: 1 }),
      "augmentCopies: argument 'o.seed' must be an integer, got 0.5",
    ],
  ];
  it.each(cases)('%s', (_name, call, message) => {
    expect(call).toThrow(RangeError);
    expect(call).toThrow(message);
    expect(message).not.toMatch(/--/);
  });

  it('no function changes its input, and the engine never prints', () => {
    const x = m([
        [1, 2, 0, 4],
        [5, 1, 2, 8],
        [3, 0, 1, 1],
      ]),
      before = Array.from(x);
    for (const method of NORMALIZATIONS) {
      if (method === 'clr') continue;
      normalize(x, 3, 4, method, { seed: 1, cssQuantile: 0.5 });
    }
    clr(pseudocount(x, 3, 4), 3, 4);
    for (const method of ZERO_REPLACEMENTS) replaceZeros(x, 3, 4, method);
    augmentBalanced(x, 3, 4, Int32Array.of(0, 1, 1), { seed: 1 });
    augmentCopies(x, 3, 4, { seed: 1, copies: 2 });
    expect(Array.from(x)).toEqual(before);
    for (const f of ['normalize', 'zeros', 'augment']) {
      expect(readFileSync(new URL(`../src/microbiome/${f}.ts`, import.meta.url), 'utf8')).not.toMatch(/console\./);
    }
  });
});
