import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ATOM_FEATURES, FEATURIZER_VERSION } from '../chem/featurize.js';
import { GraftError } from '../core/errors.js';
import { parseModelFile, type ModelFile } from '../infer/model-file.js';
import { readPreprocess, type Preprocessing } from '../infer/preprocess.js';
import type { Checkpoint } from '../core/safetensors.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { detectRunKind, readRunJson, wrongKind, type RunKind } from './run-kind.js';
import { dataPreprocess, type DataChoice } from './train.js';

// What eval, predict, export and quantize share when they read a node or graph run folder:
// the kind check, config.json read without a stack trace, the checkpoint as a model file that
// records its inputs' preprocessing (filled in from the run's config for checkpoints written
// before Graft recorded it), and the check of an --out file before any work.

export interface RunModel {
  dir: string;
  kind: 'node' | 'graph';
  config: Record<string, unknown>;
  checkpointFile: string;
  model: ModelFile;
}

/** The commands that rebuild a node run of any --model; the others (export, quantize, graft/infer) know the GCN alone. */
const ANY_NODE_MODEL = new Set(['graft eval', 'graft predict']);

/** A node or graph run folder's model; any other folder is one line saying what it holds and which command reads it. */
export function readRunModel(run: string, command: string): RunModel {
  const dir = resolve(run);
  const kind: RunKind = detectRunKind(dir);
  if (kind !== 'node' && kind !== 'graph') throw wrongKind(command, run, kind, 'a node or graph run (graft train, graft train --task graph)');
  const config = readRunJson(join(dir, 'config.json'));
  const checkpointFile = join(dir, 'checkpoint.safetensors');
  const nodeModel = kind === 'node' ? String(config['model'] ?? 'gcn') : 'gcn';
  // Refused before any reading: a GCN rebuilt on another model's weights would be wrong, not just fail.
  if (nodeModel !== 'gcn' && !ANY_NODE_MODEL.has(command)) throw new GraftError(`${command} supports GCN runs; this run's model is ${nodeModel} (${run})`);
  if (!existsSync(checkpointFile)) throw new GraftError(`${checkpointFile} not found (the run has no checkpoint: did graft train finish an epoch?)`);
  const cp = loadCheckpoint(checkpointFile);
  const model = nodeModel === 'gcn' ? parseModelFile(cp, checkpointFile) : messageNodeModelFile(cp, checkpointFile, config);
  return { dir, kind, config, checkpointFile, model: { ...model, preprocess: runPreprocess(model, config) } };
}

/**
 * A node run of a model other than the GCN (graft train --model) as a model file: parseModelFile
 * reads a GCN's widths from its gcn0/gcnL weights, which such a run has not; its config.json
 * records the widths, and the checkpoint's config names the same model (else the folder is mixed up).
 */
function messageNodeModelFile(cp: Checkpoint, file: string, config: Record<string, unknown>): ModelFile {
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(cp.metadata['config'] ?? '') as Record<string, unknown>;
  } catch {
    throw new GraftError(`${file}: no node-run config in its metadata (not a graft train checkpoint)`);
  }
  if (cp.metadata['task'] !== 'node' || saved['model'] !== config['model']) {
    throw new GraftError(`${file}: a checkpoint of model ${String(saved['model'] ?? 'gcn')}, but the run's config.json says ${String(config['model'])}`);
  }
  const best = saved['restoreBest'] === true && [...cp.tensors.keys()].some((k) => k.startsWith('best.'));
  const shape = { features: Number(config['num_features']), classes: Number(config['num_classes']), targets: 0, blocks: [] };
  return { task: 'node', config: saved, prefix: best ? 'best.' : 'model.', members: [], checkpoint: cp, shape, preprocess: readPreprocess(cp.metadata, file) };
}

/**
 * The model's record, or for a checkpoint written before Graft recorded it, what the run's
 * config says (node runs: the data set and --no-normalize decide row normalization; graph runs:
 * graft's molecule featurizer, the one train --task graph has).
 */
export function runPreprocess(model: ModelFile, config: Record<string, unknown>): Preprocessing {
  if (model.task === 'graph') {
    if (model.preprocess?.featurizer) return model.preprocess;
    const hybrid = model.config['hybrid'] as { descriptors?: number } | undefined;
    return { version: 1, features: model.preprocess?.features ?? [], featurizer: { name: FEATURIZER_VERSION, atomFeatures: ATOM_FEATURES, ...(hybrid?.descriptors ? { descriptors: hybrid.descriptors } : {}) } };
  }
  if (model.preprocess) return model.preprocess;
  return { version: 1, features: dataPreprocess(config as unknown as DataChoice) };
}

/**
 * An --out FILE checked before any work: not a folder, its folder there and a folder (not a
 * file). Each refusal is one line naming the path.
 */
export function checkOutFile(out: string, flag = '--out'): string {
  const file = resolve(out);
  if (existsSync(file) && statSync(file).isDirectory()) throw new GraftError(`${flag} ${file}: is a folder; give a file name in it`);
  const dir = dirname(file);
  let up = dir;
  while (!existsSync(up) && dirname(up) !== up) up = dirname(up);
  if (!statSync(up).isDirectory()) throw new GraftError(`${flag} ${file}: ${up} is a file, not a folder`);
  if (up !== dir) throw new GraftError(`${flag} ${file}: no folder ${dir} (create it first)`);
  return file;
}
