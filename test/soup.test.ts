import { describe, expect, it } from 'vitest';
import { checkSameParameters, uniformSoup, type Weights } from '../src/soup/average.js';
import { greedySoup } from '../src/soup/greedy.js';
import { applyMask, magnitudeMask, maskSparsity, sparseBytes } from '../src/soup/prune.js';
import { sparseSoup } from '../src/soup/sparse.js';
import { bitsEqual, randn } from './helpers.js';

// The soup engine on weight maps. Oracles: the mean computed by hand (float64, rounded once),
// a held-out score with a known optimum (minus the squared distance to a target), and masks
// checked by counting and by sorting magnitudes independently.

const weights = (seed: number, sizes: Record<string, number>, scale = 1, shift = 0): Map<string, Float32Array> =>
  new Map(Object.entries(sizes).map(([n, k], i) => [n, randn(k, seed * 100 + i).map((x) => x * scale + shift)]));

const SIZES = { 'gcn0.weight': 7 * 5, 'gcn0.bias': 5, 'gcn1.weight': 5 * 3, 'gcn1.bias': 3 };

describe('uniform soup', () => {
  it("two members' soup is each value's hand-computed mean, correctly rounded to float32", () => {
    const a = weights(1, SIZES),
      b = weights(2, SIZES);
    const soup = uniformSoup([a, b]);
    for (const [name, w] of a) {
      const want = w.map((x, i) => Math.fround((x + b.get(name)![i]!) / 2));
      expect(bitsEqual(soup.get(name)!, want), name).toBe(true);
    }
  });

  it('three members: the mean of three, and the soup of one member is that member', () => {
    const ms = [weights(3, SIZES), weights(4, SIZES), weights(5, SIZES)];
    const soup = uniformSoup(ms);
    const w = soup.get('gcn1.weight')!;
    for (let i = 0; i < w.length; i++) {
      const want = Math.fround(ms.reduce((s, m) => s + m.get('gcn1.weight')![i]!, 0) / 3);
      expect(w[i]).toBe(want);
    }
    expect(bitsEqual(uniformSoup([ms[0]!]).get('gcn0.weight')!, ms[0]!.get('gcn0.weight')!)).toBe(true);
  });

  it('refuses members of another architecture, naming the member and the parameter', () => {
    const a = { name: 'runs/a', weights: weights(1, SIZES) };
    const short = { name: 'runs/b', weights: weights(2, { ...SIZES, 'gcn1.weight': 5 * 4 }) };
    const missing = { name: 'runs/c', weights: weights(3, { 'gcn0.weight': 35, 'gcn0.bias': 5, 'gcn1.weight': 15 }) };
    const extra = { name: 'runs/d', weights: weights(4, { ...SIZES, 'gcn2.weight': 9 }) };
    expect(() => checkSameParameters([a, short])).toThrow(
      "runs/b: parameter gcn1.weight has 20 values, runs/a's 15: another architecture",
    );
    expect(() => checkSameParameters([a, missing])).toThrow('runs/c: has no parameter gcn1.bias (runs/a has)');
    expect(() => checkSameParameters([a, extra])).toThrow('runs/d: has a parameter gcn2.weight that runs/a has not');
    expect(() => checkSameParameters([a, { name: 'runs/e', weights: weights(5, SIZES) }])).not.toThrow();
  });
});

describe('greedy soup', () => {
  // The held-out score: minus the squared distance to a target the members are noisy copies of.
  const target = weights(9, SIZES);
  const score = async (w: Weights): Promise<number> => {
    let d = 0;
    for (const [n, t] of target) for (let i = 0; i < t.length; i++) d += (w.get(n)![i]! - t[i]!) ** 2;
    return -d;
  };
  const noisy = (seed: number, noise: number): Map<string, Float32Array> =>
    new Map([...target].map(([n, t], i) => [n, t.map((x, j) => x + noise * randn(t.length, seed * 10 + i)[j]!)]));

  it('leaves out a member that is bad on purpose, and keeps those that improve the soup', async () => {
    const good = [1, 2, 3].map((s) => ({ name: `good${s}`, weights: noisy(s, 0.3) }));
    const bad = { name: 'bad', weights: noisy(4, 0.3) };
    // Bad on purpose: every value pushed 5 away from the target.
    for (const w of bad.weights.values()) for (let i = 0; i < w.length; i++) w[i]! += 5;
    const members = [bad, ...good];
    const scored = await Promise.all(members.map(async (m) => ({ ...m, score: await score(m.weights) })));
    const soup = await greedySoup(scored, score);
    expect(soup.ingredients).not.toContain('bad');
    // Averaging independent noise brings the copies nearer the target: all three good ones stay.
    expect([...soup.ingredients].sort()).toEqual(['good1', 'good2', 'good3']);
    expect(soup.steps.map((s) => s.member).at(-1)).toBe('bad'); // tried last: the worst own score
    expect(soup.steps.find((s) => s.member === 'bad')!.kept).toBe(false);
    // The soup is the uniform soup of the kept members, and scores as its record says.
    const want = uniformSoup(good.map((g) => g.weights));
    for (const [n, w] of want) expect(bitsEqual(soup.weights.get(n)!, w), n).toBe(true);
    expect(soup.score).toBe(await score(want));
    expect(soup.score).toBeGreaterThan(Math.max(...scored.map((s) => s.score)));
  });

  it('starts from the best member and keeps a member whose soup scores the same (the score does not drop)', async () => {
    const m = (name: string, s: number) => ({ name, weights: weights(1, SIZES), score: s });
    const soup = await greedySoup([m('b', 0.5), m('a', 0.9), m('c', 0.7)], async () => 0.9);
    expect(soup.steps.map((s) => s.member)).toEqual(['a', 'c', 'b']);
    expect(soup.ingredients).toEqual(['a', 'c', 'b']);
    const worse = await greedySoup([m('b', 0.5), m('a', 0.9)], async () => 0.89);
    expect(worse.ingredients).toEqual(['a']);
  });
});

describe('magnitude pruning', () => {
  it('prunes exactly round(s·n) of the weight matrices, the smallest magnitudes over all of them, biases whole', () => {
    const w = weights(7, SIZES);
    const prunable = ['gcn0.weight', 'gcn1.weight'];
    for (const s of [0, 0.1, 0.5, 0.9]) {
      const mask = magnitudeMask(w, prunable, s);
      const n = 35 + 15;
      const pruned = [...mask.values()].reduce((a, m) => a + m.filter((x) => x === 0).length, 0);
      expect(pruned, `sparsity ${s}`).toBe(Math.round(s * n));
      expect(maskSparsity(mask)).toBeCloseTo(Math.round(s * n) / n, 12);
      expect(mask.has('gcn0.bias')).toBe(false);
      // Oracle: every pruned magnitude is at most every kept one.
      const all = prunable.flatMap((p) => [...w.get(p)!].map((x, i) => ({ m: Math.abs(x), kept: mask.get(p)![i] })));
      const maxPruned = Math.max(-1, ...all.filter((x) => !x.kept).map((x) => x.m));
      const minKept = Math.min(Infinity, ...all.filter((x) => x.kept).map((x) => x.m));
      expect(maxPruned).toBeLessThanOrEqual(minKept);
    }
    expect(() => magnitudeMask(w, prunable, 1)).toThrow('sparsity must be in [0, 1), got 1');
  });

  it("a later round's mask holds the earlier one, and applyMask zeroes exactly the pruned values", () => {
    const w = weights(8, SIZES);
    const first = magnitudeMask(w, ['gcn0.weight'], 0.3);
    // Move the values: the pruned ones would now be the largest, yet stay pruned.
    const moved = new Map(w);
    moved.set(
      'gcn0.weight',
      w.get('gcn0.weight')!.map((x, i) => (first.get('gcn0.weight')![i] ? x * 0.01 : 100)),
    );
    const second = magnitudeMask(moved, ['gcn0.weight'], 0.5, first);
    first.get('gcn0.weight')!.forEach((keep, i) => {
      if (!keep) expect(second.get('gcn0.weight')![i]).toBe(0);
    });
    const copy = new Map([...w].map(([n, x]) => [n, x.slice()]));
    applyMask(copy, second);
    copy.get('gcn0.weight')!.forEach((x, i) => {
      expect(x === 0).toBe(second.get('gcn0.weight')![i] === 0);
    });
    expect(bitsEqual(copy.get('gcn1.weight')!, w.get('gcn1.weight')!)).toBe(true);
  });

  it('sparse bytes: a bitmap and the nonzero values for pruned parameters, dense for the rest', () => {
    const w = new Map([
      ['a.weight', Float32Array.of(0, 1, 0, 2, 0, 0, 3, 0, 4)],
      ['a.bias', Float32Array.of(1, 0)],
    ]);
    const mask = new Map([['a.weight', Uint8Array.of(0, 1, 0, 1, 0, 0, 1, 0, 1)]]);
    expect(sparseBytes(w, mask)).toBe(2 + 4 * 4 + 2 * 4); // ceil(9/8) bitmap bytes, 4 values, the dense bias
  });
});

describe('sparse soup', () => {
  const target = weights(11, SIZES);
  const prunable = ['gcn0.weight', 'gcn1.weight'];
  // "Retraining": a few masked gradient steps on each member's own quadratic, pulling towards
  // its target (the target plus its own offset); pruned values held at zero as a trainer would.
  const retrain =
    (steps: number, holdMask = true) =>
    async (m: { name: string; weights: Weights }, start: Weights, mask: Map<string, Uint8Array>) => {
      const out = new Map([...start].map(([n, w]) => [n, w.slice()]));
      for (let s = 0; s < steps; s++)
        for (const [n, w] of out) {
          const goal = m.weights.get(n)!;
          for (let i = 0; i < w.length; i++) w[i]! -= 0.3 * (w[i]! - goal[i]!);
          if (holdMask && mask.has(n)) for (let i = 0; i < w.length; i++) if (mask.get(n)![i] === 0) w[i] = 0;
        }
      return { weights: out, score: 0 };
    };
  const members = [1, 2, 3].map((s) => ({
    name: `m${s}`,
    weights: new Map([...target].map(([n, t], i) => [n, t.map((x, j) => x + 0.2 * randn(t.length, s * 7 + i)[j]!)])),
  }));

  it('has the target sparsity, its pruned weights stay zero after retraining, and the rest moved', async () => {
    for (const rounds of [1, 3]) {
      const s = await sparseSoup(members, {
        sparsity: 0.5,
        rounds,
        prunable,
        retrain: retrain(4),
        score: async () => 0,
      });
      expect(s.rounds.length).toBe(rounds);
      const n = 35 + 15;
      let zeros = 0;
      for (const p of prunable) {
        const w = s.weights.get(p)!,
          m = s.mask.get(p)!;
        for (let i = 0; i < w.length; i++) {
          if (m[i] === 0) expect(w[i]).toBe(0);
          if (w[i] === 0) zeros++;
        }
      }
      expect(zeros).toBe(Math.round(0.5 * n));
      // Biases are not pruned; and the kept values are the retrained members' mean, not the pruned average.
      expect(s.weights.get('gcn0.bias')!.every((x) => x !== 0)).toBe(true);
      const pruned = uniformSoup(members.map((m) => m.weights));
      applyMask(pruned, s.mask);
      expect(bitsEqual(s.weights.get('gcn0.weight')!, pruned.get('gcn0.weight')!)).toBe(false);
    }
  });

  it('refuses a retraining that lets a pruned weight move, naming the member and the weight', async () => {
    await expect(
      sparseSoup(members, { sparsity: 0.5, rounds: 1, prunable, retrain: retrain(1, false), score: async () => 0 }),
    ).rejects.toThrow(/^m1: retraining changed gcn\d\.weight\[\d+\], a pruned weight .*: the mask was not held$/);
  });
});
