import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GraftError } from '../core/errors.js';
import { Runtime } from '../runtime/runtime.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { accuracy, classificationReport } from '../train/metrics.js';
import { predictNodes, type NodeTrainConfig } from '../train/node-trainer.js';
import { num, joinNegativeValues } from './args.js';
import { loadData, writePredictions, type DataChoice } from './train.js';

// `graft eval` and `graft predict`: a node run folder's checkpoint, on its data again.

export const EVAL_USAGE = `  graft eval --run DIR [--threads N]
  graft predict --run DIR [--out FILE] [--threads N]`;

export async function fromRun(argv: string[], mode: 'eval' | 'predict'): Promise<void> {
  const { values: v } = parseArgs({ args: joinNegativeValues(argv), strict: true, options: { run: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' }, 'data-dir': { type: 'string' } } });
  if (!v.run) throw new GraftError(`--run DIR (a folder written by graft train) is required`);
  const cfgFile = join(v.run, 'config.json');
  if (!existsSync(cfgFile)) throw new GraftError(`${cfgFile} not found (is ${v.run} a run folder?)`);
  const saved = JSON.parse(readFileSync(cfgFile, 'utf8')) as NodeTrainConfig & DataChoice;
  const cp = loadCheckpoint(join(v.run, 'checkpoint.safetensors'));
  const prefix = saved.restoreBest ? 'best.' : 'model.';
  const weights = new Map([...cp.tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t.data as Float32Array]));
  const ds = loadData({ ...saved, ...(v['data-dir'] ? { dataDir: v['data-dir'] } : {}) }, saved.seed);
  const threads = num(v.threads, '--threads', true);
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

