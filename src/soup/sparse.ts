import { GraftError } from '../core/errors.js';
import { checkSameParameters, uniformSoup, type SoupMember, type Weights } from './average.js';
import { applyMask, magnitudeMask, maskSparsity, type PruneMask } from './prune.js';

// Sparse model soups (Zimmer et al., ICLR 2024): prune the members' average by magnitude,
// retrain every member from that one pruned start with the mask held (pruned weights stay
// zero), average the retrained members, and repeat for a stated number of rounds.

/** One round of a sparse soup: the mask's sparsity and the retrained members' and soup's held-out scores. */
export interface SparseRound {
  round: number;
  sparsity: number;
  memberScores: number[];
  soupScore: number;
}

/** What sparseSoup returns: the soup's weights (pruned values zero), the mask, and each round. */
export interface SparseSoup {
  weights: Map<string, Float32Array>;
  mask: PruneMask;
  rounds: SparseRound[];
}

/** What a sparse soup needs from the task: which parameters to prune, how to retrain a member and how to score. */
export interface SparseSoupOptions {
  /** Fraction of the prunable values set to zero, in [0, 1). */
  sparsity: number;
  /** Prune, retrain, average: this many times (≥ 1). */
  rounds: number;
  /** The parameters pruned (weight matrices); the others stay dense. */
  prunable: readonly string[];
  /**
   * Retrains `member` by its own recipe from `start` (the pruned average), keeping every value
   * the mask prunes at zero; returns the retrained weights and their held-out score.
   */
  retrain: (member: SoupMember, start: Weights, mask: PruneMask) => Promise<{ weights: Weights; score: number }>;
  /** The held-out score of a soup's weights (higher is better). */
  score: (weights: Weights) => Promise<number>;
}

/**
 * The sparse soup of `members` (one initialization, shared parameters). Each round prunes the
 * current average to `sparsity` (values pruned before are pruned first, so the mask holds
 * across rounds), retrains every member from it and averages them. A retrained member with a
 * pruned value that is not zero is refused (the retraining broke the mask).
 *
 * @example const s = await sparseSoup(members, { sparsity: 0.5, rounds: 2, prunable, retrain, score });
 */
export async function sparseSoup(members: readonly SoupMember[], o: SparseSoupOptions): Promise<SparseSoup> {
  checkSameParameters(members);
  if (!Number.isInteger(o.rounds) || o.rounds < 1)
    throw new GraftError(`a sparse soup needs at least 1 round, got ${o.rounds}`);
  let avg = uniformSoup(members.map((m) => m.weights));
  let mask: PruneMask | undefined;
  const rounds: SparseRound[] = [];
  for (let r = 1; r <= o.rounds; r++) {
    mask = magnitudeMask(avg, o.prunable, o.sparsity, mask);
    applyMask(avg, mask);
    const retrained: Weights[] = [],
      memberScores: number[] = [];
    for (const m of members) {
      const res = await o.retrain(m, avg, mask);
      checkMaskHeld(m.name, res.weights, mask);
      retrained.push(res.weights);
      memberScores.push(res.score);
    }
    avg = uniformSoup(retrained);
    rounds.push({ round: r, sparsity: maskSparsity(mask), memberScores, soupScore: await o.score(avg) });
  }
  return { weights: avg, mask: mask!, rounds };
}

/** Refuses retrained weights with a nonzero value where the mask prunes. */
function checkMaskHeld(member: string, weights: Weights, mask: PruneMask): void {
  for (const [name, m] of mask) {
    const w = weights.get(name)!;
    for (let i = 0; i < m.length; i++)
      if (m[i] === 0 && w[i] !== 0)
        throw new GraftError(
          `${member}: retraining changed ${name}[${i}], a pruned weight (${w[i]}): the mask was not held`,
        );
  }
}
