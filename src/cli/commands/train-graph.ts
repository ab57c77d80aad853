import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { traceToFile } from '../../runtime/trace.js';
import { choice, intAtLeast, joinNegativeValues, num } from '../args.js';
import { GraftError } from '../../core/errors.js';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import { bondFeatureCount, featurizerName, featurizerRecord } from '../../chem/featurize.js';
import { EDGE_FEATURE_MODELS, GRAPH_GAT_DEFAULT_HEADS, GRAPH_MODEL_CHOICES } from '../../nn/task-models.js';
import { preprocessMetadata } from '../../graph/preprocess.js';
import { FINGERPRINTS_FILE, predictionsCsv, saveTrainFingerprints, type PredictionRow } from '../../chem/graph-run.js';
import { fingerprintOf, FingerprintSet, packedFingerprints } from '../../chem/similarity.js';
import { recordInputs } from '../../core/input-files.js';
import { OVERSAMPLERS } from '../../chem/imbalance.js';
import { MOLECULE_DESCRIPTORS } from '../../chem/descriptors.js';
import { HYBRID_INPUTS, hybridInputWidth, MOLECULE_DEFAULTS, trainMoleculeTask } from '../../chem/train-molecules.js';
import { LR_SCHEDULES } from '../../train/lr-schedule.js';
import { POOL_MODES } from '../../ops/pooling.js';
import { Runtime } from '../../runtime/runtime.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import type { GraphTrainConfig } from '../../train/graph-trainer.js';
import { saveCheckpointKeepingPrevious, type Checkpoint } from '../../train/checkpoint.js';
import { Progress, recoveredFaultLine } from '../progress.js';
import { claimRunFolder, resumePoint, writeHistory } from '../run-folder.js';
import { writeJsonAtomic } from '../../core/atomic-write.js';
import {
  DISTRIBUTED_OPTIONS,
  DISTRIBUTED_USAGE,
  runOnRanks,
  startDistributed,
  type Distributed,
} from '../distributed-flags.js';

export const GRAPH_USAGE = `  graft train --task graph --data FILE.csv [--smiles COLUMN] [--targets a,b,c|all]
              [--type multilabel|regression] [--split random|scaffold]
              [--oversample none|mlros|mlsmote|lpros] [--oversample-fraction 0.25] [--hybrid]
              [--hybrid-inputs fingerprint|descriptors|both] [--lr-schedule constant|noam]
              [--invalid skip|fail] [--select-by auc|loss] [--model gcn|sage|gin|gine|gat|gatv2|dmpnn]
              [--atom-features default|chemprop] [--heads 4] [--layers 3] [--hidden 128] [--dropout 0.1] [--pool max|mean|sum]
              [--lr 0.001] [--weight-decay 0] [--epochs 150] [--batch-size 64] [--shard-size 32]
              [--patience 15] [--seed 1] [--train-seed N] [--threads N] [--out DIR] [--resume | --overwrite] [--checkpoint-every 10]
              [--no-cache] [--quiet] [--trace FILE]
              ${DISTRIBUTED_USAGE}
              (--seed seeds the split and the initial weights; --train-seed, the batch order and dropout
               (default: --seed): runs of one --seed and several --train-seed are members graft soup averages)
              (--atom-features chemprop: Chemprop's 133 atom and 14 bond columns, which --model gine and dmpnn
               need; --model dmpnn is Chemprop's D-MPNN: --layers is its depth, defaults --hidden 300
               --dropout 0 --pool mean; --heads: GAT and GATv2 heads, sharing --hidden)
              (--hybrid-inputs: what the hybrid's dense branch reads: the 1024-bit Morgan fingerprint, RDKit's
               43 2D descriptors standardized on the training split, or both; --lr-schedule noam: Chemprop's
               warm-up over 2 epochs from --lr/10 to --lr, then exponential decay to --lr/10 at the last epoch)`;

/** `graft train --task graph`: molecules (SMILES) to many labels at once; writes a run folder. */
export async function trainGraphTask(argv: string[]): Promise<number> {
  const v = parseGraphArgs(argv);
  traceToFile(v.trace); // --trace FILE: the timeline, written when the process exits (runtime/trace.ts)
  const dist = v.distributed === undefined ? null : startDistributed(v);
  return dist ? runOnRanks(dist, () => trainGraphRun(v, dist)) : trainGraphRun(v, null);
}

function parseGraphArgs(argv: string[]) {
  // eslint-disable-line @typescript-eslint/explicit-function-return-type
  const { values } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      task: { type: 'string' },
      model: { type: 'string' },
      'atom-features': { type: 'string' },
      heads: { type: 'string' },
      data: { type: 'string' },
      smiles: { type: 'string' },
      targets: { type: 'string' },
      type: { type: 'string' },
      split: { type: 'string' },
      oversample: { type: 'string' },
      'oversample-fraction': { type: 'string' },
      hybrid: { type: 'boolean' },
      'hybrid-inputs': { type: 'string' },
      'lr-schedule': { type: 'string' },
      invalid: { type: 'string' },
      layers: { type: 'string' },
      hidden: { type: 'string' },
      dropout: { type: 'string' },
      pool: { type: 'string' },
      lr: { type: 'string' },
      'weight-decay': { type: 'string' },
      epochs: { type: 'string' },
      'batch-size': { type: 'string' },
      'shard-size': { type: 'string' },
      patience: { type: 'string' },
      seed: { type: 'string' },
      'train-seed': { type: 'string' },
      threads: { type: 'string' },
      out: { type: 'string' },
      'no-cache': { type: 'boolean' },
      overwrite: { type: 'boolean' },
      'select-by': { type: 'string' },
      quiet: { type: 'boolean' },
      resume: { type: 'boolean' },
      'checkpoint-every': { type: 'string' },
      trace: { type: 'string' },
      ...DISTRIBUTED_OPTIONS,
    },
  });
  return values;
}

type GraphArgs = ReturnType<typeof parseGraphArgs>;

async function trainGraphRun(v: GraphArgs, dist: Distributed | null): Promise<number> {
  const model = choice(v.model, '--model', GRAPH_MODEL_CHOICES, 'gcn');
  const atomFeatures = choice(v['atom-features'], '--atom-features', ['default', 'chemprop'], 'default');
  const featureSet = atomFeatures === 'chemprop' ? 'chemprop' : 'graft';
  // Combinations the model cannot be built from are refused before any work, by flag name.
  if (EDGE_FEATURE_MODELS.includes(model) && featureSet !== 'chemprop')
    throw new GraftError(
      `--model ${model} reads bond features, and --atom-features ${atomFeatures} has none: add --atom-features chemprop`,
    );
  if (v.heads !== undefined && model !== 'gat' && model !== 'gatv2')
    throw new GraftError(`--heads is for --model gat or gatv2 (attention heads), not --model ${model}`);
  if (!v.data) throw new GraftError('--data FILE.csv is required');
  const type = choice(v.type, '--type', ['multilabel', 'regression'], 'multilabel');
  const split = choice(v.split, '--split', ['random', 'scaffold'], 'random');
  const oversample = choice(v.oversample, '--oversample', OVERSAMPLERS, 'none');
  const invalid = choice(v.invalid, '--invalid', ['skip', 'fail'], 'skip');
  const selectBy = choice(v['select-by'], '--select-by', ['auc', 'loss'], 'auc');
  const hybridInputs = choice(v['hybrid-inputs'], '--hybrid-inputs', HYBRID_INPUTS, 'fingerprint');
  if (v['hybrid-inputs'] !== undefined && !v.hybrid)
    throw new GraftError(
      `--hybrid-inputs ${hybridInputs} is what the --hybrid model's dense branch reads: add --hybrid`,
    );
  const lrSchedule = choice(v['lr-schedule'], '--lr-schedule', LR_SCHEDULES, 'constant');
  // D-MPNN takes Chemprop's defaults (hidden 300, no dropout, mean readout) where not given.
  const dmpnn = model === 'dmpnn';
  const pool = choice(v.pool, '--pool', POOL_MODES, dmpnn ? 'mean' : MOLECULE_DEFAULTS.pool);
  if (dmpnn && pool === 'max') throw new GraftError("--pool max: --model dmpnn's readout is mean or sum");
  const config: GraphTrainConfig = {
    task: type,
    // Left out for a GCN, so a GCN run records (and resumes) as before the choice.
    ...(model !== 'gcn' ? { model } : {}),
    pool,
    layers: num(v.layers, '--layers', true) ?? MOLECULE_DEFAULTS.layers,
    hidden: num(v.hidden, '--hidden', true) ?? (dmpnn ? 300 : MOLECULE_DEFAULTS.hidden),
    dropout: num(v.dropout, '--dropout') ?? (dmpnn ? 0 : MOLECULE_DEFAULTS.dropout),
    lr: num(v.lr, '--lr') ?? MOLECULE_DEFAULTS.lr,
    weightDecay: num(v['weight-decay'], '--weight-decay') ?? MOLECULE_DEFAULTS.weightDecay,
    epochs: num(v.epochs, '--epochs', true) ?? MOLECULE_DEFAULTS.epochs,
    batchSize: num(v['batch-size'], '--batch-size', true) ?? MOLECULE_DEFAULTS.batchSize,
    shardSize: num(v['shard-size'], '--shard-size', true) ?? MOLECULE_DEFAULTS.shardSize,
    patience: num(v.patience, '--patience', true) ?? MOLECULE_DEFAULTS.patience,
    seed: num(v.seed, '--seed', true) ?? MOLECULE_DEFAULTS.seed,
    // Left out when constant, so such runs record (and resume) as before the choice.
    ...(lrSchedule !== 'constant' ? { lrSchedule } : {}),
  };
  if (model === 'gat' || model === 'gatv2') {
    const heads = num(v.heads, '--heads', true) ?? GRAPH_GAT_DEFAULT_HEADS;
    if (heads < 1 || config.hidden % heads !== 0)
      throw new GraftError(`--heads ${heads} must divide --hidden ${config.hidden} (the heads share its columns)`);
    config.heads = heads;
  }
  if (EDGE_FEATURE_MODELS.includes(model)) config.edgeFeatures = bondFeatureCount(featureSet);
  // Left out of the config when not given, so a run without it records (and resumes) as before.
  const trainSeed = num(v['train-seed'], '--train-seed', true);
  if (trainSeed !== undefined) config.trainSeed = trainSeed;
  const threads = num(v.threads, '--threads', true);
  if (threads !== undefined && threads < 1) throw new GraftError(`--threads must be at least 1, got ${threads}`);
  const oversampleFraction = num(v['oversample-fraction'], '--oversample-fraction') ?? 0.25;
  const checkpointEvery = intAtLeast(v['checkpoint-every'], '--checkpoint-every', 10, 1, 'epoch');
  if (v.resume && v.overwrite) throw new GraftError('--resume and --overwrite exclude each other');
  const name = v.data.replace(/^.*\//, '').replace(/\.csv(\.gz)?$/, '');
  const variant = `${model !== 'gcn' ? `-${model}` : ''}${featureSet === 'chemprop' ? '-chemprop' : ''}`;
  const out = resolve(
    v.out ?? join('runs', `${name}-${split}-${oversample}${v.hybrid ? '-hybrid' : ''}${variant}-seed${config.seed}`),
  );
  // Distributed, rank 0 speaks and writes the run folder; the other ranks train quietly.
  const lead = dist === null || dist.rank === 0;
  const quiet = v.quiet === true || !lead;
  const log = quiet ? () => {} : (s: string) => console.error(`graft: ${s}`);
  const t0 = performance.now();
  const ds = await loadMoleculeCsv(v.data, {
    targets: v.targets === undefined || v.targets === 'all' ? 'all' : v.targets.split(',').map((s) => s.trim()),
    task: type,
    invalid,
    cacheDir: v['no-cache'] ? null : undefined,
    atomFeatures: featureSet,
    ...(v.smiles ? { smiles: v.smiles } : {}),
  });
  log(
    `${v.data}: ${ds.graphs.length} molecules, ${ds.targets.length} targets${
      ds.invalid.length
        ? `; ${ds.invalid.length} invalid SMILES skipped (lines ${ds.invalid
            .slice(0, 5)
            .map((r) => r.line)
            .join(', ')}${ds.invalid.length > 5 ? ', …' : ''})`
        : ''
    }; ${ds.fromCache ? 'featurized graphs from the cache' : 'featurized with RDKit'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  // A label with no positive (or no negative) example cannot be learned or scored: say so.
  const warnings: string[] = [];
  if (type === 'multilabel') {
    const T = ds.targets.length;
    ds.targets.forEach((name, t) => {
      let pos = 0,
        neg = 0;
      for (let i = 0; i < ds.graphs.length; i++) {
        const y = ds.y[i * T + t]!;
        if (y === 1) pos++;
        else if (y === 0) neg++;
      }
      if (pos === 0 || neg === 0)
        warnings.push(
          `label '${name}' has ${pos === 0 ? 'no positive' : 'no negative'} example (${pos + neg} labelled molecules): its ROC-AUC is undefined and it is left out of the means`,
        );
    });
  }
  if (lead) for (const w of warnings) console.error(`graft train: warning: ${w}`);
  // Claimed before training (so a concurrent run into the same folder is refused), written
  // only once training has succeeded; a folder the claim made is removed if the run fails.
  const release = lead
    ? claimRunFolder(out, {
        command: 'graft train --task graph',
        overwrite: v.overwrite === true,
        resume: v.resume === true,
      })
    : () => {};
  // What else decides the run besides the trainer's config (which the trainer checks itself).
  const settings = {
    data: resolve(v.data),
    smiles: v.smiles ?? null,
    type,
    targets: ds.targets,
    split,
    oversample,
    oversample_fraction: oversampleFraction,
    hybrid: !!v.hybrid,
    // Recorded for hybrids only, so other runs record (and resume) as before the choice.
    ...(v.hybrid ? { hybrid_inputs: hybridInputs } : {}),
    select_by: selectBy,
    atom_features: atomFeatures,
  };
  const checkpointFile = join(out, 'checkpoint.safetensors');
  // How the molecules became the model's inputs, in the checkpoint itself (as node runs record
  // their row normalization), so export and quantize stamp the run's featurizer, not their own.
  const featurizer = featurizerRecord(!!v.hybrid, featureSet);
  if (v.hybrid) featurizer.descriptors = hybridInputWidth(hybridInputs);
  const preprocessed = preprocessMetadata({ features: [], featurizer });
  // The data file's SHA-256, so graft predict and eval refuse it once it has changed.
  const inputs = lead
    ? await recordInputs({ data: v.data }).catch((err: unknown) => {
        release();
        throw err;
      })
    : {};
  let resume: { checkpoint: Checkpoint; file: string } | undefined;
  try {
    const found = v.resume ? resumePoint(checkpointFile, 'graft train') : null;
    if (found) {
      const before = JSON.parse(found.checkpoint.metadata['settings'] ?? '{}') as Record<string, unknown>;
      // Runs from before --atom-features recorded none: they had the default features.
      before['atom_features'] ??= 'default';
      before['hybrid_inputs'] ??= 'fingerprint';
      const differs = Object.keys(settings).filter(
        (k) => JSON.stringify(before[k]) !== JSON.stringify((settings as Record<string, unknown>)[k]),
      );
      if (differs.length)
        throw new GraftError(
          `${found.file}: cannot resume: the run was started with other settings (${differs.map((k) => `${k}: ${JSON.stringify(before[k])} then, ${JSON.stringify((settings as Record<string, unknown>)[k])} now`).join('; ')})`,
        );
      resume = { checkpoint: found.checkpoint, file: found.file };
    }
  } catch (err) {
    release();
    throw err;
  }
  const rt = await Runtime.create(threads === undefined ? {} : { threads }).catch((err: unknown) => {
    release();
    throw err;
  });
  let sigint = false;
  const onSigint = (): void => {
    sigint = true;
  };
  process.once('SIGINT', onSigint);
  try {
    if (resume && !quiet)
      console.error(`graft: resuming from ${resume.file} (epoch ${resume.checkpoint.metadata['epoch']})`);
    const progress = new Progress(config.epochs, !quiet);
    const res = await trainMoleculeTask(
      rt,
      ds,
      {
        split,
        oversample,
        oversampleFraction,
        hybrid: !!v.hybrid,
        hybridInputs,
        selectBy,
        config,
        fit: {
          checkpoint: {
            every: checkpointEvery,
            write: (cp) => {
              if (lead)
                saveCheckpointKeepingPrevious(checkpointFile, {
                  tensors: cp.tensors,
                  metadata: {
                    ...cp.metadata,
                    settings: JSON.stringify(settings),
                    ...preprocessed,
                    ...(dist ? { distributed: JSON.stringify(dist.sync.stats) } : {}),
                  },
                });
            },
          },
          ...(resume ? { resume } : {}),
          interrupted: () => sigint,
          // Distributed, a rank replaying an epoch alone would fall out of step with the others: any failure stops the job.
          faults: {
            onFault: (f) => console.error(recoveredFaultLine('graft train', f)),
            ...(dist ? { maxFailures: 1 } : {}),
          },
        },
        ...(dist ? { distributed: { rank: dist.rank, ranks: dist.ranks, sync: dist.sync } } : {}),
      },
      (e) =>
        progress.tick(e.epoch, {
          loss: e.train_loss,
          val_loss: e.val_loss,
          ...(e.val_score !== undefined ? { val_auc: e.val_score } : {}),
        }),
    );
    progress.end();
    if (res.interrupted) {
      console.error(
        `graft train: interrupted after epoch ${res.history.length}; checkpoint written to ${checkpointFile}; continue with the same command and --resume`,
      );
      return 130;
    }
    const distributed = dist ? { ...dist.sync.stats, bytes_sent_per_rank: dist.sync.stats.bytesSent } : null;
    if (!lead) return 0;
    // The test split's predictions, and the training molecules' fingerprints that graft
    // predict compares new molecules with (max_similarity), written before config.json so a
    // folder with config.json is whole.
    const T = ds.targets.length;
    const trainFp = await packedFingerprints(
      res.split.train.map((i) => ({ graph: ds.graphs[i]!, smiles: ds.smiles[i]! })),
    );
    saveTrainFingerprints(join(out, FINGERPRINTS_FILE), trainFp, resolve(v.data));
    const reference = new FingerprintSet(trainFp);
    const rows: PredictionRow[] = [];
    for (const [k, i] of res.split.test.entries()) {
      const fp = await fingerprintOf(ds.graphs[i]!, ds.smiles[i]!);
      rows.push({
        row: ds.rows[i]! + 1,
        smiles: ds.smiles[i]!,
        outputs: res.testOutputs.subarray(k * T, (k + 1) * T),
        maxSimilarity: fp ? reference.maxSimilarity(fp) : null,
        error: '',
      });
    }
    writeFileAtomic(join(out, 'predictions.csv'), predictionsCsv(ds.targets, type, res.thresholds ?? null, rows));
    const thresholds = res.thresholds
      ? Object.fromEntries(ds.targets.map((t, j) => [t, res.thresholds![j]!]))
      : undefined;
    writeJsonAtomic(join(out, 'config.json'), {
      kind: 'graph',
      ...(distributed
        ? {
            distributed: {
              mode: distributed.mode,
              ranks: distributed.ranks,
              ranks_per_node: distributed.ranksPerNode,
              flags: {
                k: v.k ?? null,
                local_k: v['local-k'] ?? null,
                global_k: v['global-k'] ?? null,
                block_momentum: v['block-momentum'] ?? null,
              },
            },
          }
        : {}),
      ...settings,
      ...(v.smiles ? { smiles: v.smiles } : {}),
      ...config,
      checkpoint_every: checkpointEvery,
      threads: rt.threads,
      backend: rt.backendKind,
      molecules: ds.graphs.length,
      invalid_smiles: ds.invalid.length,
      featurizer: featurizerName(featureSet),
      // The descriptors' training-split scaling: new molecules must be scaled alike.
      ...(res.descriptorScaling
        ? {
            descriptor_scaling: {
              names: MOLECULE_DESCRIPTORS,
              mean: Array.from(res.descriptorScaling.mean),
              sd: Array.from(res.descriptorScaling.sd),
            },
          }
        : {}),
      inputs,
      ...(thresholds ? { thresholds } : {}),
    });
    await writeHistory(out, res.history as unknown as Record<string, number>[]);
    const snap = res.snapshot;
    const recovery = snap
      ? { snapshot_ms: snap.snapshotMs, snapshot_bytes: snap.bytes, worker_faults: snap.faults.length }
      : {};
    writeJsonAtomic(join(out, 'metrics.json'), {
      data: v.data,
      seed: config.seed,
      threads: rt.threads,
      split,
      oversample,
      hybrid: !!v.hybrid,
      ...res.metrics,
      ...recovery,
      ...(warnings.length ? { warnings } : {}),
      ...(distributed ? { distributed } : {}),
    });
    const cols = Object.keys(res.perLabel[0] ?? {});
    writeFileAtomic(
      join(out, 'labels.csv'),
      `${[cols.join(','), ...res.perLabel.map((r) => cols.map((k) => (typeof r[k] === 'string' ? JSON.stringify(r[k]) : Number(r[k]).toPrecision(5))).join(','))].join('\n')}\n`,
    );
    if (ds.invalid.length)
      writeFileAtomic(
        join(out, 'invalid.csv'),
        `${['line,smiles', ...ds.invalid.map((r) => `${r.line},${JSON.stringify(r.smiles)}`)].join('\n')}\n`,
      );
    const m = res.metrics;
    console.log(
      JSON.stringify(
        type === 'multilabel'
          ? {
              data: name,
              model,
              atom_features: atomFeatures,
              split,
              oversample,
              hybrid: !!v.hybrid,
              seed: config.seed,
              test_roc_auc: m['test_roc_auc'],
              test_pr_auc: m['test_pr_auc'],
              test_f1_weighted: m['test_f1_weighted'],
              best_epoch: res.bestEpoch,
              mean_epoch_ms: m['mean_epoch_ms'],
              ...(res.imbalance
                ? { mean_ir_before: res.imbalance.meanIRBefore, mean_ir_after: res.imbalance.meanIRAfter }
                : {}),
              ...(distributed ? { distributed } : {}),
              out,
            }
          : {
              data: name,
              model,
              atom_features: atomFeatures,
              split,
              seed: config.seed,
              test_rmse: m['test_rmse'],
              test_r: m['test_r'],
              best_epoch: res.bestEpoch,
              out,
            },
      ),
    );
    return 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
    await rt.close();
    release();
  }
}
