import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { loadNodeGraphCsv } from '../../data/node-dataset.js';
import type { NodeDataset } from '../../graph/node-data.js';
import { modelWeights } from '../../infer/model-file.js';
import { applyPreprocess, describePreprocess } from '../../graph/preprocess.js';
import { Runtime } from '../../runtime/runtime.js';
import { predictNodes, type NodeTrainConfig } from '../../train/node-trainer.js';
import { joinNegativeValues, num } from '../args.js';
import { scoreRunData } from '../score-run.js';
import { checkOutFile, readRunModel, type RunModel } from '../run-model.js';
import { writePredictions } from '../node-predictions.js';
import { fromSampledRun, sampledRunIn } from './predict-sampled.js';

// graft predict on a node run: the run's GCN on its own graph again (input files checked
// against the checksums the run recorded), or on a new graph (inductive use: the same edge and
// feature CSVs as graft train --edges/--features, no labels), its features preprocessed by the
// model's record with the training-time parameters, as graft/infer does from the same files.

export const PREDICT_NODE_USAGE = `  graft predict --run NODE_RUN [--edges F --features F] [--out FILE] [--threads N] [--data-dir DIR]
              (a new graph: one row per node of the features file, in its order: id, predicted, p0..pK-1;
               to stdout without --out)`;

export async function predictNodeRun(argv: string[]): Promise<void> {
  if (sampledRunIn(argv)) return fromSampledRun(argv, 'predict');
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      run: { type: 'string' },
      out: { type: 'string' },
      threads: { type: 'string' },
      'data-dir': { type: 'string' },
      edges: { type: 'string' },
      features: { type: 'string' },
    },
  });
  if (!v.run) throw new GraftError('--run DIR (a folder written by graft train) is required');
  if ((v.edges === undefined) !== (v.features === undefined))
    throw new GraftError("--edges and --features go together (the new graph's edges and its nodes' features)");
  const threads = num(v.threads, '--threads', true);
  const run = readRunModel(v.run, 'graft predict');
  if (run.kind !== 'node') throw new GraftError(`${v.run} is a graph run: predict it with graft predict's graph form`);
  if (v.edges !== undefined && v['data-dir'] !== undefined)
    throw new GraftError("--data-dir is for the run's own data; a new graph is --edges and --features");
  const out =
    v.out !== undefined
      ? checkOutFile(v.out)
      : v.edges === undefined
        ? checkOutFile(join(run.dir, 'predictions.csv'))
        : null;
  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  try {
    if (v.edges === undefined) {
      const { ds, probs, pred } = await scoreRunData(rt, run, v['data-dir'], 'graft predict');
      writePredictions(out!, ds, pred, probs);
      console.log(JSON.stringify({ predictions: out, nodes: ds.numNodes }));
      return;
    }
    const ds = newGraph(run, v.edges, v.features!);
    const { probs, pred } = await predictNodes(
      rt,
      ds,
      run.config as unknown as NodeTrainConfig,
      modelWeights(run.model, ''),
    );
    const csv = predictionRows(ds, pred, probs);
    if (out === null) {
      process.stdout.write(csv);
      return;
    }
    writeFileAtomic(out, csv);
    console.log(
      JSON.stringify({
        predictions: out,
        nodes: ds.numNodes,
        edges: ds.src.length,
        preprocess: describePreprocess(run.model.preprocess!.features),
      }),
    );
  } finally {
    await rt.close();
  }
}

/**
 * A new graph as the run's model reads it: its feature columns must be the training ones
 * (count, and names where the run recorded them), and its features get the model's
 * preprocessing (applyPreprocess, as graft/infer applies it).
 */
function newGraph(run: RunModel, edges: string, features: string): NodeDataset {
  const g = loadNodeGraphCsv({ edges, features });
  const want = run.model.shape.features;
  if (g.numFeatures !== want)
    throw new GraftError(
      `${features}: ${g.numFeatures} feature columns, but the run's model reads ${want} (as many as its training features)`,
    );
  const names = run.config['feature_names'] as string[] | undefined;
  const at = names ? names.findIndex((n, i) => n !== g.featureNames[i]) : -1;
  if (at >= 0)
    throw new GraftError(
      `${features}: feature column ${at + 1} is ${JSON.stringify(g.featureNames[at])}, the run's training features had ${JSON.stringify(names![at])} there (same columns, same order)`,
    );
  applyPreprocess(run.model.preprocess!.features, g.features, g.numNodes, g.numFeatures);
  const none = new Int32Array(0);
  const classNames = run.config['class_names'] as string[] | undefined;
  return {
    name: features,
    numNodes: g.numNodes,
    numFeatures: g.numFeatures,
    numClasses: run.model.shape.classes,
    features: g.features,
    labels: new Int32Array(g.numNodes).fill(-1),
    split: { train: none, val: none, test: none },
    src: g.src,
    dst: g.dst,
    ids: g.ids,
    ...(classNames ? { classNames } : {}),
  };
}

/**
 * id, predicted class (its name where the labels had names), then each class's probability
 * with 9 significant digits: enough to give back the float32 bits graft/infer returns.
 */
function predictionRows(ds: NodeDataset, pred: Int32Array, probs: Float32Array): string {
  const c = ds.numClasses;
  const name = (k: number): string | number => (ds.classNames ? JSON.stringify(ds.classNames[k]) : k);
  const lines = [['id', 'predicted', ...Array.from({ length: c }, (_, j) => `p${j}`)].join(',')];
  for (let i = 0; i < ds.numNodes; i++) {
    const row = [JSON.stringify(ds.ids[i]), name(pred[i]!)];
    for (let j = 0; j < c; j++) row.push(probs[i * c + j]!.toPrecision(9));
    lines.push(row.join(','));
  }
  return `${lines.join('\n')}\n`;
}
