import { readFileSync } from 'node:fs';
import type { ResumePoint } from '../../train/checkpoint.js';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { traceToFile } from '../../runtime/trace.js';
import { DataError } from '../../data/csv.js';
import type { NodeDataset } from '../../data/node-dataset.js';
import { dataInputFiles, dataPreprocess, loadRawData, type DataChoice } from '../../store/node-task.js';
import { applyPreprocess } from '../../graph/preprocess.js';
import { recordInputs } from '../../core/input-files.js';
import { GraftError } from '../../core/errors.js';
import { writeJsonAtomic } from '../../core/atomic-write.js';
import { Runtime } from '../../runtime/runtime.js';
import {
  checkNodeConfig,
  GAT_DEFAULTS,
  KIPF_DEFAULTS,
  predictNodes,
  splitMetrics,
  trainNodeClassifier,
  type NodeTrainConfig,
} from '../../train/node-trainer.js';
import { checkConfigKeys, choice, intAtLeast, joinNegativeValues, num } from '../args.js';
import { Progress, recoveredFaultLine } from '../progress.js';
import {
  DISTRIBUTED_OPTIONS,
  DISTRIBUTED_USAGE,
  runOnRanks,
  startDistributed,
  type Distributed,
} from '../distributed-flags.js';
import { bfsPartition, partDataset } from '../../graph/partition.js';
import { NODE_ORDER_CHOICES } from '../../graph/reorder.js';
import { NODE_MODEL_CHOICES } from '../../nn/node-models.js';
import { claimRunFolder, resumePoint, writeHistory } from '../run-folder.js';
import { trainSampledRun } from './train-sampled.js';
import { writePredictions } from '../node-predictions.js';

// `graft train` (node tasks): a GCN on a citation graph or the user's node CSVs; writes a run folder.

export const NODE_USAGE = `  graft train [--config FILE] [--dataset cora|citeseer|synthetic|synthetic-arxiv | --edges F --features F --labels F | --store FILE]
              [--sampler full|neighbor|cluster] [--fanouts 15,10,5] [--batch-size N] [--parts N] [--parts-per-batch K]
              [--model gcn|sage|gin|gat|gatv2] [--heads N] [--layers N] [--hidden N] [--dropout P] [--lr X] [--weight-decay X] [--epochs N]
              [--patience N] [--threads N] [--seed N] [--train-seed N] [--out DIR] [--resume | --overwrite] [--checkpoint-every N]
              [--data-dir DIR] [--no-normalize] [--feature-format auto|sparse|dense] [--node-order auto|rcm|input] [--quiet] [--trace FILE]
              ${DISTRIBUTED_USAGE}
              (distributed: each rank trains on one part of the graph, Cluster-GCN style; with --sampler neighbor|cluster,
               on its share of each epoch's batches, and --compress topk:R with sync sends the top R of the gradient entries)
              (--model gat|gatv2 changes the defaults to GAT's on Cora: --hidden 8 --heads 8 --dropout 0.6
               --lr 0.005 --epochs 400 --patience 100, weight decay on every layer)
              (--sampler neighbor|cluster: mini-batches of a graph store (graft prepare); --model sage (default) or gcn;
               --layers defaults to the number of fanouts; defaults --hidden 128 --lr 0.005 --weight-decay 0 --epochs 20)
              (--seed seeds the initial weights; --train-seed, the dropout masks (default: --seed): runs of one
               --seed and several --train-seed start alike and train apart, the members graft soup averages)`;

/** What `--config FILE` may set (flags win over it). */
const CONFIG_KEYS = [
  'dataset',
  'dataDir',
  'edges',
  'features',
  'labels',
  'noNormalize',
  'layers',
  'hidden',
  'dropout',
  'lr',
  'weightDecay',
  'weightDecayScope',
  'epochs',
  'patience',
  'seed',
  'trainSeed',
  'restoreBest',
  'featureFormat',
  'nodeOrder',
  'threads',
  'out',
  'model',
  'heads',
] as const;

export async function trainNode(argv: string[]): Promise<number> {
  const v = parseNodeArgs(argv);
  // Mini-batches of a graph store: train-sampled.ts; --sampler full keeps to this file's full-batch run.
  const sampler = choice(v.sampler, '--sampler', ['full', 'neighbor', 'cluster'] as const, 'full');
  if (sampler !== 'full') {
    const unused = [
      'config',
      'dataset',
      'edges',
      'features',
      'labels',
      'heads',
      'data-dir',
      'no-normalize',
      'feature-format',
      'node-order',
    ] as const;
    const given = unused.find((k) => v[k] !== undefined);
    if (given) throw new GraftError(`--${given} is not used with --sampler ${sampler} (the data is the --store's)`);
    return trainSampledRun(v);
  }
  for (const flag of ['fanouts', 'batch-size', 'parts', 'parts-per-batch', 'compress'] as const)
    if (v[flag] !== undefined) throw new GraftError(`--${flag} is for --sampler neighbor or cluster`);
  traceToFile(v.trace); // --trace FILE: the timeline, written when the process exits (runtime/trace.ts)
  const dist = v.distributed === undefined ? null : startDistributed(v);
  return dist ? runOnRanks(dist, () => trainNodeRun(v, dist)) : trainNodeRun(v, null);
}

function parseNodeArgs(argv: string[]) {
  // eslint-disable-line @typescript-eslint/explicit-function-return-type
  const { values } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      config: { type: 'string' },
      model: { type: 'string' },
      heads: { type: 'string' },
      dataset: { type: 'string' },
      edges: { type: 'string' },
      features: { type: 'string' },
      labels: { type: 'string' },
      layers: { type: 'string' },
      hidden: { type: 'string' },
      dropout: { type: 'string' },
      lr: { type: 'string' },
      'weight-decay': { type: 'string' },
      epochs: { type: 'string' },
      patience: { type: 'string' },
      threads: { type: 'string' },
      seed: { type: 'string' },
      'train-seed': { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      overwrite: { type: 'boolean' },
      'checkpoint-every': { type: 'string' },
      'data-dir': { type: 'string' },
      'no-normalize': { type: 'boolean' },
      'feature-format': { type: 'string' },
      'node-order': { type: 'string' },
      quiet: { type: 'boolean' },
      trace: { type: 'string' },
      store: { type: 'string' },
      sampler: { type: 'string' },
      fanouts: { type: 'string' },
      'batch-size': { type: 'string' },
      parts: { type: 'string' },
      'parts-per-batch': { type: 'string' },
      compress: { type: 'string' },
      ...DISTRIBUTED_OPTIONS,
    },
  });
  return values;
}

type NodeArgs = ReturnType<typeof parseNodeArgs>;

const MODEL_NAMES = { gcn: 'GCN', sage: 'GraphSAGE', gin: 'GIN', gat: 'GAT', gatv2: 'GATv2' } as const;

async function trainNodeRun(v: NodeArgs, dist: Distributed | null): Promise<number> {
  let file: Record<string, unknown> = {};
  if (v.config) {
    try {
      file = JSON.parse(readFileSync(v.config, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new DataError(v.config, 0, `cannot read the config: ${(err as Error).message}`);
    }
    checkConfigKeys(v.config, file, CONFIG_KEYS);
  }
  const pick = <T>(cli: T | undefined, key: string, fallback: T): T =>
    cli !== undefined ? cli : ((file[key] as T | undefined) ?? fallback);
  // The model picks the defaults: Kipf & Welling's for a GCN (and SAGE, GIN), Veličković et al.'s for GAT.
  const model = choice(v.model ?? (file['model'] as string | undefined), '--model', NODE_MODEL_CHOICES, 'gcn');
  const D = model === 'gat' || model === 'gatv2' ? GAT_DEFAULTS : KIPF_DEFAULTS;
  const config: NodeTrainConfig = {
    layers: pick(num(v.layers, '--layers', true), 'layers', D.layers),
    hidden: pick(num(v.hidden, '--hidden', true), 'hidden', D.hidden),
    dropout: pick(num(v.dropout, '--dropout'), 'dropout', D.dropout),
    lr: pick(num(v.lr, '--lr'), 'lr', D.lr),
    weightDecay: pick(num(v['weight-decay'], '--weight-decay'), 'weightDecay', D.weightDecay),
    weightDecayScope: pick(undefined, 'weightDecayScope', D.weightDecayScope),
    epochs: pick(num(v.epochs, '--epochs', true), 'epochs', D.epochs),
    patience: pick(num(v.patience, '--patience', true), 'patience', D.patience),
    seed: pick(num(v.seed, '--seed', true), 'seed', D.seed),
    restoreBest: pick(undefined, 'restoreBest', D.restoreBest),
    featureFormat: choice(
      v['feature-format'] ?? (file['featureFormat'] as string | undefined),
      '--feature-format',
      ['auto', 'sparse', 'dense'],
      D.featureFormat,
    ),
    nodeOrder: choice(
      v['node-order'] ?? (file['nodeOrder'] as string | undefined),
      '--node-order',
      NODE_ORDER_CHOICES,
      'auto',
    ),
    model,
  };
  // Left out of the config when not given, so a run without it records (and resumes) as before.
  const trainSeed = pick(num(v['train-seed'], '--train-seed', true), 'trainSeed', undefined as number | undefined);
  if (trainSeed !== undefined) config.trainSeed = trainSeed;
  if (model === 'gat' || model === 'gatv2') config.heads = pick(num(v.heads, '--heads', true), 'heads', D.heads!);
  else if (v.heads !== undefined || file['heads'] !== undefined)
    throw new GraftError(`--heads is for --model gat or gatv2 (attention heads), not ${model}`);
  checkNodeConfig(config);
  const data: DataChoice = {
    dataset: pick(v.dataset, 'dataset', 'cora'),
    dataDir: pick(v['data-dir'], 'dataDir', undefined),
    edges: pick(v.edges, 'edges', undefined),
    features: pick(v.features, 'features', undefined),
    labels: pick(v.labels, 'labels', undefined),
    normalize: !pick(v['no-normalize'], 'noNormalize', false),
    ...(v.store !== undefined ? { store: v.store, dataset: 'store' } : {}),
  };
  const threads = pick(num(v.threads, '--threads', true), 'threads', undefined as number | undefined);
  if (threads !== undefined && threads < 1) throw new GraftError(`--threads must be at least 1, got ${threads}`);
  const checkpointEvery = intAtLeast(v['checkpoint-every'], '--checkpoint-every', 10, 1, 'epoch');
  const out = resolve(pick(v.out, 'out', join('runs', `${data.dataset}-seed${config.seed}`)));
  // Read raw, then preprocessed by the steps every model file of the run records.
  const full = loadRawData(data, config.seed);
  const preprocess = dataPreprocess(data);
  applyPreprocess(preprocess, full.features, full.numNodes, full.numFeatures);
  // Distributed: every rank partitions the same graph the same way and trains on its part; rank 0 alone writes the run folder.
  const lead = dist === null || dist.rank === 0;
  const inputs = lead ? await recordInputs(dataInputFiles(data)) : {};
  const partition = dist ? bfsPartition(full.numNodes, full.src, full.dst, dist.ranks) : null;
  const ds = dist ? partDataset(full, partition!, dist.rank).data : full;
  const release = lead
    ? claimRunFolder(out, { command: 'graft train', overwrite: v.overwrite === true, resume: v.resume === true })
    : () => {};
  const checkpoint = join(out, 'checkpoint.safetensors');
  let resumeFrom: ResumePoint | null = null;
  try {
    resumeFrom = v.resume ? resumePoint(checkpoint, 'graft train') : null;
    // Another --model would not load the checkpoint's weights: said in the flags' terms, before any work.
    const was = resumeFrom
      ? String((JSON.parse(resumeFrom.checkpoint.metadata['config'] ?? '{}') as { model?: string }).model ?? 'gcn')
      : model;
    if (was !== model)
      throw new GraftError(
        `--resume: ${resumeFrom!.file} is of a ${was} run, not --model ${model} (resume with --model ${was}, or start anew with --overwrite)`,
      );
  } catch (err) {
    release();
    throw err;
  }
  const rt = await Runtime.create(threads === undefined ? {} : { threads }).catch((err: unknown) => {
    release();
    throw err;
  });
  try {
    // Data paths absolute, so graft eval and graft explain find them from any working directory.
    const files = Object.fromEntries(
      (['edges', 'features', 'labels', 'dataDir', 'store'] as const)
        .filter((k) => data[k] !== undefined)
        .map((k) => [k, resolve(data[k]!)]),
    );
    const saved = {
      task: 'node',
      ...data,
      ...files,
      ...config,
      threads: rt.threads,
      backend: rt.backendKind,
      num_nodes: full.numNodes,
      num_features: full.numFeatures,
      num_classes: full.numClasses,
      ...(full.classNames ? { class_names: full.classNames } : {}),
      ...(full.featureNames ? { feature_names: full.featureNames } : {}),
      preprocess: { features: preprocess },
      inputs,
    };
    if (lead)
      writeJsonAtomic(join(out, 'config.json'), {
        ...saved,
        ...(dist ? { distributed: distributedConfig(v, dist) } : {}),
      });
    if (dist && lead && !v.quiet)
      console.error(
        `graft train: ${dist.ranks} ranks, ${dist.sync.stats.mode}; the graph cut into ${dist.ranks} parts in breadth-first order (${partition!.cutEdges} of ${partition!.edges} edges between parts, dropped); rank 0 has ${ds.numNodes} nodes`,
      );
    if (lead && !v.quiet)
      console.error(
        `graft: training a ${config.layers}-layer ${MODEL_NAMES[model]} on ${ds.name} (${ds.numNodes} nodes, ${ds.src.length} edges) with ${rt.threads} threads, ${rt.backendKind} kernels${resumeFrom ? `, resuming from ${resumeFrom.file}` : ''}`,
      );
    const warnings =
      ds.src.length === 0
        ? [`${ds.name}: the graph has no edges; each node sees only its own features (the GCN is a per-node MLP)`]
        : [];
    if (lead) for (const w of warnings) console.error(`graft train: warning: ${w}`);
    const progress = new Progress(config.epochs, !v.quiet && lead);
    // Ctrl-C ends the epoch under way, writes a checkpoint there and exits 130; --resume continues.
    let sigint = false;
    const onSigint = (): void => {
      sigint = true;
    };
    // Distributed, a rank stopping on its own at Ctrl-C would leave the others waiting in a
    // collective: there the signal keeps its default and ends the job.
    if (!dist) process.once('SIGINT', onSigint);
    const r = await trainNodeClassifier(rt, ds, config, {
      ...(lead ? { checkpointPath: checkpoint, checkpointEvery } : {}),
      ...(dist ? {} : { interrupted: () => sigint }),
      ...(dist
        ? {
            distributed: {
              sync: dist.sync,
              sum: (a: Float32Array) => dist.mpi.allreduceOrdered(a, 0),
              validateEvery: dist.sync.validationPeriod,
            },
          }
        : {}),
      faults: { onFault: (f) => console.error(recoveredFaultLine('graft train', f)) },
      preprocess,
      // Distributed, epochs between validations have no validation figures (NaN): they are not shown.
      onEpoch: (e) => {
        if (!Number.isNaN(e.val_loss))
          progress.tick(e.epoch, { loss: e.train_loss, val_loss: e.val_loss, val_acc: e.val_accuracy });
      },
      ...(resumeFrom ? { resumeFrom } : {}),
    }).finally(() => process.removeListener('SIGINT', onSigint));
    progress.end();
    if (r.interrupted) {
      console.error(
        `graft train: interrupted after epoch ${r.stoppedEpoch}; checkpoint written to ${checkpoint}; continue with the same command and --resume`,
      );
      return 130;
    }
    if (!lead) return 0;
    // Distributed: the reported weights (the same on every rank) scored on the whole graph, every edge back.
    const scored = dist ? await predictNodes(rt, full, config, r.weights) : null;
    const predictions = scored ? scored.pred : r.predictions;
    const metrics = scored ? { ...r.metrics, ...wholeGraphMetrics(full, scored.pred, scored.probs) } : r.metrics;
    const distributed = dist
      ? {
          ...dist.sync.stats,
          bytes_sent_per_rank: dist.sync.stats.bytesSent,
          parts: partition!.parts,
          cut_edges: partition!.cutEdges,
          edges: partition!.edges,
        }
      : null;
    await writeHistory(out, r.history as unknown as Record<string, number>[]);
    writeJsonAtomic(join(out, 'metrics.json'), {
      dataset: full.name,
      seed: config.seed,
      threads: rt.threads,
      sparse_features: r.sparseFeatures,
      ...metrics,
      snapshot_ms: r.snapshot.snapshotMs,
      snapshot_bytes: r.snapshot.bytes,
      worker_faults: r.snapshot.faults.length,
      ...(warnings.length ? { warnings } : {}),
      ...(distributed ? { distributed } : {}),
    });
    writePredictions(join(out, 'predictions.csv'), full, predictions);
    console.log(
      JSON.stringify({
        dataset: full.name,
        seed: config.seed,
        test_accuracy: metrics['test_accuracy'],
        best_epoch: r.bestEpoch,
        epochs_run: r.stoppedEpoch,
        ...(distributed ? { distributed } : {}),
        out,
      }),
    );
    return 0;
  } finally {
    await rt.close();
    release();
  }
}

/**
 * The figures trainNodeClassifier reports, on the whole graph's splits (a distributed run
 * trained, and first scored, on its rank's part), the validation cross-entropy taken from the
 * class probabilities.
 */
function wholeGraphMetrics(ds: NodeDataset, pred: Int32Array, probs: Float32Array): Record<string, number> {
  let ce = 0;
  for (const i of ds.split.val) ce -= Math.log(Math.max(probs[i * ds.numClasses + ds.labels[i]!]!, 1e-30));
  return splitMetrics(ds, pred, ce / Math.max(1, ds.split.val.length));
}

/** What config.json records of a distributed run. */
function distributedConfig(v: NodeArgs, dist: Distributed): Record<string, unknown> {
  return {
    mode: dist.sync.stats.mode,
    ranks: dist.ranks,
    ranks_per_node: dist.sync.stats.ranksPerNode,
    flags: {
      k: v.k ?? null,
      local_k: v['local-k'] ?? null,
      global_k: v['global-k'] ?? null,
      block_momentum: v['block-momentum'] ?? null,
    },
  };
}
