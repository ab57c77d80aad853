import type { Rng } from '../../core/random.js';
import { type IncrementalLearner, tmcShapley } from '../../valuation/tmc-shapley.js';

// What every kind of run's `graft value` hands back to value.ts, which writes the folder:
// values.csv, removal.svg, summary.md, value.json.

/** The flags of `graft value`, parsed. */
export interface ValueArgs {
  run: string;
  method: 'knn' | 'tmc';
  k: number;
  budget: number;
  tolerance: number;
  /** Fraction of samples whose target is corrupted on purpose (0: none). */
  flip: number;
  seed: number;
  /** --target: the trait (gp) or label (graph) to value for; null: the first. */
  target: string | null;
  log: (s: string) => void;
}

/** Held-out score as samples leave the training data, by value and at random. */
export interface RemovalCurves {
  fractions: number[];
  high: number[];
  low: number[];
  random: number[];
  /** What the score is, for the plot's axis and the summary (e.g. 'accuracy', 'predictive ability r'). */
  metric: string;
  /** How it was measured, one sentence for the summary. */
  how: string;
}

/** One kind of run's values and everything value.ts writes about them. */
export interface ValueResult {
  ids: string[];
  values: Float64Array;
  se: Float64Array | null;
  /** Columns after id, value(, se): e.g. label, flipped. */
  extra: { name: string; cells: string[] }[];
  /** ROC-AUC of low values flagging the planted corruption (null without --flip). */
  auc: number | null;
  curves: RemovalCurves;
  /** Markdown lines for summary.md after its title. */
  summary: string[];
  /** Fields of value.json (beside format, run, method, created, seconds). */
  doc: Record<string, unknown>;
  /** Fields of the one-line JSON on stdout. */
  line: Record<string, unknown>;
}

export { lowValueAuc } from '../../valuation/low-value-auc.js';

/**
 * The removal curves: `score(removed)` as 0 to 50% of the n samples leave, highest-valued
 * first, lowest first, and at random (the mean of three random orders drawn from rng).
 */
export function removalCurves(
  values: Float64Array,
  rng: Rng,
  score: (removed: Set<number>) => number,
): { fractions: number[]; high: number[]; low: number[]; random: number[] } {
  const n = values.length;
  const byValue = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]! || a - b);
  const fractions = Array.from({ length: 11 }, (_, s) => s * 0.05);
  const curve = (order: number[]): number[] => fractions.map((f) => score(new Set(order.slice(0, Math.round(f * n)))));
  const high = curve([...byValue].reverse()),
    low = curve(byValue);
  const randoms = [0, 1, 2].map(() => curve(rng.shuffle(Array.from({ length: n }, (_, i) => i))));
  const random = fractions.map((_, s) => randoms.reduce((a, c) => a + c[s]!, 0) / randoms.length);
  return { fractions, high, low, random };
}

/** TMC-Shapley's values and standard errors, and value.json's `tmc` record. */
export interface TmcRun {
  values: Float64Array;
  se: Float64Array;
  tmc: Record<string, unknown>;
}

/**
 * TMC-Shapley with `graft value`'s settings, logging how it stopped; the full data set's score
 * is recorded under `fullKey` (e.g. 'full_accuracy', 'full_r'), named for what the learner scores.
 */
export function tmcRun(
  learner: IncrementalLearner,
  a: Pick<ValueArgs, 'budget' | 'tolerance' | 'seed' | 'log'>,
  fullKey: string,
): TmcRun {
  const r = tmcShapley(learner, { maxPermutations: a.budget, tolerance: a.tolerance, seed: a.seed });
  a.log(
    `${r.permutations} permutations, ${r.converged ? 'converged' : `not converged (change ${r.change.toFixed(3)} ≥ 0.05): raise --budget`}, ${(100 * r.truncated).toFixed(0)}% of the marginals truncated`,
  );
  return {
    values: r.values,
    se: r.se,
    tmc: {
      permutations: r.permutations,
      converged: r.converged,
      change: r.change,
      tolerance: a.tolerance,
      truncated: r.truncated,
      [fullKey]: r.full,
    },
  };
}
