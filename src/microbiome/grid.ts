import type { Runtime } from '../runtime/runtime.js';
import { AUGMENTATIONS, type Augmentation } from './augment.js';
import type { MicrobiomeData } from './data.js';
import type { MbModel } from './models.js';
import { NORMALIZATIONS, type Normalization } from './normalize.js';
import { incompatibility } from './pipeline.js';
import { fitTree, type TreeNodeView } from './random-forest.js';
import { runMbStudy, type MbStudyOptions, type MbStudyResult } from './study.js';
import { ZERO_REPLACEMENTS, type ZeroReplacement } from './zeros.js';

// The human-choices study: every normalization × zero replacement × augmentation, each with
// every model under the same folds, then a shallow regression tree of the score on those
// choices: which choice splits the results first is the choice that matters most.

export interface GridRow {
  normalize: Normalization;
  zeros: ZeroReplacement;
  augment: Augmentation;
  model: MbModel;
  metrics: Record<string, { mean: number; sd: number }>;
}
export interface GridResult {
  rows: GridRow[];
  skipped: { normalize: Normalization; zeros: ZeroReplacement; why: string }[];
  /** The score the tree explains: weighted F1 for classes, r for targets. */
  score: string;
  tree: ChoiceTree;
  ms: number;
}

/** A node of the choice tree: `choice` (e.g. "normalize = clr") is true on the `yes` side. */
export interface ChoiceTree {
  choice?: string;
  mean: number;
  runs: number;
  yes?: ChoiceTree;
  no?: ChoiceTree;
}

export async function runGrid(
  rt: Runtime,
  d: MicrobiomeData,
  base: Omit<MbStudyOptions, 'normalize' | 'zeros' | 'augment'>,
  onCombination?: (
    done: number,
    total: number,
    c: { normalize: Normalization; zeros: ZeroReplacement; augment: Augmentation },
    r: MbStudyResult | null,
  ) => void,
  choices: {
    normalize?: readonly Normalization[];
    zeros?: readonly ZeroReplacement[];
    augment?: readonly Augmentation[];
  } = {},
): Promise<GridResult> {
  const t0 = performance.now();
  const norms = choices.normalize ?? NORMALIZATIONS,
    zeros = choices.zeros ?? ZERO_REPLACEMENTS,
    augs = choices.augment ?? AUGMENTATIONS;
  const rows: GridRow[] = [],
    skipped: GridResult['skipped'] = [];
  const total = norms.length * zeros.length * augs.length;
  let done = 0;
  for (const normalize of norms) {
    for (const z of zeros) {
      const why = incompatibility({ normalize, zeros: z }, d.integerCounts);
      if (why) {
        skipped.push({ normalize, zeros: z, why });
        for (const augment of augs) onCombination?.(++done, total, { normalize, zeros: z, augment }, null);
        continue;
      }
      for (const augment of augs) {
        let r: MbStudyResult;
        try {
          r = await runMbStudy(rt, d, { ...base, normalize, zeros: z, augment });
        } catch (err) {
          // A method that refuses these data (GBM with a taxon seen in one sample only) is a result of the grid, not its end.
          if (!(err instanceof RangeError)) throw err;
          skipped.push({ normalize, zeros: z, why: `${augment}: ${err.message}` });
          onCombination?.(++done, total, { normalize, zeros: z, augment }, null);
          continue;
        }
        for (const model of base.models) rows.push({ normalize, zeros: z, augment, model, metrics: r.summary[model]! });
        onCombination?.(++done, total, { normalize, zeros: z, augment }, r);
      }
    }
  }
  const score = d.labels ? 'f1_weighted' : 'r';
  return { rows, skipped, score, tree: choiceTree(rows, score, 4), ms: performance.now() - t0 };
}

/**
 * A depth-limited regression tree (variance reduction, every feature at every split) of one
 * score on the one-hot-encoded choices (normalization, zero replacement, augmentation, model).
 */
export function choiceTree(rows: GridRow[], score: string, depth: number): ChoiceTree {
  const kinds = ['normalize', 'zeros', 'augment', 'model'] as const;
  const features: string[] = [];
  for (const k of kinds) for (const v of [...new Set(rows.map((r) => r[k]))]) features.push(`${k} = ${v}`);
  const usable = rows.filter((r) => Number.isFinite(r.metrics[score]?.mean));
  const f = features.length,
    n = usable.length;
  const x = new Float32Array(n * f);
  usable.forEach((r, i) => {
    kinds.forEach((k) => {
      x[i * f + features.indexOf(`${k} = ${r[k]}`)] = 1;
    });
  });
  const y = Float64Array.from(usable, (r) => r.metrics[score]!.mean);
  if (n < 2) return { mean: n ? y[0]! : NaN, runs: n };
  const tree = fitTree(
    { x, n, f, y },
    {
      task: 'regression',
      criterion: 'mse',
      maxDepth: depth,
      minSamplesLeaf: 2,
      bootstrap: false,
      maxFeatures: 'all',
      bins: 2,
      trees: 1,
      seed: 1,
    },
  );
  // One-hot splits send the rows without the choice left (x ≤ threshold): the choice's side is "yes".
  const convert = (v: TreeNodeView): ChoiceTree => ({
    mean: v.value[0]!,
    runs: v.samples,
    ...(v.feature !== undefined && v.left && v.right
      ? { choice: v.feature, yes: convert(v.right), no: convert(v.left) }
      : {}),
  });
  return convert(tree.describeTree(features));
}
