import { GraftError } from '../core/errors.js';

// The preprocessing a model's inputs need, recorded in the model file itself (as a
// scikit-learn Pipeline keeps its fitted scaler), so a model applied to raw inputs applies
// it, and applies it the same way everywhere: graft train, graft eval/predict and graft/infer
// all call applyPreprocess below, which is what makes their input bits, and so their
// outputs, equal. No Node built-ins here: graft/infer's bundle includes this file.
//
// The record is JSON in the file's metadata under PREPROCESS_KEY:
//   {"version": 1, "features": [step, ...], "featurizer"?: {...}}
// `features` lists what turns the raw feature matrix (rows = samples or nodes, as read from
// the user's files) into what the model was trained on, in order; [] means the features are
// used as given. Steps:
//   {"kind": "row-normalize"}                     each row divided by its sum (Kipf & Welling;
//                                                  rows summing to 0 or less are left as they are)
//   {"kind": "standardize", "mean": [..], "sd": [..]}  column c becomes (x − mean[c]) / sd[c]
//                                                  with the training rows' mean and sd (an sd
//                                                  of 0 divides by 1), one entry per column
// `featurizer` (graph models) names how samples become graphs, e.g. {"name": "graft-atoms-v1",
// "atomFeatures": 48, "descriptors": 1024}: graft/infer refuses graphs featurized otherwise.
// A step kind this version does not know is refused by name, never skipped. Other pillars
// (gp, mb kept models) adopt the record by writing preprocessMetadata(...) into their files'
// metadata and calling applyPreprocess on raw inputs; a new kind of step is added here, once.

/** The metadata key of the record in every model file Graft writes. */
export const PREPROCESS_KEY = 'preprocess';

/** One step of a model's input preprocessing: row normalization, or standardization with the training means and sds. */
export type PreprocessStep = { kind: 'row-normalize' } | { kind: 'standardize'; mean: number[]; sd: number[] };

/** How graph samples were featurized (graph models). */
export interface Featurizer {
  name: string;
  atomFeatures: number;
  descriptors?: number;
}

/** What a model file records about its inputs: the feature steps to apply to raw features, in order, and for graph models the featurizer that made them. */
export interface Preprocessing {
  version: 1;
  /** Raw feature matrix → model features, in order. */
  features: PreprocessStep[];
  featurizer?: Featurizer;
}

/** The record of `steps` (and a graph model's featurizer) as the metadata entry model files carry. */
export function preprocessMetadata(p: Omit<Preprocessing, 'version'>): Record<string, string> {
  return { [PREPROCESS_KEY]: JSON.stringify({ version: 1, ...p }) };
}

/**
 * Reads a file's record; null when the file has none (written before Graft recorded it).
 * A damaged record or an unknown step is an error naming the file.
 */
export function readPreprocess(metadata: Record<string, string>, file: string): Preprocessing | null {
  const text = metadata[PREPROCESS_KEY];
  if (text === undefined) return null;
  let p: Preprocessing;
  try {
    p = JSON.parse(text) as Preprocessing;
  } catch {
    throw new GraftError(`${file}: its metadata '${PREPROCESS_KEY}' is not JSON`);
  }
  if (p === null || typeof p !== 'object' || p.version !== 1 || !Array.isArray(p.features)) {
    throw new GraftError(
      `${file}: its preprocessing record is not one this version of graft reads (expected version 1 with a list of feature steps)`,
    );
  }
  for (const s of p.features) checkStep(s, file);
  return p;
}

function checkStep(s: PreprocessStep, file: string): void {
  if (s?.kind === 'row-normalize') return;
  if (s?.kind === 'standardize') {
    if (!Array.isArray(s.mean) || !Array.isArray(s.sd) || s.mean.length !== s.sd.length)
      throw new GraftError(`${file}: a standardize step needs a mean and an sd per column, of one length`);
    return;
  }
  throw new GraftError(
    `${file}: preprocessing step ${JSON.stringify((s as { kind?: unknown })?.kind)} is not one this version of graft knows (a newer graft wrote it?); refusing rather than skipping it`,
  );
}

/** Words for messages and docs: "row normalization, then standardization", or "none". */
export function describePreprocess(steps: readonly PreprocessStep[]): string {
  return steps.length
    ? steps
        .map((s) => (s.kind === 'row-normalize' ? 'row normalization' : 'standardization (training means and sds)'))
        .join(', then ')
    : 'none';
}

/**
 * Applies `steps` to a row-major [rows, cols] matrix in place and returns it. Row sums and
 * column statistics are taken in float64 and each result rounded once to float32, so the
 * same raw values give the same bits on every path.
 *
 * @example
 *   const x = Float32Array.of(1, 3, 0, 0);
 *   applyPreprocess([{ kind: 'row-normalize' }], x, 2, 2); // x = [0.25, 0.75, 0, 0]
 */
export function applyPreprocess(
  steps: readonly PreprocessStep[],
  x: Float32Array,
  rows: number,
  cols: number,
): Float32Array {
  if (x.length !== rows * cols)
    throw new GraftError(`applyPreprocess: the features must be ${rows} × ${cols} values, got ${x.length}`);
  for (const s of steps) {
    if (s.kind === 'row-normalize') {
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let c = 0; c < cols; c++) sum += x[r * cols + c]!;
        if (sum > 0) for (let c = 0; c < cols; c++) x[r * cols + c] = x[r * cols + c]! / sum;
      }
    } else if (s.kind === 'standardize') {
      if (s.mean.length !== cols)
        throw new GraftError(
          `applyPreprocess: the standardization was fitted on ${s.mean.length} columns, the features have ${cols}`,
        );
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++)
          x[r * cols + c] = (x[r * cols + c]! - s.mean[c]!) / (s.sd[c]! === 0 ? 1 : s.sd[c]!);
      }
    } else {
      throw new GraftError(`applyPreprocess: unknown step ${JSON.stringify((s as { kind?: unknown }).kind)}`);
    }
  }
  return x;
}

/**
 * A standardize step fitted on the given rows (the training rows): each column's mean and
 * population sd, in float64.
 */
export function fitStandardize(x: Float32Array, cols: number, rows: ArrayLike<number>): PreprocessStep {
  const mean = new Array<number>(cols).fill(0),
    sd = new Array<number>(cols).fill(0);
  const n = rows.length;
  if (n === 0) return { kind: 'standardize', mean, sd: sd.map(() => 1) };
  for (let k = 0; k < n; k++) for (let c = 0; c < cols; c++) mean[c]! += x[rows[k]! * cols + c]!;
  for (let c = 0; c < cols; c++) mean[c]! /= n;
  for (let k = 0; k < n; k++) for (let c = 0; c < cols; c++) sd[c]! += (x[rows[k]! * cols + c]! - mean[c]!) ** 2;
  for (let c = 0; c < cols; c++) sd[c] = Math.sqrt(sd[c]! / n);
  return { kind: 'standardize', mean, sd };
}
