// A `graft mb --keep-model` file (format graft-mb-model, src/microbiome/kept-model.ts) read by
// graft/infer: raw counts aligned to the model's taxa by name, each sample preprocessed on its
// own with the stored parameters, then the forest or the logistic (ridge) model: the same
// shared code graft predict runs (src/compositional/), so the same bits. The MLP and GCN kept
// models run through the Node runtime; graft/infer refuses them by name.

import { type ScoringTree, forestScores } from '../compositional/forest-apply.js';
import { KeptMbFile } from '../compositional/kept-file.js';
import { type LinearModel, linearModelScores } from '../compositional/linear.js';
import { type FittedPreprocessing, applyPreprocessing } from '../compositional/preprocess.js';
import { alignTaxa } from '../compositional/taxa.js';
import { GraftError } from '../core/errors.js';
import type { Checkpoint } from '../core/safetensors.js';
/** The format `graft mb --keep-model` writes. */
export const MB_MODEL_FORMAT = 'graft-mb-model';

/** New samples' raw counts: `counts` [samples, taxa] row-major, columns named by `taxa` (matched to the model's by name). */
export interface CountsInput {
  taxa: readonly string[];
  counts: Float64Array | readonly number[];
  samples: number;
}

/** A microbiome model's scores of raw counts and how their taxa met the model's. */
export interface CountsPrediction {
  /** Class probabilities [samples, classes] (classification) or values [samples] (regression). */
  scores: Float64Array;
  /** Classification: the most probable class of each sample (the first on ties, as graft predict); regression: null. */
  predicted: string[] | null;
  /** The class names in score order ([] for regression). */
  classNames: string[];
  /** Taxa alignment: how many of the model's taxa the input has, those it lacks (counted 0), and the input's taxa the model lacks (dropped). */
  taxa: { found: number; absent: string[]; unknown: string[] };
}

/** What scores the counts once they are the model's features. */
type Scorer = { model: 'rf'; trees: ScoringTree[]; stride: number } | { model: 'logistic'; linear: LinearModel };

/** A parsed kept mb model: its task, class names, taxa, fitted preprocessing and scorer. */
export interface MicrobiomeFile {
  task: 'classification' | 'regression';
  model: 'rf' | 'logistic';
  classNames: string[];
  taxa: string[];
  preprocessing: FittedPreprocessing;
  scorer: Scorer;
}

/** Reads a graft-mb-model checkpoint (rf or logistic); anything else or malformed is one GraftError naming `file`. */
export function parseMicrobiomeFile(cp: Checkpoint, file: string): MicrobiomeFile {
  const kept = new KeptMbFile(cp, file);
  const kind = kept.meta['model'];
  if (kind === 'mlp' || kind === 'bnn' || kind === 'gcn')
    throw new GraftError(
      `${file}: a kept ${kind} microbiome model is scored by graft predict (it runs on the Node runtime); graft/infer scores kept rf and logistic models`,
    );
  if (kind !== 'rf' && kind !== 'logistic') throw kept.bad(`model ${JSON.stringify(kind ?? null)}`);
  if (cp.metadata['version'] !== '1')
    throw kept.bad(`version ${JSON.stringify(cp.metadata['version'] ?? null)}, expected 1 for ${kind}`);
  const { task, classNames, taxa, classes, shape, preprocessing } = kept.header();
  const p = taxa.length;
  let scorer: Scorer;
  if (kind === 'rf') {
    if (shape['features'] !== p) throw kept.bad(`the forest has ${String(shape['features'])} features for ${p} taxa`);
    const sizes = kept.int32('forest.tree_nodes'),
      stride = classes || 1;
    const nodes = sizes.reduce((a, b) => a + b, 0);
    const feature = kept.int32('forest.feature'),
      left = kept.int32('forest.left'),
      right = kept.int32('forest.right');
    const threshold = kept.float64('forest.threshold', nodes),
      values = kept.float64('forest.values', nodes * stride);
    if (sizes.length === 0 || [feature, left, right].some((a) => a.length !== nodes))
      throw kept.bad('forest arrays of unequal lengths');
    let at = 0;
    const trees = Array.from(sizes, (size, t): ScoringTree => {
      const tree = {
        feature: feature.subarray(at, at + size),
        threshold: threshold.subarray(at, at + size),
        left: left.subarray(at, at + size),
        right: right.subarray(at, at + size),
        values: values.subarray(at * stride, (at + size) * stride),
      };
      at += size;
      // Children after their parent (as Forest.fromJSON checks), so every walk from the root ends inside the tree.
      for (let k = 0; k < size; k++) {
        const j = tree.feature[k]!,
          l = tree.left[k]!,
          r = tree.right[k]!;
        if (!(j === -1 ? l === -1 && r === -1 : j >= 0 && j < p && l > k && l < size && r > k && r < size))
          throw kept.bad(`tree ${t} node ${k} is neither a leaf nor a split with children after it`);
      }
      return tree;
    });
    scorer = { model: 'rf', trees, stride };
  } else {
    scorer = { model: 'logistic', linear: kept.linear(classes, p) };
  }
  return { task, model: kind, classNames, taxa, preprocessing, scorer };
}

/**
 * Scores raw counts as graft predict does: taxa matched by name (a duplicate or no shared
 * taxon refused, a sample without reads in the model's taxa refused, and for a rarefying model
 * one below its depth or with fractional counts), each sample preprocessed on its own, then
 * the model. `name` names the model in errors.
 */
export function predictCounts(mb: MicrobiomeFile, input: CountsInput, name: string): CountsPrediction {
  const fn = 'predictCounts';
  const n = input?.samples,
    taxa = input?.taxa;
  if (!Number.isInteger(n) || n <= 0)
    throw new GraftError(`${fn}: samples must be a positive integer (got ${String(n)})`);
  if (!Array.isArray(taxa) || !taxa.every((t) => typeof t === 'string'))
    throw new GraftError(`${fn}: taxa must be an array of taxon names`);
  const seen = new Set<string>();
  for (const t of taxa) {
    if (seen.has(t)) throw new GraftError(`${fn}: taxon ${JSON.stringify(t)} appears twice in taxa`);
    seen.add(t);
  }
  const values = input.counts instanceof Float64Array ? input.counts : Float64Array.from(input.counts ?? []);
  if (values.length !== n * taxa.length)
    throw new GraftError(`${fn}: counts must hold samples × taxa = ${n * taxa.length} values (got ${values.length})`);
  for (let i = 0; i < values.length; i++)
    if (!(Number.isFinite(values[i]) && values[i]! >= 0))
      throw new GraftError(`${fn}: counts[${i}] is ${values[i]}, not a non-negative count`);
  const p = mb.taxa.length;
  const { counts, absent, unknown } = alignTaxa(mb.taxa, taxa, values, n);
  if (absent.length === p)
    throw new GraftError(`${fn}: none of ${name}'s ${p} taxa is in the input: taxa are matched by name`);
  const depth = mb.preprocessing.rarefyDepth;
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let j = 0; j < p; j++) total += counts[i * p + j]!;
    if (!(total > 0)) throw new GraftError(`${fn}: sample ${i} has no reads in ${name}'s ${p} taxa`);
    if (depth !== undefined && total < depth)
      throw new GraftError(
        `${fn}: sample ${i} has ${total} reads in the model's taxa, fewer than the depth ${depth} ${name} rarefies to`,
      );
    if (depth !== undefined)
      for (let j = 0; j < p; j++)
        if (!Number.isInteger(counts[i * p + j]!))
          throw new GraftError(
            `${fn}: sample ${i}: ${name} rarefies reads, and a count of ${counts[i * p + j]} is not a whole number`,
          );
  }
  const x = applyPreprocessing(mb.preprocessing, counts, n, p);
  let scores: Float64Array;
  if (mb.scorer.model === 'rf') {
    // The forest reads float32 features, as graft predict gives it (scoreShallowModel).
    const xf = Float32Array.from(x);
    for (let i = 0; i < xf.length; i++)
      if (!Number.isFinite(xf[i]))
        throw new GraftError(`${fn}: sample ${Math.floor(i / p)}'s preprocessed features are not finite`);
    scores = forestScores(mb.scorer.trees, xf, n, p, mb.scorer.stride);
  } else {
    scores = linearModelScores(mb.scorer.linear, x, n, p);
  }
  const K = mb.classNames.length;
  const predicted =
    mb.task === 'classification'
      ? Array.from({ length: n }, (_, i) => {
          let best = 0;
          for (let j = 1; j < K; j++) if (scores[i * K + j]! > scores[i * K + best]!) best = j;
          return mb.classNames[best]!;
        })
      : null;
  return { scores, predicted, classNames: [...mb.classNames], taxa: { found: p - absent.length, absent, unknown } };
}

/**
 * A kept mb model as a GraftModel: predictCounts scores raw counts; the other tasks' methods refuse.
 * (loadModel returns it as a GraftModel, which is where the compiler checks it is one: naming the
 * interface here would make this file and index.ts import each other.)
 */
export class MicrobiomeModel {
  readonly task = 'microbiome' as const;
  /** Scored in plain JavaScript (no kernels): the forest's and the linear model's arithmetic is graft predict's own. */
  readonly backend = 'js' as const;
  readonly config: Readonly<Record<string, unknown>>;
  /** Graph-style feature steps: none (a microbiome model's preprocessing is `microbiome.preprocessing`). */
  readonly preprocess = null;
  private disposed = false;

  constructor(
    readonly microbiome: MicrobiomeFile,
    private readonly name: string,
  ) {
    this.config = {
      model: microbiome.model,
      task: microbiome.task,
      taxa: microbiome.taxa.length,
      preprocessing: { normalize: microbiome.preprocessing.normalize, zeros: microbiome.preprocessing.zeros },
    };
  }

  private refuse(what: string): never {
    throw new GraftError(
      `${this.name} is a microbiome model: ${what} needs a ${what === 'predictNodes' ? 'node' : what === 'predictGraphs' ? 'graph' : 'genomic'} model (score raw counts with predictCounts)`,
    );
  }

  /** Raw counts scored as graft predict scores them (predictCounts above). */
  async predictCounts(input: CountsInput): Promise<CountsPrediction> {
    if (this.disposed) throw new GraftError(`${this.name}: the model was disposed`);
    return predictCounts(this.microbiome, input, this.name);
  }

  /** Refused: a microbiome model scores counts (predictCounts). */
  async predictNodes(): Promise<never> {
    return this.refuse('predictNodes');
  }
  /** Refused: a microbiome model scores counts (predictCounts). */
  async predictGraphs(): Promise<never> {
    return this.refuse('predictGraphs');
  }
  /** Refused: a microbiome model scores counts (predictCounts). */
  async predictGenomic(): Promise<never> {
    return this.refuse('predictGenomic');
  }
  /** Marks the model disposed (it holds no kernel memory). */
  dispose(): void {
    this.disposed = true;
  }
}
