import { uniformSoup, type SoupMember, type Weights } from './average.js';

// Wortsman et al.'s greedy soup: the members in decreasing order of their own held-out
// score; each is added to the soup only when the soup's held-out score does not drop.

/** A member with its own held-out (validation) score, higher is better. */
export interface ScoredMember extends SoupMember {
  score: number;
}

/** One step of the greedy recipe: the member tried, the soup's score with it, and whether it stayed. */
export interface GreedyStep {
  member: string;
  /** The member's own held-out score. */
  memberScore: number;
  /** The held-out score of the soup with the member in (the first step: the member alone). */
  soupScore: number;
  kept: boolean;
}

/** A greedy soup: its weights, the members in it, its held-out score, and every step taken. */
export interface GreedySoup {
  weights: Map<string, Float32Array>;
  ingredients: string[];
  score: number;
  steps: GreedyStep[];
}

/**
 * The greedy soup of `members` (which share their parameters): starts from the best member
 * alone, then tries each next-best one, keeping it when `score` (the held-out score of a
 * candidate soup's weights, higher is better) is at least the soup's so far. Ties in the
 * members' own scores keep the order given. A NaN score never beats one that is a number.
 *
 * @example const soup = await greedySoup(members, (w) => validationAccuracy(w));
 */
export async function greedySoup(
  members: readonly ScoredMember[],
  score: (weights: Weights) => Promise<number>,
): Promise<GreedySoup> {
  const order = members
    .map((m, i) => ({ m, i }))
    .sort((a, b) => rank(b.m.score) - rank(a.m.score) || a.i - b.i)
    .map((x) => x.m);
  const first = order[0]!;
  const inSoup: ScoredMember[] = [first];
  let weights = uniformSoup([first.weights]);
  let best = first.score;
  const steps: GreedyStep[] = [{ member: first.name, memberScore: first.score, soupScore: best, kept: true }];
  for (const m of order.slice(1)) {
    const candidate = uniformSoup([...inSoup, m].map((x) => x.weights));
    const s = await score(candidate);
    const kept = rank(s) >= rank(best);
    steps.push({ member: m.name, memberScore: m.score, soupScore: s, kept });
    if (kept) {
      inSoup.push(m);
      weights = candidate;
      best = s;
    }
  }
  return { weights, ingredients: inSoup.map((m) => m.name), score: best, steps };
}

/** Scores as ranked: NaN (no score) below every number. */
const rank = (s: number): number => (Number.isNaN(s) ? -Infinity : s);
