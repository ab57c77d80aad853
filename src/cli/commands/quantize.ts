import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import type { AtomFeatureSet } from '../../chem/featurize.js';
import { moleculeSplit } from '../../chem/train-molecules.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { packageRoot } from '../../core/paths.js';
import { loadModel, type GraftModel, type KernelBinaries, type LoadOptions } from '../../infer/index.js';
import { reportedModel, type ModelFile } from '../../infer/model-file.js';
import { enableRelaxedSimd } from '../../kernels/wasm.js';
import type { Linear } from '../../nn/layers.js';
import { int8Entries, quantizeLinear, RangeObserver } from '../../quant/int8.js';
import { encodeCheckpoint } from '../../train/checkpoint.js';
import { meanRocAuc } from '../../train/multilabel-metrics.js';
import { loadRawData, type DataChoice } from '../../store/node-task.js';
import { checkOutFile, checkRunFeaturizer, featurizerNote, readRunModel } from '../run-model.js';
import { checkInputs, type RecordedInputs } from '../../core/input-files.js';
import { choice } from '../args.js';
import { GP_QUANTIZE_MODELS, quantizeGenomic } from './quantize-genomic.js';

// graft quantize --int8: a run's model with int8 weights (symmetric, per output channel) and
// 7-bit activations whose scale per tensor is calibrated on the training nodes or graphs,
// accumulated exactly in int32 (quant/int8.ts, ops/int8.ts). It reports the test figures of
// the float model and of the int8 one, both run by graft/infer on one thread, and the sizes.

export const QUANTIZE_USAGE = `  graft quantize --run DIR --int8 [--out FILE]   (node and graph runs; writes DIR/model.int8.safetensors)
  graft quantize --run GP_RUN --int8 --trait NAME [--model gcn|gcn-soup] [--out FILE]
               (a gp run's kept GCN ensemble or soup, the soup where kept; writes GP_RUN/models/<model>-<trait>.int8.safetensors)`;

/** The unshared kernel builds graft/infer runs on, read from the package. */
export function localKernels(): KernelBinaries {
  enableRelaxedSimd();
  const read = (k: string): Uint8Array => readFileSync(join(packageRoot(), 'build', `graft-${k}-local.wasm`));
  return { relaxed: read('relaxed'), simd: read('simd') };
}

interface TaskData {
  /** Runs the model on the calibration samples; `rows` selects a node model's calibration rows. */
  calibrate(m: GraftModel): Promise<void>;
  rows: Int32Array | null;
  /** The test figures of a model. */
  score(m: GraftModel): Promise<Record<string, number>>;
}

export async function quantize(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      run: { type: 'string' },
      int8: { type: 'boolean' },
      out: { type: 'string' },
      trait: { type: 'string' },
      model: { type: 'string' },
    },
  });
  if (!v.run) throw new GraftError('--run DIR (a folder written by graft train) is required');
  if (!v.int8) throw new GraftError('--int8 is required (the one precision graft quantize makes)');
  if (v.trait !== undefined) {
    const model = choice(v.model, '--model', GP_QUANTIZE_MODELS, 'gcn-soup');
    return quantizeGenomic(
      v.run,
      v.trait,
      model,
      v.out === undefined ? undefined : checkOutFile(v.out),
      localKernels(),
    );
  }
  if (v.model !== undefined) throw new GraftError("--model picks a gp run's kept GCN: it needs --trait");
  const run = readRunModel(v.run, 'graft quantize');
  const { dir, model: file, config: saved, checkpointFile: cpFile } = run;
  const out = checkOutFile(v.out ?? join(dir, 'model.int8.safetensors'));
  // The run's molecules are featurized again here to calibrate and score: by the run's featurizer or not at all.
  const featureSet = checkRunFeaturizer(run, 'graft quantize', ['graft', 'chemprop']);
  const note = featurizerNote(run, 'graft quantize');
  if (note) console.error(note);
  // Calibrated and scored on the run's own data: refused if a file it recorded changed since.
  await checkInputs(
    saved['inputs'] as RecordedInputs | undefined,
    join(dir, 'config.json'),
    'graft quantize (calibration and test scores)',
  );
  const task = file.task === 'node' ? await nodeTask(saved, file) : await graphTask(saved, featureSet);
  const kernels = localKernels();

  // Calibration: every linear map's input range over the training rows, on the float model.
  const ranges = new Map<string, RangeObserver>();
  const observe: LoadOptions['onLinears'] = (linears: Linear[]) => {
    for (const lin of linears) {
      const r = ranges.get(lin.name) ?? new RangeObserver();
      ranges.set(lin.name, r);
      lin.observe = (x) => r.add(x.data() as Float32Array, x.shape[1]!, task.rows);
    }
  };
  const floatModel = reportedModel(file);
  const floatBytes = encodeCheckpoint(floatModel);
  const float = await loadModel(floatBytes, { kernels, onLinears: observe, name: cpFile });
  await task.calibrate(float);
  const floatScores = await task.score(await loadModel(floatBytes, { kernels, name: cpFile }));

  // The float model's tensors, each linear map's weight replaced by its int8 values.
  const tensors = new Map(floatModel.tensors);
  const calibration: Record<string, { min: number; max: number; scale: number; zero_point: number }> = {};
  for (const [name, r] of ranges) {
    const w = tensors.get(`model.${name}.weight`);
    if (!w) throw new GraftError(`${cpFile}: no weight for the linear map ${name}`);
    const [k, out] = w.shape as [number, number];
    if (!Number.isFinite(r.min)) throw new GraftError(`${name}: calibration saw no input rows`);
    const values = quantizeLinear(w.data as Float32Array, k, out, r);
    tensors.delete(`model.${name}.weight`);
    for (const [key, t] of int8Entries(`model.${name}`, values)) tensors.set(key, t);
    calibration[name] = { min: r.min, max: r.max, scale: values.inputScale, zero_point: values.zeroPoint };
  }
  const bytes = encodeCheckpoint({
    tensors,
    metadata: { ...floatModel.metadata, precision: 'int8', calibration: JSON.stringify(calibration) },
  });
  const int8 = await loadModel(bytes, { kernels, name: out });
  const int8Scores = await task.score(int8);
  writeFileAtomic(out, bytes);
  console.log(
    JSON.stringify({
      out,
      task: file.task,
      backend: int8.backend,
      float: floatScores,
      int8: int8Scores,
      bytes: { float_model: floatBytes.length, int8_model: bytes.length, checkpoint: readFileSync(cpFile).length },
      calibration,
    }),
  );
}

/** The run's node task with its features raw: the model files apply their recorded preprocessing. */
async function nodeTask(saved: Record<string, unknown>, file: ModelFile): Promise<TaskData> {
  const ds = loadRawData(saved as unknown as DataChoice, Number(saved['seed']));
  if (ds.numFeatures !== file.shape.features)
    throw new GraftError(`the run's data has ${ds.numFeatures} features, its model reads ${file.shape.features}`);
  const g = { numNodes: ds.numNodes, features: ds.features, src: ds.src, dst: ds.dst };
  return {
    rows: ds.split.train,
    calibrate: async (m) => {
      await m.predictNodes(g);
    },
    score: async (m) => {
      const { pred } = await m.predictNodes(g);
      const acc = (idx: Int32Array): number => [...idx].filter((i) => pred[i] === ds.labels[i]).length / idx.length;
      return { test_accuracy: acc(ds.split.test), val_accuracy: acc(ds.split.val) };
    },
  };
}

/** The run's molecules, featurized as its were (graft's atom features or Chemprop's), split as at training. */
async function graphTask(saved: Record<string, unknown>, atomFeatures: AtomFeatureSet): Promise<TaskData> {
  const c = saved as {
    data: string;
    smiles?: string;
    targets: string[];
    type: 'multilabel' | 'regression';
    split: 'random' | 'scaffold';
    hybrid: boolean;
    seed: number;
  };
  const ds = await loadMoleculeCsv(c.data, {
    targets: c.targets,
    task: c.type,
    atomFeatures,
    ...(c.smiles ? { smiles: c.smiles } : {}),
  });
  const { train, test } = moleculeSplit(ds, { split: c.split, hybrid: c.hybrid, config: { seed: c.seed } });
  const T = c.targets.length;
  const truth = new Float32Array(test.length * T);
  test.forEach((g, i) => {
    truth.set(g.y, i * T);
  });
  return {
    rows: null,
    calibrate: async (m) => {
      await m.predictGraphs(train);
    },
    score: async (m): Promise<Record<string, number>> => {
      const r = await m.predictGraphs(test);
      if (c.type === 'multilabel') return { test_roc_auc: meanRocAuc(truth, r.probs!, T) };
      let se = 0,
        n = 0;
      for (let i = 0; i < truth.length; i++)
        if (!Number.isNaN(truth[i]!)) {
          se += (r.outputs[i]! - truth[i]!) ** 2;
          n++;
        }
      return { test_rmse: Math.sqrt(se / n) };
    },
  };
}
