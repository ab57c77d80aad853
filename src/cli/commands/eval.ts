import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { GraftError } from '../../core/errors.js';
import { Runtime } from '../../runtime/runtime.js';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import { moleculeReport, moleculeSplit } from '../../chem/train-molecules.js';
import { graphRunTrainer, runDenseInputs, runDenseRows, type GraphRunConfig } from '../../chem/graph-run.js';
import { checkInputs, type RecordedInputs } from '../../core/input-files.js';
import { checkRunFeaturizer, readRunModel, type RunModel } from '../run-model.js';
import type { AtomFeatureSet } from '../../chem/featurize.js';
import { predictNodeRun } from './predict-node.js';
import { fromSampledRun, sampledRunIn } from './predict-sampled.js';
import { scoreRunData } from '../score-run.js';
import type { GraphTrainer } from '../../train/graph-trainer.js';
import { accuracy, classificationReport } from '../../train/metrics.js';
import { num, joinNegativeValues } from '../args.js';

// `graft eval`: a run folder's checkpoint scored on its data again (node and graph runs),
// after checking that the data files are the ones the run recorded.

export const EVAL_USAGE = `  graft eval --run DIR [--threads N] [--data-dir DIR]
  graft eval --run SAMPLED_RUN [--store FILE] [--threads N]   (a run of graft train --store --sampler)`;

/** graft eval (mode 'eval'); 'predict' is graft predict on a node run (predict-node.ts). */
export async function fromRun(argv: string[], mode: 'eval' | 'predict'): Promise<void> {
  if (mode === 'predict') return predictNodeRun(argv);
  if (sampledRunIn(argv)) return fromSampledRun(argv, 'eval');
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: { run: { type: 'string' }, threads: { type: 'string' }, 'data-dir': { type: 'string' } },
  });
  if (!v.run) throw new GraftError(`--run DIR (a folder written by graft train) is required`);
  const threads = num(v.threads, '--threads', true);
  const run = readRunModel(v.run, 'graft eval');
  if (run.kind === 'graph') {
    // The molecules are featurized again as the run's were: by Chemprop's features, or graft's own (any other is refused).
    const featureSet = checkRunFeaturizer(run, 'graft eval', ['graft', 'chemprop']);
    // The data file read again must be the run's (train --task graph records its SHA-256), as for node runs.
    const recorded = run.config['inputs'] as RecordedInputs | undefined;
    if (!recorded)
      console.error(
        `graft eval: warning: ${join(run.dir, 'config.json')} records no SHA-256 of the run's data file (a run from an older graft): ${String(run.config['data'])} is not checked unchanged`,
      );
    await checkInputs(recorded, join(run.dir, 'config.json'), 'graft eval');
    return evalGraphRun(run, threads, featureSet);
  }
  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  try {
    const { ds, pred } = await scoreRunData(rt, run, v['data-dir'], 'graft eval');
    const rep = classificationReport(ds.labels, pred, ds.split.test, ds.numClasses);
    console.log(
      JSON.stringify({
        dataset: ds.name,
        test_accuracy: accuracy(ds.labels, pred, ds.split.test),
        val_accuracy: accuracy(ds.labels, pred, ds.split.val),
        test_f1_micro: rep.f1.micro,
        test_f1_macro: rep.f1.macro,
        test_f1_weighted: rep.f1.weighted,
      }),
    );
  } finally {
    await rt.close();
  }
}

/** A graph run scored again from its checkpoint: the same split (seeded) and the same test figures. */
async function evalGraphRun(run: RunModel, threads: number | undefined, atomFeatures: AtomFeatureSet): Promise<void> {
  const saved = run.config as unknown as GraphRunConfig;
  const ds = await loadMoleculeCsv(saved.data, {
    targets: saved.targets,
    task: saved.type,
    atomFeatures,
    ...(saved.smiles ? { smiles: saved.smiles } : {}),
  });
  // A hybrid's dense inputs rebuilt as training built them (descriptors by the recorded training-split scaling).
  const dense = runDenseInputs(saved, join(run.dir, 'config.json'));
  const rows = dense ? await runDenseRows(dense, ds.graphs, ds.smiles) : undefined;
  const { val, test } = moleculeSplit(
    ds,
    { split: saved.split, hybrid: saved.hybrid, config: saved },
    rows && ((i) => rows[i]!),
  );
  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  let trainer: GraphTrainer | undefined;
  try {
    trainer = graphRunTrainer(rt, run.model.checkpoint, run.checkpointFile, saved.targets.length, dense);
    const { metrics } = await moleculeReport(trainer, ds, saved.type, val, test);
    console.log(JSON.stringify({ data: saved.data, split: saved.split, seed: saved.seed, ...metrics }));
  } finally {
    trainer?.dispose();
    await rt.close();
  }
}
