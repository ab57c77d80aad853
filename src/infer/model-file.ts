import { GraftError } from '../core/errors.js';
import { LAYER_TENSORS, layerPrefix, type ConvKind } from '../core/layer-names.js';
import type { Checkpoint, StoredTensor } from '../core/safetensors.js';
import { GP_MODELS_FORMAT, reportedPrefix, weightsUnder } from '../nn/load-weights.js';
import { preprocessMetadata, readPreprocess, type Preprocessing } from '../graph/preprocess.js';

// What the inference entry reads from a file: the task, the config its model is built from,
// the input and output widths, and which tensors are the reported weights. It accepts a
// training checkpoint (graft train, graft train --task graph), a gp model file
// (graft gp --keep-models) and a model file (graft export, graft import, graft quantize).

/** The format `graft export --to graft` and `graft import` write: the reported weights and what rebuilds the model, nothing else. */
export const MODEL_FORMAT = 'graft-model-v1';

export interface ModelShape {
  features: number;
  /** Node models. */
  classes: number;
  /** Graph models. */
  targets: number;
  /** Genomic models: feature columns per branch ([features] for one stack). */
  blocks: number[];
}

/**
 * A model file read back: the task, the config, the input and output widths, the weights' prefix, a genomic ensemble's members, and the checkpoint.
 */
export interface ModelFile {
  task: 'node' | 'graph' | 'genomic';
  config: Record<string, unknown>;
  shape: ModelShape;
  /** The reported weights' name prefix in `checkpoint`: nn/load-weights.ts reportedPrefix ('' for a gp ensemble's members). */
  prefix: string;
  /** Genomic ensembles: each member's seed and the trait's scale. */
  members: { seed: number; scale: { mean: number; sd: number } }[];
  checkpoint: Checkpoint;
  /**
   * What raw inputs need before the model (graph/preprocess.ts); null: the file does not say
   * (written before Graft recorded it).
   */
  preprocess: Preprocessing | null;
}

const json = <T>(cp: Checkpoint, key: string, file: string): T => {
  const v = cp.metadata[key];
  if (v === undefined)
    throw new GraftError(`${file}: no '${key}' in its metadata (not a file graft can rebuild a model from)`);
  try {
    return JSON.parse(v) as T;
  } catch {
    throw new GraftError(`${file}: its metadata '${key}' is not JSON`);
  }
};

const shapeOf = (cp: Checkpoint, name: string, file: string): number[] => {
  const t = cp.tensors.get(name);
  if (!t) throw new GraftError(`${file}: no tensor ${name}`);
  return t.shape;
};

/**
 * Reads what rebuilds a model from a checkpoint or model file's metadata (graft train, graft gp --keep-models, graft export); an unknown or incomplete file is a GraftError naming `file`.
 */
export function parseModelFile(cp: Checkpoint, file: string): ModelFile {
  return { ...parseModel(cp, file), preprocess: readPreprocess(cp.metadata, file) };
}

function parseModel(cp: Checkpoint, file: string): Omit<ModelFile, 'preprocess'> {
  const m = cp.metadata;
  const empty: ModelShape = { features: 0, classes: 0, targets: 0, blocks: [] };
  if (m['format'] !== MODEL_FORMAT && m['format'] !== GP_MODELS_FORMAT && m['task'] !== 'node' && m['task'] !== 'graph')
    throw new GraftError(
      `${file}: not a Graft model (task ${m['task'] ?? 'none'}, format ${m['format'] ?? 'none'}): expected a graft train checkpoint, the model file of a graft gp ensemble, or a graft export, import or quantize model file`,
    );
  // Which weights the file reports: decided once, by the one rule (nn/load-weights.ts).
  const prefix = reportedPrefix(cp, file);
  if (m['format'] === MODEL_FORMAT) {
    const task = m['task'] as ModelFile['task'];
    if (task !== 'node' && task !== 'graph' && task !== 'genomic')
      throw new GraftError(`${file}: unknown task ${String(task)}`);
    return {
      task,
      config: json(cp, 'config', file),
      shape: { ...empty, ...json<Partial<ModelShape>>(cp, 'shape', file) },
      prefix,
      members: task === 'genomic' ? json(cp, 'members', file) : [],
      checkpoint: cp,
    };
  }
  if (m['format'] === GP_MODELS_FORMAT) {
    if (m['config'] === undefined)
      throw new GraftError(
        `${file}: a gp model file from before inference was possible (no config in it): have graft gp keep its models again`,
      );
    return {
      task: 'genomic',
      config: json(cp, 'config', file),
      shape: { ...empty, ...json<Partial<ModelShape>>(cp, 'shape', file) },
      prefix,
      members: json(cp, 'members', file),
      checkpoint: cp,
    };
  }
  if (m['task'] === 'node') {
    const config = json<Record<string, unknown>>(cp, 'config', file);
    const layers = Number(config['layers']);
    return {
      task: 'node',
      config,
      prefix,
      members: [],
      checkpoint: cp,
      shape: { ...empty, ...nodeWidths(cp, prefix, String(config['model'] ?? 'gcn'), layers, file) },
    };
  }
  // task 'graph' (the check above leaves no other).
  const config = json<Record<string, unknown>>(cp, 'config', file);
  json(cp, 'early_stop', file); // a training checkpoint records its early stopping, which decides the reported weights
  return {
    task: 'graph',
    config,
    prefix,
    members: [],
    checkpoint: cp,
    shape: { ...empty, features: Number(m['features']), targets: Number(m['targets']) },
  };
}

/**
 * A node model's input and output widths from its first and last layers' tensors (PyG's names
 * under the layer: graft train --model names them gcn0 …, sage0 …, gin0 …, gat0 …, gatv2_0 …).
 */
function nodeWidths(
  cp: Checkpoint,
  prefix: string,
  model: string,
  layers: number,
  file: string,
): { features: number; classes: number } {
  const layer = (l: number): string => `${prefix}${layerPrefix(model)}${l}.`;
  // Node models: every kind but GINE (a graph-level layer: node data has no edge features).
  const names = model !== 'gine' && Object.hasOwn(LAYER_TENSORS, model) ? LAYER_TENSORS[model as ConvKind] : null;
  if (!names) throw new GraftError(`${file}: unknown node model ${JSON.stringify(model)} in its config`);
  const last = shapeOf(cp, `${layer(layers - 1)}${names.output}`, file);
  return { features: shapeOf(cp, `${layer(0)}${names.input}`, file)[0]!, classes: last[last.length - 1]! };
}

/** The reported float weights, by parameter name; `member` picks one of a genomic ensemble ('m0.', …). */
export function modelWeights(f: ModelFile, member: string): Map<string, Float32Array> {
  return weightsUnder(f.checkpoint, f.prefix + member);
}

/**
 * A model file of `m` (the MODEL_FORMAT graft export --to graft writes): its reported float
 * weights as model.<name> with their shapes, and what rebuilds the model.
 */
export function reportedModel(m: ModelFile): Checkpoint {
  const tensors = new Map<string, StoredTensor>();
  for (const [k, w] of modelWeights(m, ''))
    tensors.set(`model.${k}`, { shape: m.checkpoint.tensors.get(`${m.prefix}${k}`)!.shape, data: w });
  return { tensors, metadata: modelMetadata(m) };
}

/** What a model file carries to rebuild the model and feed it: task, config, input/output widths and the inputs' preprocessing. */
export function modelMetadata(m: ModelFile): Record<string, string> {
  return {
    format: MODEL_FORMAT,
    task: m.task,
    config: JSON.stringify(m.config),
    shape: JSON.stringify(m.shape),
    ...(m.members.length ? { members: JSON.stringify(m.members) } : {}),
    ...(m.preprocess ? preprocessMetadata(m.preprocess) : {}),
  };
}
