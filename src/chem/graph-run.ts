import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { GraftError } from '../core/errors.js';
import type { RecordedInputs } from '../core/input-files.js';
import type { Runtime } from '../runtime/runtime.js';
import { loadCheckpoint, saveCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import { GraphTrainer, type GraphTrainConfig } from '../train/graph-trainer.js';
import { loadWeights, reportedWeights } from '../nn/load-weights.js';
import { readPreprocess } from '../graph/preprocess.js';
import {
  atomFeatureCount,
  type AtomFeatureSet,
  featureSetOf,
  featurizerName,
  FEATURIZER_VERSION,
  MORGAN_BITS,
  toSample,
  type MolGraph,
} from './featurize.js';
import { FingerprintSet, SIMILARITY_BITS, SIMILARITY_BYTES } from './similarity.js';
import {
  DESCRIPTOR_COUNT,
  type DescriptorScaling,
  MOLECULE_DESCRIPTORS,
  moleculeDescriptors,
  standardizeDescriptors,
} from './descriptors.js';
import { HYBRID_INPUTS, type HybridInputs, hybridInputWidth, moleculeOutputs } from './train-molecules.js';

// A graph run's model back from its folder (config.json, checkpoint.safetensors and the
// training molecules' fingerprints), and the one writer of its predictions.csv, shared by
// graft train --task graph (the test split) and graft predict (new molecules), so the two
// agree to the bit.

/** What graft train --task graph writes to a run's config.json that reading the run back needs. */
export interface GraphRunConfig extends Omit<GraphTrainConfig, 'hybrid' | 'task'> {
  kind: 'graph';
  /** The training data file (absolute) and its SMILES column when named (null: the column called smiles). */
  data: string;
  smiles?: string | null;
  type: 'multilabel' | 'regression';
  targets: string[];
  split: 'random' | 'scaffold';
  hybrid: boolean;
  /** The data file by role with its SHA-256 (core/input-files.ts); absent in runs written before it was recorded. */
  inputs?: RecordedInputs;
  /** Multi-label: each label's decision threshold (chosen on the validation split); absent in older runs. */
  thresholds?: Record<string, number>;
  /** The atom featurizer the model was trained on (featurize.ts); absent in older runs. */
  featurizer?: string;
  /** The feature set of --atom-features ('default' or 'chemprop'); absent in older runs (default). */
  atom_features?: 'default' | 'chemprop';
  /** Hybrids: what the dense branch reads (train-molecules.ts); absent in runs from before the choice (fingerprint). */
  hybrid_inputs?: HybridInputs;
  /** Hybrids on descriptors: the training split's mean and sd per descriptor, in MOLECULE_DESCRIPTORS order. */
  descriptor_scaling?: { names: string[]; mean: number[]; sd: number[] };
}

/**
 * What a hybrid's dense branch reads, as its run recorded it: the kind of input, and for
 * descriptors their training-split scaling (new molecules are scaled by it, never by their own).
 */
export interface RunDenseInputs {
  inputs: HybridInputs;
  scaling: DescriptorScaling | null;
}

/**
 * A graph run's dense-branch inputs from its config.json (null for a run that is no hybrid).
 * Refuses, naming the file, an unknown kind of input or a descriptor scaling that is missing,
 * of another length or order than this graft's descriptors, or not finite.
 */
export function runDenseInputs(
  cfg: Pick<GraphRunConfig, 'hybrid' | 'hybrid_inputs' | 'descriptor_scaling'>,
  file: string,
): RunDenseInputs | null {
  if (!cfg.hybrid) return null;
  const inputs = cfg.hybrid_inputs ?? 'fingerprint';
  if (!(HYBRID_INPUTS as readonly string[]).includes(inputs))
    throw new GraftError(`${file}: hybrid_inputs ${JSON.stringify(inputs)} is none of ${HYBRID_INPUTS.join(', ')}`);
  if (inputs === 'fingerprint') return { inputs, scaling: null };
  const s = cfg.descriptor_scaling;
  const what = `descriptor_scaling (the training split's mean and sd of the ${DESCRIPTOR_COUNT} RDKit descriptors the model's dense branch reads)`;
  if (!s || typeof s !== 'object') throw new GraftError(`${file}: no ${what}: the run cannot score molecules`);
  const ok = (a: unknown, positive: boolean): a is number[] =>
    Array.isArray(a) &&
    a.length === DESCRIPTOR_COUNT &&
    a.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0));
  if (!ok(s.mean, false) || !ok(s.sd, true))
    throw new GraftError(
      `${file}: ${what} must be ${DESCRIPTOR_COUNT} finite means and ${DESCRIPTOR_COUNT} positive sds, got ${Array.isArray(s.mean) ? s.mean.length : 'no'} and ${Array.isArray(s.sd) ? s.sd.length : 'no'}`,
    );
  if (s.names !== undefined && (!Array.isArray(s.names) || s.names.join() !== MOLECULE_DESCRIPTORS.join()))
    throw new GraftError(
      `${file}: descriptor_scaling names other descriptors than this graft computes: train the run again`,
    );
  return { inputs, scaling: { mean: Float64Array.from(s.mean), sd: Float64Array.from(s.sd) } };
}

/**
 * Refuses a hybrid run whose dense branch reads RDKit descriptors, for a consumer (`what`)
 * that would rebuild its inputs from the Morgan bits alone or cannot carry the descriptors'
 * training-split scaling: one line naming `file`. Runs of any other kind pass.
 */
export function refuseDescriptorHybrid(
  cfg: { hybrid?: unknown; hybrid_inputs?: unknown },
  file: string,
  what: string,
): void {
  const inputs = cfg.hybrid_inputs;
  if (!cfg.hybrid || inputs === undefined || inputs === 'fingerprint') return;
  throw new GraftError(
    `${file}: the run's hybrid reads RDKit descriptors (hybrid_inputs ${String(inputs)}), scaled on its training split; ${what} is not supported on such runs (graft predict and graft eval are)`,
  );
}

/**
 * Each molecule's dense-branch row as training built it (train-molecules.ts denseInputs):
 * its Morgan bits, its RDKit descriptors standardized by the run's recorded scaling and
 * clipped, or the bits then the descriptors.
 */
export async function runDenseRows(
  dense: RunDenseInputs,
  graphs: readonly MolGraph[],
  smiles: readonly string[],
): Promise<Float32Array[]> {
  if (dense.inputs === 'fingerprint' || !dense.scaling) return graphs.map((g) => g.morgan);
  const z = standardizeDescriptors(await moleculeDescriptors(smiles), dense.scaling);
  const D = DESCRIPTOR_COUNT;
  return graphs.map((g, i) => {
    const d = z.subarray(i * D, (i + 1) * D);
    if (dense.inputs === 'descriptors') return d;
    const both = new Float32Array(MORGAN_BITS + D);
    both.set(g.morgan);
    both.set(d, MORGAN_BITS);
    return both;
  });
}

/**
 * The feature set a graph run's molecules must be featurized with to meet its model (from the
 * featurizer its config.json records; graft's own when it records none). Refuses a featurizer
 * this graft does not make, naming the file.
 */
export function runFeatureSet(cfg: Pick<GraphRunConfig, 'featurizer'>, file: string): AtomFeatureSet {
  const name = cfg.featurizer ?? FEATURIZER_VERSION;
  const set = featureSetOf(name);
  if (!set)
    throw new GraftError(
      `${file}: the run's molecules were featurized by ${name}; this version of graft featurizes by ${featurizerName('graft')} or ${featurizerName('chemprop')}: train the run again`,
    );
  return set;
}

/** The training molecules' fingerprints beside the checkpoint (for max_similarity). */
export const FINGERPRINTS_FILE = 'train-fingerprints.safetensors';
const FINGERPRINTS_TENSOR = 'morgan_r2_2048';

/** Saves the training molecules' packed Morgan fingerprints ([n, 256] bytes) as a safetensors file. */
export function saveTrainFingerprints(file: string, packed: Uint8Array, data: string): void {
  const n = packed.length / SIMILARITY_BYTES;
  saveCheckpoint(file, {
    tensors: new Map([[FINGERPRINTS_TENSOR, { shape: [n, SIMILARITY_BYTES], data: packed }]]),
    metadata: {
      what: 'Morgan fingerprints (RDKit, radius 2, 2048 bits, packed MSB first) of the training molecules',
      radius: '2',
      bits: String(SIMILARITY_BITS),
      molecules: String(n),
      data,
    },
  });
}

/** The training molecules' fingerprints of a run folder, or null when the run predates them. */
export function loadTrainFingerprints(dir: string): FingerprintSet | null {
  const file = join(dir, FINGERPRINTS_FILE);
  if (!existsSync(file)) return null;
  const t = loadCheckpoint(file).tensors.get(FINGERPRINTS_TENSOR);
  if (!t || !(t.data instanceof Uint8Array) || t.shape[1] !== SIMILARITY_BYTES)
    throw new GraftError(`${file}: no ${FINGERPRINTS_TENSOR} tensor of [molecules, ${SIMILARITY_BYTES}] bytes`);
  return new FingerprintSet(t.data);
}

/**
 * The weights a graph run reports (nn/load-weights.ts: the best validation epoch's when there
 * was one, else the last) put into a trainer built for the run's model. Refuses a checkpoint
 * that does not hold every parameter at its size, naming the file and the parameter.
 */
export function loadGraphWeights(trainer: GraphTrainer, cp: Checkpoint, file: string): void {
  loadWeights(trainer.master.params(), reportedWeights(cp, file), file);
}

/**
 * A graph run's trainer rebuilt from its checkpoint alone (the trainer config, feature and
 * target counts are in its metadata), with the reported weights loaded. The caller disposes it.
 *
 * A hybrid on RDKit descriptors is rebuilt only with `dense` (runDenseInputs) of the same
 * width: a caller that cannot build those inputs is refused rather than fed fingerprints.
 *
 * @example const trainer = graphRunTrainer(rt, loadCheckpoint(join(dir, 'checkpoint.safetensors')), file, cfg.targets.length);
 */
export function graphRunTrainer(
  rt: Runtime,
  cp: Checkpoint,
  file: string,
  targets: number,
  dense?: RunDenseInputs | null,
): GraphTrainer {
  const m = cp.metadata;
  if (m['task'] !== 'graph' || m['config'] === undefined)
    throw new GraftError(`${file}: not a graph-training checkpoint (task ${JSON.stringify(m['task'] ?? null)})`);
  const features = Number(m['features']),
    T = Number(m['targets']);
  // The featurizer the checkpoint records (graft's own in runs from before it was recorded) decides the atom columns.
  const name = readPreprocess(m, file)?.featurizer?.name ?? FEATURIZER_VERSION;
  const set = featureSetOf(name);
  if (set === null || features !== atomFeatureCount(set))
    throw new GraftError(
      `${file}: the model reads ${features} atom features of ${name}; this version of graft makes ${atomFeatureCount(set ?? 'graft')} (featurizer ${featurizerName(set ?? 'graft')}): train the run again`,
    );
  if (T !== targets)
    throw new GraftError(`${file}: the model has ${T} outputs but the run's config.json names ${targets} targets`);
  const config = JSON.parse(m['config']) as GraphTrainConfig;
  // A hybrid on RDKit descriptors needs their training-split scaling, which only some callers rebuild.
  if (config.hybrid && config.hybrid.descriptors !== MORGAN_BITS) {
    if (!dense)
      throw new GraftError(
        `${file}: the model's dense branch reads ${config.hybrid.descriptors} columns (RDKit descriptors scaled on its training split), not the ${MORGAN_BITS}-bit fingerprint; this command does not support such runs (graft predict and graft eval do)`,
      );
    if (hybridInputWidth(dense.inputs) !== config.hybrid.descriptors)
      throw new GraftError(
        `${file}: the model's dense branch reads ${config.hybrid.descriptors} columns, but the run's config.json records hybrid_inputs ${dense.inputs} (${hybridInputWidth(dense.inputs)} columns)`,
      );
  }
  const trainer = new GraphTrainer(rt, features, T, config);
  try {
    loadGraphWeights(trainer, cp, file);
  } catch (err) {
    trainer.dispose();
    throw err;
  }
  return trainer;
}

/**
 * Outputs of a trained model for molecule graphs: probabilities (multi-label) or values,
 * [graphs, targets], computed as the run's own test figures are (train-molecules.ts).
 * `denseRows` (runDenseRows) are a hybrid's dense inputs; without them it reads the Morgan bits.
 */
export function scoreMolecules(
  trainer: GraphTrainer,
  task: GraphTrainConfig['task'],
  graphs: readonly MolGraph[],
  denseRows?: readonly Float32Array[],
): Promise<Float32Array> {
  const none = new Float32Array(trainer.targets).fill(NaN);
  const hybrid = trainer.config.hybrid !== undefined;
  return moleculeOutputs(
    trainer,
    task,
    graphs.map((g, i) => {
      const s = toSample(g, none, hybrid);
      return hybrid && denseRows ? { ...s, descriptors: denseRows[i]! } : s;
    }),
  );
}

/** One output row: the input's data row (1 = first after the header), its SMILES, and the outputs or why there are none. */
export interface PredictionRow {
  row: number;
  smiles: string;
  /** [targets] outputs, or null for a molecule that could not be scored. */
  outputs: Float32Array | null;
  /** Largest Tanimoto similarity to a training molecule; null when unknown. */
  maxSimilarity: number | null;
  error: string;
}

/** The shortest decimal that reads back as the same float32 (so the CSV holds the exact probability). */
export function float32Text(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  for (let p = 1; p <= 9; p++) {
    const s = Number(v.toPrecision(p));
    if (Math.fround(s) === v) return String(s);
  }
  return String(v);
}

const csvField = (s: string): string => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);

/**
 * predictions.csv: `row,smiles`, one column per target named as the target (probability or
 * value), multi-label `<label>_call` columns (1 at or above the label's threshold), then
 * `max_similarity` and `error`. Rows as given.
 */
export function predictionsCsv(
  targets: readonly string[],
  task: GraphTrainConfig['task'],
  thresholds: Float32Array | null,
  rows: readonly PredictionRow[],
): string {
  if (task === 'multilabel' && (!thresholds || thresholds.length !== targets.length))
    throw new GraftError(`predictionsCsv: multi-label predictions need one threshold per target (${targets.length})`);
  const T = targets.length;
  const head = [
    'row',
    'smiles',
    ...targets,
    ...(task === 'multilabel' ? targets.map((t) => `${t}_call`) : []),
    'max_similarity',
    'error',
  ];
  const lines = [head.map(csvField).join(',')];
  for (const r of rows) {
    const o = r.outputs;
    const values = Array.from({ length: T }, (_, t) => (o ? float32Text(o[t]!) : ''));
    const calls =
      task === 'multilabel'
        ? Array.from({ length: T }, (_, t) => (o ? (o[t]! >= thresholds![t]! ? '1' : '0') : ''))
        : [];
    const sim =
      r.maxSimilarity === null || Number.isNaN(r.maxSimilarity) ? '' : String(Number(r.maxSimilarity.toPrecision(6)));
    lines.push([String(r.row), csvField(r.smiles), ...values, ...calls, sim, csvField(r.error)].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** A run's thresholds in target order from config.json's {label: threshold}, or null when it recorded none. */
export function runThresholds(cfg: Pick<GraphRunConfig, 'targets' | 'thresholds'>, file: string): Float32Array | null {
  if (!cfg.thresholds) return null;
  return Float32Array.from(cfg.targets, (t) => {
    const v = cfg.thresholds![t];
    if (typeof v !== 'number') throw new GraftError(`${file}: thresholds has no number for label '${t}'`);
    return v;
  });
}
