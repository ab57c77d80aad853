import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GraftError } from '../core/errors.js';
import { Runtime } from '../runtime/runtime.js';
import { loadMoleculeCsv } from '../chem/dataset.js';
import { moleculeReport, moleculeSplit, moleculeTrainer } from '../chem/train-molecules.js';
import { loadCheckpoint, type Checkpoint } from '../train/checkpoint.js';
import type { GraphTrainConfig } from '../train/graph-trainer.js';
import { accuracy, classificationReport } from '../train/metrics.js';
import { predictNodes, type NodeTrainConfig } from '../train/node-trainer.js';
import { num, joinNegativeValues } from './args.js';
import { loadData, writePredictions, type DataChoice } from './train.js';

// `graft eval` and `graft predict`: a run folder's checkpoint, on its data again (node runs;
// eval also scores graph runs).

export const EVAL_USAGE = `  graft eval --run DIR [--threads N]`;

export async function fromRun(argv: string[], mode: 'eval' | 'predict'): Promise<void> {
  const { values: v } = parseArgs({ args: joinNegativeValues(argv), strict: true, options: { run: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' }, 'data-dir': { type: 'string' } } });
  if (!v.run) throw new GraftError(`--run DIR (a folder written by graft train) is required`);
  const cfgFile = join(v.run, 'config.json');
  if (!existsSync(cfgFile)) throw new GraftError(`${cfgFile} not found (is ${v.run} a run folder?)`);
  const saved = JSON.parse(readFileSync(cfgFile, 'utf8')) as NodeTrainConfig & DataChoice & { kind?: string };
  const cp = loadCheckpoint(join(v.run, 'checkpoint.safetensors'));
  const threads = num(v.threads, '--threads', true);
  if (saved.kind === 'graph') {
    if (mode === 'predict') throw new GraftError(`${v.run} is a graph run: graft predict reads node runs; graft eval scores a graph run on its test split`);
    return evalGraphRun(saved as unknown as GraphRunConfig, cp, threads);
  }
  const prefix = saved.restoreBest ? 'best.' : 'model.';
  const weights = new Map([...cp.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t.data as Float32Array]));
  const ds = loadData({ ...saved, ...(v['data-dir'] ? { dataDir: v['data-dir'] } : {}) }, saved.seed);
  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  try {
    const { probs, pred } = await predictNodes(rt, ds, saved, weights);
    if (mode === 'eval') {
      const rep = classificationReport(ds.labels, pred, ds.split.test, ds.numClasses);
      console.log(JSON.stringify({
        dataset: ds.name, test_accuracy: accuracy(ds.labels, pred, ds.split.test), val_accuracy: accuracy(ds.labels, pred, ds.split.val),
        test_f1_micro: rep.f1.micro, test_f1_macro: rep.f1.macro, test_f1_weighted: rep.f1.weighted,
      }));
    } else {
      const file = resolve(v.out ?? join(v.run, 'predictions.csv'));
      writePredictions(file, ds, pred, probs);
      console.log(JSON.stringify({ predictions: file, nodes: ds.numNodes }));
    }
  } finally {
    await rt.close();
  }
}


/** What train --task graph writes to config.json that eval needs. */
interface GraphRunConfig extends Omit<GraphTrainConfig, 'hybrid' | 'task'> {
  data: string; smiles?: string; type: 'multilabel' | 'regression'; targets: string[]; split: 'random' | 'scaffold'; hybrid: boolean;
}

/** A graph run scored again from its checkpoint: the same split (seeded) and the same test figures. */
async function evalGraphRun(saved: GraphRunConfig, cp: Checkpoint, threads: number | undefined): Promise<void> {
  const ds = await loadMoleculeCsv(saved.data, { targets: saved.targets, task: saved.type, ...(saved.smiles ? { smiles: saved.smiles } : {}) });
  const { val, test } = moleculeSplit(ds, { split: saved.split, hybrid: saved.hybrid, config: saved });
  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  const c = saved;
  const config: GraphTrainConfig = {
    task: c.type, layers: c.layers, hidden: c.hidden, dropout: c.dropout, pool: c.pool, lr: c.lr, weightDecay: c.weightDecay, epochs: c.epochs,
    batchSize: c.batchSize, shardSize: c.shardSize, patience: c.patience, seed: c.seed,
  };
  const trainer = moleculeTrainer(rt, ds, config, c.hybrid);
  // The reported weights: the best validation epoch's (restored at the end of training) when there was one.
  const best = (JSON.parse(cp.metadata['early_stop'] ?? 'null') as { bestEpoch?: number } | null)?.bestEpoch ?? 0;
  const prefix = best > 0 && cp.tensors.has(`best.${trainer.master.params()[0]!.name}`) ? 'best.' : 'model.';
  try {
    for (const p of trainer.master.params()) {
      const t = cp.tensors.get(`${prefix}${p.name}`);
      if (!t || t.data.length !== p.value.size) throw new GraftError(`the checkpoint has no ${p.name} of ${p.value.size} values for this run's model (${t ? `${t.data.length} values` : 'missing'})`);
      (p.value.data() as Float32Array).set(t.data as Float32Array);
    }
    const { metrics } = await moleculeReport(trainer, ds, saved.type, val, test);
    console.log(JSON.stringify({ data: saved.data, split: saved.split, seed: saved.seed, ...metrics }));
  } finally {
    trainer.dispose();
    await rt.close();
  }
}
