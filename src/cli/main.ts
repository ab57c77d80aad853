#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DataError } from '../data/csv.js';
import { sharedDataDir } from '../data/locate.js';
import { loadNodeCsv, loadPlanetoid, rowNormalize, type NodeDataset } from '../data/node-dataset.js';
import { plantedPartition } from '../data/synthetic.js';
import { num } from './args.js';
import { GraftError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { Runtime } from '../runtime/runtime.js';
import { loadCheckpoint } from '../train/checkpoint.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { accuracy, classificationReport } from '../train/metrics.js';
import { checkNodeConfig, KIPF_DEFAULTS, predictNodes, trainNodeClassifier, type NodeTrainConfig } from '../train/node-trainer.js';
import { writeHistory } from './run-folder.js';
import { ensureDir, writeJsonAtomic } from '../core/atomic-write.js';
import { Progress } from './progress.js';
import { generateGp, gp, gpDemo, GP_USAGE } from './gp.js';
import { GRAPH_USAGE, trainGraphTask } from './train-graph.js';

const USAGE = `graft: graph convolutional networks on CPUs

Usage:
  graft train [--config FILE] [--dataset cora|citeseer|synthetic | --edges F --features F --labels F]
              [--layers N] [--hidden N] [--dropout P] [--lr X] [--weight-decay X] [--epochs N]
              [--patience N] [--threads N] [--seed N] [--out DIR] [--resume] [--checkpoint-every N]
              [--data-dir DIR] [--no-normalize] [--quiet]
${GRAPH_USAGE}
  graft eval --run DIR [--threads N]
  graft predict --run DIR [--out FILE] [--threads N]
${GP_USAGE}
  graft demo [gp options]  (what npm start runs: genomic prediction on wheat, or the synthetic set)
  graft demo-cora          (the node-classification demo: Cora, or a planted-partition graph)

A run folder holds config.json, epochs.csv/json, metrics.json, loss.svg, metrics.svg,
checkpoint.safetensors and predictions.csv.`;

interface DataChoice { dataset: string; edges?: string; features?: string; labels?: string; dataDir?: string; normalize: boolean }

function loadData(c: DataChoice, seed: number): NodeDataset {
  if (c.edges || c.features || c.labels) {
    if (!c.edges || !c.features || !c.labels) throw new GraftError('graft train: --edges, --features and --labels go together');
    const ds = loadNodeCsv({ edges: c.edges, features: c.features, labels: c.labels });
    if (!ds.splitGiven) {
      // No split column: a seeded 60/20/20 split of the labelled nodes.
      const labelled = Array.from(ds.labels.keys()).filter((i) => ds.labels[i]! >= 0);
      new Rng(seed).shuffle(labelled);
      const a = Math.round(labelled.length * 0.6), b = Math.round(labelled.length * 0.8);
      const sorted = (xs: number[]): Int32Array => Int32Array.from(xs).sort();
      ds.split = { train: sorted(labelled.slice(0, a)), val: sorted(labelled.slice(a, b)), test: sorted(labelled.slice(b)) };
    }
    if (c.normalize) rowNormalize(ds);
    return ds;
  }
  if (c.dataset === 'synthetic') return plantedPartition({ seed: 7 });
  const dir = sharedDataDir(c.dataDir);
  if (!dir) throw new GraftError(`graft: data set '${c.dataset}' needs the shared data folder (../shared/data, GRAFT_DATA or --data-dir); none found`);
  const ds = loadPlanetoid(join(dir, 'planetoid'), c.dataset);
  if (c.normalize) rowNormalize(ds);
  return ds;
}


async function train(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true, options: {
      config: { type: 'string' }, dataset: { type: 'string' }, edges: { type: 'string' }, features: { type: 'string' }, labels: { type: 'string' },
      layers: { type: 'string' }, hidden: { type: 'string' }, dropout: { type: 'string' }, lr: { type: 'string' },
      'weight-decay': { type: 'string' }, epochs: { type: 'string' }, patience: { type: 'string' }, threads: { type: 'string' },
      seed: { type: 'string' }, out: { type: 'string' }, resume: { type: 'boolean' }, 'checkpoint-every': { type: 'string' },
      'data-dir': { type: 'string' }, 'no-normalize': { type: 'boolean' }, quiet: { type: 'boolean' },
    },
  });
  let file: Record<string, unknown> = {};
  if (v.config) {
    try {
      file = JSON.parse(readFileSync(v.config, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new DataError(v.config, 0, `cannot read the config: ${(err as Error).message}`);
    }
  }
  const pick = <T>(cli: T | undefined, key: string, fallback: T): T => (cli !== undefined ? cli : (file[key] as T | undefined) ?? fallback);
  const config: NodeTrainConfig = {
    layers: pick(num(v.layers, '--layers', true), 'layers', KIPF_DEFAULTS.layers),
    hidden: pick(num(v.hidden, '--hidden', true), 'hidden', KIPF_DEFAULTS.hidden),
    dropout: pick(num(v.dropout, '--dropout'), 'dropout', KIPF_DEFAULTS.dropout),
    lr: pick(num(v.lr, '--lr'), 'lr', KIPF_DEFAULTS.lr),
    weightDecay: pick(num(v['weight-decay'], '--weight-decay'), 'weightDecay', KIPF_DEFAULTS.weightDecay),
    weightDecayScope: pick(undefined, 'weightDecayScope', KIPF_DEFAULTS.weightDecayScope),
    epochs: pick(num(v.epochs, '--epochs', true), 'epochs', KIPF_DEFAULTS.epochs),
    patience: pick(num(v.patience, '--patience', true), 'patience', KIPF_DEFAULTS.patience),
    seed: pick(num(v.seed, '--seed', true), 'seed', KIPF_DEFAULTS.seed),
    restoreBest: pick(undefined, 'restoreBest', KIPF_DEFAULTS.restoreBest),
  };
  checkNodeConfig(config);
  const data: DataChoice = {
    dataset: pick(v.dataset, 'dataset', 'cora'), dataDir: pick(v['data-dir'], 'dataDir', undefined),
    edges: pick(v.edges, 'edges', undefined), features: pick(v.features, 'features', undefined), labels: pick(v.labels, 'labels', undefined),
    normalize: !pick(v['no-normalize'], 'noNormalize', false),
  };
  const threads = pick(num(v.threads, '--threads', true), 'threads', undefined as number | undefined);
  const out = resolve(pick(v.out, 'out', join('runs', `${data.dataset}-seed${config.seed}`)));
  const ds = loadData(data, config.seed);
  ensureDir(out);
  const checkpoint = join(out, 'checkpoint.safetensors');
  const resumeFrom = v.resume && existsSync(checkpoint) ? checkpoint : undefined;
  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  try {
    const saved = { task: 'node', ...data, ...config, threads: rt.threads, backend: rt.backendKind, num_nodes: ds.numNodes, num_features: ds.numFeatures, num_classes: ds.numClasses };
    writeJsonAtomic(join(out, 'config.json'), saved);
    if (!v.quiet) console.error(`graft: training a ${config.layers}-layer GCN on ${ds.name} (${ds.numNodes} nodes, ${ds.src.length} edges) with ${rt.threads} threads, ${rt.backendKind} kernels${resumeFrom ? `, resuming from ${resumeFrom}` : ''}`);
    const progress = new Progress(config.epochs, !v.quiet);
    const r = await trainNodeClassifier(rt, ds, config, { checkpointPath: checkpoint, checkpointEvery: num(v['checkpoint-every'], '--checkpoint-every', true) ?? 10, onEpoch: (e) => progress.tick(e.epoch, { loss: e.train_loss, val_loss: e.val_loss, val_acc: e.val_accuracy }), ...(resumeFrom ? { resumeFrom } : {}) });
    progress.end();
    writeHistory(out, r.history as unknown as Record<string, number>[]);
    writeJsonAtomic(join(out, 'metrics.json'), { dataset: ds.name, seed: config.seed, threads: rt.threads, ...r.metrics });
    writePredictions(join(out, 'predictions.csv'), ds, r.predictions);
    console.log(JSON.stringify({ dataset: ds.name, seed: config.seed, test_accuracy: r.metrics['test_accuracy'], best_epoch: r.bestEpoch, epochs_run: r.stoppedEpoch, out }));
  } finally {
    await rt.close();
  }
}

function writePredictions(file: string, ds: NodeDataset, pred: Int32Array, probs?: Float32Array): void {
  const c = ds.numClasses;
  const head = ['id', 'predicted', 'label', 'split', ...(probs ? Array.from({ length: c }, (_, j) => `p${j}`) : [])];
  const split = new Map<number, string>();
  for (const s of ['train', 'val', 'test'] as const) for (const i of ds.split[s]) split.set(i, s);
  const lines = [head.join(',')];
  for (let i = 0; i < ds.numNodes; i++) {
    const row = [JSON.stringify(ds.ids[i]), pred[i], ds.labels[i]! >= 0 ? ds.labels[i] : '', split.get(i) ?? ''];
    if (probs) for (let j = 0; j < c; j++) row.push(probs[i * c + j]!.toPrecision(5));
    lines.push(row.join(','));
  }
  writeFileAtomic(file, lines.join('\n') + '\n');
}

async function fromRun(argv: string[], mode: 'eval' | 'predict'): Promise<void> {
  const { values: v } = parseArgs({ args: argv, strict: true, options: { run: { type: 'string' }, out: { type: 'string' }, threads: { type: 'string' }, 'data-dir': { type: 'string' } } });
  if (!v.run) throw new GraftError(`graft ${mode}: --run DIR (a folder written by graft train) is required`);
  const cfgFile = join(v.run, 'config.json');
  if (!existsSync(cfgFile)) throw new GraftError(`graft ${mode}: ${cfgFile} not found (is ${v.run} a run folder?)`);
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

async function demoCora(): Promise<void> {
  const dir = sharedDataDir();
  const dataset = dir && existsSync(join(dir, 'planetoid', 'cora.json')) ? 'cora' : 'synthetic';
  if (dataset === 'synthetic') console.error('graft demo: ../shared/data not found; training on a generated planted-partition graph instead');
  await train(['--dataset', dataset, '--seed', '1', '--out', join('runs', `demo-${dataset}`)]);
}

export async function main(argv = process.argv.slice(2)): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'train': {
        const at = rest.indexOf('--task');
        const task = at >= 0 ? rest[at + 1] : rest.find((a) => a.startsWith('--task='))?.slice(7);
        if (task === 'graph') await trainGraphTask(rest);
        else if (task === undefined || task === 'node') await train(rest.filter((a, i) => (at < 0 || (i !== at && i !== at + 1)) && !a.startsWith('--task=')));
        else throw new GraftError(`graft train: --task must be 'node' or 'graph', got ${JSON.stringify(task)}`);
        break;
      }
      case 'eval': await fromRun(rest, 'eval'); break;
      case 'predict': await fromRun(rest, 'predict'); break;
      case 'gp': await gp(rest); break;
      case 'generate-gp': generateGp(rest); break;
      case 'demo': await gpDemo(rest); break;
      case 'demo-cora': await demoCora(); break;
      case undefined: case '-h': case '--help': case 'help': console.log(USAGE); return cmd === undefined ? 1 : 0;
      default: console.error(`graft: unknown command ${JSON.stringify(cmd)}\n\n${USAGE}`); return 1;
    }
    return 0;
  } catch (err) {
    const e = err as Error;
    const known = e instanceof GraftError || e instanceof TypeError || e instanceof RangeError || (e as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    console.error(`graft ${cmd}: ${known ? e.message : e.stack ?? e.message}`);
    return 2;
  }
}

main().then((code) => { process.exitCode = code; });
