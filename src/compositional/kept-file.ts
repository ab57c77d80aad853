import { GraftError } from '../core/errors.js';
import type { Checkpoint, StoredTensor } from '../core/safetensors.js';
import type { LinearModel } from './linear.js';
import { NORMALIZATIONS, type Normalization } from './normalize.js';
import type { FittedPreprocessing } from './preprocess.js';
import { ZERO_REPLACEMENTS, type ZeroReplacement } from './zeros.js';

// The one reader of a `graft mb --keep-model` file's common part (format graft-mb-model,
// written by src/microbiome/kept-model.ts): its model metadata (JSON), the taxa, the task and
// class names, the shape, the fitted preprocessing, the linear model, and its typed tensors.
// graft predict (microbiome/kept-model.ts loadKeptModel) and graft/infer (infer/microbiome.ts)
// both read through it, so a file one of them accepts the other reads the same way; each adds
// what only it reads (the forest as a Forest or as scoring arrays, the networks).

/** The part of a kept mb model's metadata every reader checks. */
export interface KeptMbHeader {
  /** The model's kind as the file names it ('rf', 'logistic', 'mlp', 'gcn'; checked by the caller). */
  kind: unknown;
  task: 'classification' | 'regression';
  classNames: string[];
  taxa: string[];
  /** Classes for classification, 0 for regression. */
  classes: number;
  /** The model's shape record (features, classes, and the networks' hidden width, members, graph). */
  shape: Record<string, unknown>;
  preprocessing: FittedPreprocessing;
  /** The rest of the model metadata (trained_on, …), as JSON. */
  meta: Record<string, unknown>;
}

/** The one error a damaged or foreign kept mb model file gets: `file: not a usable graft mb model (what)`. */
export function keptMbError(file: string, what: string): GraftError {
  return new GraftError(`${file}: not a usable graft mb model (${what})`);
}

/** A kept mb model file being read: its metadata as JSON, its tensors by type, and one error form naming the file. */
export class KeptMbFile {
  /** The parsed `model` metadata. */
  readonly meta: Record<string, unknown>;

  constructor(
    readonly cp: Checkpoint,
    readonly file: string,
  ) {
    try {
      this.meta = JSON.parse(cp.metadata['model'] ?? '') as Record<string, unknown>;
    } catch {
      throw this.bad('its model metadata is not JSON');
    }
  }

  /** This file's error (keptMbError). */
  bad(what: string): GraftError {
    return keptMbError(this.file, what);
  }

  tensor(name: string): StoredTensor {
    const t = this.cp.tensors.get(name);
    if (!t) throw this.bad(`no tensor ${name}`);
    return t;
  }

  /** Float64 values stored as their little-endian bytes, a [count, 8] uint8 tensor; `length` checked when given. */
  float64(name: string, length?: number): Float64Array {
    const t = this.tensor(name);
    if (!(t.data instanceof Uint8Array) || t.shape.length !== 2 || t.shape[1] !== 8)
      throw this.bad(`${name} is not float64 bytes [count, 8]`);
    const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    const out = Float64Array.from({ length: t.shape[0]! }, (_, i) => view.getFloat64(i * 8, true));
    if (length !== undefined && out.length !== length)
      throw this.bad(`${name} holds ${out.length} values, expected ${length}`);
    return out;
  }

  int32(name: string): Int32Array {
    const t = this.tensor(name);
    if (!(t.data instanceof Int32Array)) throw this.bad(`${name} is not int32`);
    return t.data;
  }

  /** The taxa, task, class names, shape and fitted preprocessing, each checked; the first that is wrong is the error. */
  header(): KeptMbHeader {
    const m = this.meta;
    const taxa = m['taxa'],
      classNames = m['class_names'],
      task = m['task'],
      pre = m['preprocessing'] as Record<string, unknown> | undefined,
      shape = m['shape'] as Record<string, unknown> | undefined;
    if (!Array.isArray(taxa) || taxa.length === 0 || !taxa.every((t) => typeof t === 'string'))
      throw this.bad('no taxa list');
    if (task !== 'classification' && task !== 'regression') throw this.bad(`task ${JSON.stringify(task)}`);
    if (
      !Array.isArray(classNames) ||
      !classNames.every((c) => typeof c === 'string') ||
      (task === 'classification') !== classNames.length >= 2
    )
      throw this.bad('class names do not fit the task');
    if (
      !pre ||
      !NORMALIZATIONS.includes(pre['normalize'] as Normalization) ||
      !ZERO_REPLACEMENTS.includes(pre['zeros'] as ZeroReplacement) ||
      !Number.isInteger(pre['seed'])
    )
      throw this.bad('preprocessing');
    if (!shape) throw this.bad('no shape');
    const p = taxa.length;
    const num = (key: string): number | undefined => {
      const v = pre[key];
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw this.bad(`preprocessing.${key} is ${JSON.stringify(v)}`);
      return v;
    };
    const f: FittedPreprocessing = {
      normalize: pre['normalize'] as Normalization,
      zeros: pre['zeros'] as ZeroReplacement,
      seed: pre['seed'] as number,
    };
    const need = (key: string): number => {
      const v = num(key);
      if (v === undefined) throw this.bad(`preprocessing.${key} is missing for ${f.normalize}`);
      return v;
    };
    if (f.normalize === 'rarefy') f.rarefyDepth = need('rarefy_depth');
    if (f.normalize === 'css') f.cssQuantile = need('css_quantile');
    if (f.normalize === 'com') f.common = need('common_total');
    const shift = num('mclr_shift');
    if (shift !== undefined) f.mclrShift = shift;
    if (f.zeros === 'gbm') f.gbm = { colSum: this.float64('gbm.col_sum', p), colMin: this.float64('gbm.col_min', p) };
    const classes = task === 'classification' ? classNames.length : 0;
    if (shape['classes'] !== classes)
      throw this.bad(`shape.classes ${shape['classes']} does not fit ${classNames.length} class names`);
    return {
      kind: m['model'],
      task,
      classNames: classNames as string[],
      taxa: taxa as string[],
      classes,
      shape,
      preprocessing: f,
      meta: m,
    };
  }

  /** The logistic (ridge) model over `p` features: standardization and coefficients (one set for two classes or regression). */
  linear(classes: number, p: number): LinearModel {
    const count = classes === 0 || classes === 2 ? 1 : classes;
    return {
      classes,
      mean: this.float64('linear.mean', p),
      sd: this.float64('linear.sd', p),
      betas: this.float64('linear.betas', count * (p + 1)),
    };
  }
}
