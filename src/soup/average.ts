import { GraftError } from '../core/errors.js';

// Model soups (Wortsman et al., ICML 2022): one model whose weights are the mean of several
// models fine-tuned from one initialization. Pure arithmetic over weight maps (parameter
// name → values); which runs may be averaged, and how a soup is scored, is the caller's.

/** A model's weights by parameter name (the names nn/load-weights.ts loads by). */
export type Weights = ReadonlyMap<string, Float32Array>;

/** One ingredient of a soup: a name for messages (its run folder) and its weights. */
export interface SoupMember {
  name: string;
  weights: Weights;
}

/**
 * Refuses members that cannot be averaged: each must hold the first one's parameters, by
 * name, with as many values. One line naming the member and the parameter that differs.
 */
export function checkSameParameters(members: readonly SoupMember[]): void {
  if (members.length === 0) throw new GraftError('a soup needs at least one member');
  const first = members[0]!;
  for (const m of members.slice(1)) {
    for (const [name, w] of first.weights) {
      const v = m.weights.get(name);
      if (!v) throw new GraftError(`${m.name}: has no parameter ${name} (${first.name} has): another architecture`);
      if (v.length !== w.length)
        throw new GraftError(
          `${m.name}: parameter ${name} has ${v.length} values, ${first.name}'s ${w.length}: another architecture`,
        );
    }
    for (const name of m.weights.keys())
      if (!first.weights.has(name))
        throw new GraftError(`${m.name}: has a parameter ${name} that ${first.name} has not: another architecture`);
  }
}

/**
 * The uniform soup: each parameter the mean of the members' values, summed in float64 in
 * member order and rounded once to float32 (so two members give the correctly rounded
 * (a + b) / 2). The members must share their parameters (checkSameParameters).
 *
 * @example const soup = uniformSoup([a.weights, b.weights]); // soup.get('gcn0.weight')[i] = (a_i + b_i) / 2
 */
export function uniformSoup(weights: readonly Weights[]): Map<string, Float32Array> {
  if (weights.length === 0) throw new GraftError('a soup needs at least one member');
  const out = new Map<string, Float32Array>();
  for (const [name, first] of weights[0]!) {
    const sum = new Float64Array(first.length);
    for (const w of weights) {
      const v = w.get(name)!;
      for (let i = 0; i < sum.length; i++) sum[i]! += v[i]!;
    }
    const mean = new Float32Array(sum.length);
    for (let i = 0; i < sum.length; i++) mean[i] = sum[i]! / weights.length;
    out.set(name, mean);
  }
  return out;
}
