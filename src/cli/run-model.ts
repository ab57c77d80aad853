import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type AtomFeatureSet, FEATURIZER_VERSION, featureSetOf } from '../chem/featurize.js';
import { refuseDescriptorHybrid } from '../chem/graph-run.js';
import { GraftError } from '../core/errors.js';
import { parseModelFile, type ModelFile } from '../infer/model-file.js';
import { readPreprocess, type Preprocessing } from '../graph/preprocess.js';
import type { Checkpoint } from '../core/safetensors.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { reportedPrefix } from '../nn/load-weights.js';
import { detectRunKind, readRunJson, wrongKind, type RunKind } from './run-kind.js';
import { dataPreprocess, type DataChoice } from '../store/node-task.js';

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
  /**
   * Graph runs: where the model's featurizer record came from: its checkpoint (runs trained
   * since Graft records it there), the run's config.json, or assumed (a run that records it
   * nowhere: graft-atoms-v1, the only featurizer of the grafts that did not record it). Null
   * for node runs.
   */
  featurizerFrom: 'checkpoint' | 'config' | 'assumed' | null;
}

/** The commands that rebuild a node run of any --model (graft import reads PyG files of any of them too). */
const ANY_NODE_MODEL = new Set(['graft eval', 'graft predict', 'graft export', 'graft quantize']);
/** The commands that read a graph run of any --model through readRunModel (graft predict reads graph runs its own way). */
const ANY_GRAPH_MODEL = new Set(['graft eval', 'graft export', 'graft quantize']);

/** A node or graph run folder's model; any other folder is one line saying what it holds and which command reads it. */
export function readRunModel(run: string, command: string): RunModel {
  const dir = resolve(run);
  const kind: RunKind = detectRunKind(dir);
  if (kind !== 'node' && kind !== 'graph')
    throw wrongKind(command, run, kind, 'a node or graph run (graft train, graft train --task graph)');
  const config = readRunJson(join(dir, 'config.json'));
  const checkpointFile = join(dir, 'checkpoint.safetensors');
  const nodeModel = kind === 'node' ? String(config['model'] ?? 'gcn') : 'gcn';
  // Refused before any reading: a GCN rebuilt on another model's weights would be wrong, not just fail.
  if (nodeModel !== 'gcn' && !ANY_NODE_MODEL.has(command))
    throw new GraftError(`${command} supports GCN runs; this run's model is ${nodeModel} (${run})`);
  // A graph run of another --model: graft eval and graft predict rebuild it (chem/graph-run.ts), graft export and
  // quantize through graft/infer's builders (nn/task-models.ts); the rest know the GCN alone.
  const graphModel = kind === 'graph' ? String(config['model'] ?? 'gcn') : 'gcn';
  if (graphModel !== 'gcn' && !ANY_GRAPH_MODEL.has(command))
    throw new GraftError(`${command} supports graph runs of --model gcn; this run's model is ${graphModel} (${run})`);
  // A model file cannot carry a descriptor hybrid's training-split scaling yet: graft eval alone rebuilds it.
  if (kind === 'graph' && command !== 'graft eval') refuseDescriptorHybrid(config, join(dir, 'config.json'), command);
  if (!existsSync(checkpointFile))
    throw new GraftError(`${checkpointFile} not found (the run has no checkpoint: did graft train finish an epoch?)`);
  const cp = loadCheckpoint(checkpointFile);
  const model =
    nodeModel === 'gcn' ? parseModelFile(cp, checkpointFile) : messageNodeModelFile(cp, checkpointFile, config);
  const featurizerFrom =
    model.task !== 'graph'
      ? null
      : model.preprocess?.featurizer
        ? 'checkpoint'
        : typeof config['featurizer'] === 'string'
          ? 'config'
          : 'assumed';
  return {
    dir,
    kind,
    config,
    checkpointFile,
    model: { ...model, preprocess: runPreprocess(model, config) },
    featurizerFrom,
  };
}

/** The featurizer of the grafts that recorded none (FEATURIZER_VERSION may move on; this may not). */
const UNRECORDED_FEATURIZER = 'graft-atoms-v1';

/**
 * A warning line for a graph run whose checkpoint does not record its featurizer (the model
 * file written from it records what config.json names, or the one assumed); null otherwise.
 */
export function featurizerNote(run: RunModel, command: string): string | null {
  const name = run.model.preprocess?.featurizer?.name;
  if (run.featurizerFrom === 'checkpoint' || run.featurizerFrom === null || !name) return null;
  const how =
    run.featurizerFrom === 'config'
      ? `taken from ${join(run.dir, 'config.json')}`
      : `assumed: the run records none anywhere, and ${name} is the featurizer of every graft that did not record it`;
  return `${command}: warning: ${run.checkpointFile} does not record its featurizer (a run from an older graft): ${name}, ${how}`;
}

/**
 * The feature set a run's molecules are featurized again with (a node run: 'graft', which it
 * never uses); a graph run featurized by a featurizer this graft does not make, or of a set
 * the command does not featurize by (`reads`: graft's own unless it says), is refused (a command that featurizes molecules
 * for it would feed the model other features). One line naming the run's file that records it.
 */
export function checkRunFeaturizer(
  run: RunModel,
  command: string,
  reads: readonly AtomFeatureSet[] = ['graft'],
): AtomFeatureSet {
  const f = run.model.preprocess?.featurizer;
  const set = featureSetOf(f?.name ?? FEATURIZER_VERSION);
  if (run.kind !== 'graph' || !f || (set !== null && reads.includes(set))) return set ?? 'graft';
  const where = run.featurizerFrom === 'checkpoint' ? run.checkpointFile : join(run.dir, 'config.json');
  throw new GraftError(
    `${where}: the run's molecules were featurized by ${f.name}; this version of graft featurizes by ${FEATURIZER_VERSION}, so ${command} would feed its model other features: train the run again`,
  );
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
    throw new GraftError(
      `${file}: a checkpoint of model ${String(saved['model'] ?? 'gcn')}, but the run's config.json says ${String(config['model'])}`,
    );
  }
  const shape = {
    features: Number(config['num_features']),
    classes: Number(config['num_classes']),
    targets: 0,
    blocks: [],
  };
  return {
    task: 'node',
    config: saved,
    prefix: reportedPrefix(cp, file),
    members: [],
    checkpoint: cp,
    shape,
    preprocess: readPreprocess(cp.metadata, file),
  };
}

/**
 * The model's record, or for a checkpoint written before Graft recorded it, what the run's
 * config says (node runs: the data set and --no-normalize decide row normalization; graph runs:
 * the featurizer config.json names, else graft-atoms-v1, the only one of the grafts that
 * recorded none). Never the featurizer of the graft reading it: a run keeps its own.
 */
export function runPreprocess(model: ModelFile, config: Record<string, unknown>): Preprocessing {
  if (model.task === 'graph') {
    if (model.preprocess?.featurizer) return model.preprocess;
    const hybrid = model.config['hybrid'] as { descriptors?: number } | undefined;
    const name = typeof config['featurizer'] === 'string' ? config['featurizer'] : UNRECORDED_FEATURIZER;
    return {
      version: 1,
      features: model.preprocess?.features ?? [],
      featurizer: {
        name,
        atomFeatures: model.shape.features,
        ...(hybrid?.descriptors ? { descriptors: hybrid.descriptors } : {}),
      },
    };
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
  if (existsSync(file) && statSync(file).isDirectory())
    throw new GraftError(`${flag} ${file}: is a folder; give a file name in it`);
  const dir = dirname(file);
  let up = dir;
  while (!existsSync(up) && dirname(up) !== up) up = dirname(up);
  if (!statSync(up).isDirectory()) throw new GraftError(`${flag} ${file}: ${up} is a file, not a folder`);
  if (up !== dir) throw new GraftError(`${flag} ${file}: no folder ${dir} (create it first)`);
  return file;
}
