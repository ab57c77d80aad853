import { join, resolve } from 'node:path';
import { writeJsonAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { Runtime } from '../../runtime/runtime.js';
import { storeFingerprint } from '../../store/fingerprint.js';
import { GraphStore } from '../../store/format.js';
import {
  checkSampledConfig,
  type SampledTrainConfig,
  type SamplerChoice,
  trainSampled,
} from '../../train/sampled-trainer.js';
import { choice, intAtLeast, num } from '../args.js';
import { Progress, recoveredFaultLine } from '../progress.js';
import { claimRunFolder, resumePoint, writeHistory } from '../run-folder.js';
import { writePredictions } from '../node-predictions.js';
import { type DistributedFlags, runOnRanks, startDistributed } from '../distributed-flags.js';
import { TopKSync } from '../../distributed/topk-sync.js';
import type { StepSync } from '../../train/step.js';
import type { DistributedStats } from '../../distributed/averaging.js';

// `graft train --store FILE --sampler neighbor|cluster`: mini-batch training over a graph
// store (train/sampled-trainer.ts); writes the run folder graft train writes.

/** The flags of a sampled run, as graft train's parser reads them. */
export interface SampledFlags extends DistributedFlags {
  store?: string;
  sampler?: string;
  fanouts?: string;
  'batch-size'?: string;
  parts?: string;
  'parts-per-batch'?: string;
  'checkpoint-every'?: string;
  model?: string;
  layers?: string;
  hidden?: string;
  dropout?: string;
  lr?: string;
  'weight-decay'?: string;
  epochs?: string;
  patience?: string;
  seed?: string;
  threads?: string;
  out?: string;
  resume?: boolean;
  overwrite?: boolean;
  quiet?: boolean;
  compress?: string;
}

/** Sampled training's defaults where they differ from graft train's (GraphSAGE as in PyG's OGB examples). */
export const SAMPLED_DEFAULTS = { hidden: 128, lr: 0.005, weightDecay: 0, epochs: 20, patience: 10 } as const;

/** `--fanouts 15,10,5`: positive integers or -1 (every neighbour), one per layer. */
export function parseFanouts(v: string): number[] {
  const parts = v.split(',').map((s) => s.trim());
  const bad = parts.find((s) => !/^(-1|[1-9]\d*)$/.test(s));
  if (bad !== undefined || parts.length === 0)
    throw new GraftError(
      `--fanouts must be a comma-separated list of positive integers or -1 (all neighbours), one per layer, got ${JSON.stringify(v)}`,
    );
  return parts.map(Number);
}

/** The sampler and the config from the flags; errors name the flag. */
export function sampledConfigOf(v: SampledFlags): SampledTrainConfig {
  const kind = choice(v.sampler, '--sampler', ['neighbor', 'cluster'] as const, 'neighbor');
  let sampler: SamplerChoice;
  let layers = num(v.layers, '--layers', true);
  if (kind === 'neighbor') {
    if (v.parts !== undefined || v['parts-per-batch'] !== undefined)
      throw new GraftError('--parts and --parts-per-batch are for --sampler cluster');
    const fanouts = parseFanouts(v.fanouts ?? '15,10,5');
    layers ??= fanouts.length;
    if (fanouts.length !== layers)
      throw new GraftError(`--fanouts must give one fanout per layer (--layers ${layers}), got ${fanouts.length}`);
    sampler = { kind, fanouts, batchSize: intAtLeast(v['batch-size'], '--batch-size', 1024, 1) };
  } else {
    if (v.fanouts !== undefined || v['batch-size'] !== undefined)
      throw new GraftError('--fanouts and --batch-size are for --sampler neighbor');
    const parts = intAtLeast(v.parts, '--parts', 1500, 1);
    const perBatch = intAtLeast(v['parts-per-batch'], '--parts-per-batch', 20, 1);
    if (perBatch > parts) throw new GraftError(`--parts-per-batch must be at most --parts (${parts}), got ${perBatch}`);
    sampler = { kind, parts, partsPerBatch: perBatch };
  }
  const model = choice(v.model, '--model', ['sage', 'gcn'] as const, 'sage');
  const dropout = num(v.dropout, '--dropout') ?? 0.5;
  if (!(dropout >= 0 && dropout < 1)) throw new GraftError(`--dropout must be in [0, 1), got ${dropout}`);
  const lr = num(v.lr, '--lr') ?? SAMPLED_DEFAULTS.lr;
  if (!(lr > 0)) throw new GraftError(`--lr must be positive, got ${lr}`);
  const c: SampledTrainConfig = {
    model,
    layers: layers ?? 2,
    hidden: intAtLeast(v.hidden, '--hidden', SAMPLED_DEFAULTS.hidden, 1),
    dropout,
    lr,
    weightDecay: num(v['weight-decay'], '--weight-decay') ?? SAMPLED_DEFAULTS.weightDecay,
    weightDecayScope: 'all',
    epochs: intAtLeast(v.epochs, '--epochs', SAMPLED_DEFAULTS.epochs, 1),
    patience: intAtLeast(v.patience, '--patience', SAMPLED_DEFAULTS.patience, 0),
    seed: num(v.seed, '--seed', true) ?? 1,
    restoreBest: true,
    sampler,
  };
  if (c.layers < 1) throw new GraftError(`--layers must be at least 1, got ${c.layers}`);
  checkSampledConfig(c);
  return c;
}

/** `--compress topk:R`: the fraction R in (0, 1] of gradient entries each rank sends. */
export function parseCompress(v: string): number {
  const m = /^topk:([0-9.eE+-]+)$/.exec(v.trim());
  const r = m ? Number(m[1]) : Number.NaN;
  if (!(r > 0 && r <= 1))
    throw new GraftError(
      `--compress must be topk:R with R in (0, 1] (the fraction of gradient entries sent), got ${JSON.stringify(v)}`,
    );
  return r;
}

/** The distributed part of a sampled run: MPI, this rank, and the exchange (--distributed, --compress). */
interface SampledRanks {
  rank: number;
  ranks: number;
  sync: StepSync;
  stats: DistributedStats & { denseBytes?: number; compress?: string };
  sum: (values: Float32Array) => void;
}

/** Runs `graft train --store FILE --sampler neighbor|cluster` and writes the run folder. */
export async function trainSampledRun(v: SampledFlags): Promise<number> {
  if (!v.store) throw new GraftError(`--sampler ${v.sampler} needs --store FILE (a graph store: graft prepare)`);
  if (v.distributed === undefined) {
    if (v.compress !== undefined) throw new GraftError('--compress is for --distributed sync');
    return sampledRun(v, null);
  }
  const ratio = v.compress === undefined ? null : parseCompress(v.compress);
  if (ratio !== null && v.distributed !== 'sync')
    throw new GraftError(`--compress is for --distributed sync, not --distributed ${v.distributed}`);
  // Each entry sent costs 8 bytes (index + value) against dense sync's 4 per entry.
  if (ratio !== null && ratio >= 0.5 && !v.quiet)
    console.error(
      `graft train: warning: --compress topk:${ratio} sends ${ratio === 1 ? 'every entry' : 'at least half the entries'} at 8 bytes each: more bytes than dense sync (4 per entry); topk pays below 0.5`,
    );
  sampledConfigOf(v); // bad flags refused before MPI starts
  // Under sync every rank applies the same averaged gradient to the same Adam state, so rank 0's
  // checkpoint is every rank's state and each rank resumes from it. The averaging modes' ranks
  // hold Adam states of their own, and top-k ranks their residuals: the checkpoint has neither.
  if (v.resume && (v.distributed !== 'sync' || ratio !== null))
    throw new GraftError(
      `--resume with --distributed is for sync without --compress (the checkpoint holds rank 0's state; under ${ratio === null ? v.distributed : 'compression'} each rank's differs)`,
    );
  const dist = startDistributed({ ...v, resume: false });
  const sync = ratio === null ? dist.sync : new TopKSync(dist.mpi, ratio);
  const ranks: SampledRanks = {
    rank: dist.rank,
    ranks: dist.ranks,
    sync,
    stats: sync.stats,
    sum: (a: Float32Array) => dist.mpi.allreduceOrdered(a, 0),
  };
  return runOnRanks(dist, () => sampledRun(v, ranks));
}

async function sampledRun(v: SampledFlags, dist: SampledRanks | null): Promise<number> {
  const config = sampledConfigOf(v);
  const threads = num(v.threads, '--threads', true);
  if (threads !== undefined && threads < 1) throw new GraftError(`--threads must be at least 1, got ${threads}`);
  const checkpointEvery = intAtLeast(v['checkpoint-every'], '--checkpoint-every', 10, 1, 'epoch');
  const file = resolve(v.store!); // checked by trainSampledRun
  // Features stay in the file: the prefetch worker and layer-wise inference read rows by
  // offset (the OS page cache serves both), so products' 980 MB are not held in this process.
  const store = GraphStore.open(file, { features: 'file' });
  const out = resolve(v.out ?? join('runs', `${store.header.name}-${config.sampler.kind}-seed${config.seed}`));
  // Distributed, every rank trains and evaluates; rank 0 alone writes the run folder and prints.
  const lead = dist === null || dist.rank === 0;
  const release = lead
    ? claimRunFolder(out, { command: 'graft train', overwrite: v.overwrite === true, resume: v.resume === true })
    : () => {};
  const checkpoint = join(out, 'checkpoint.safetensors');
  let rt: Runtime;
  try {
    rt = await Runtime.create(threads === undefined ? {} : { threads });
  } catch (err) {
    release();
    throw err;
  }
  try {
    const resumeFrom = v.resume ? resumePoint(checkpoint, 'graft train') : null;
    if (lead)
      writeJsonAtomic(join(out, 'config.json'), {
        task: 'node',
        store: file,
        ...config,
        threads: rt.threads,
        backend: rt.backendKind,
        num_nodes: store.numNodes,
        num_features: store.numFeatures,
        num_classes: store.numClasses,
        // graft predict and graft eval apply the model to this store only (predict-sampled.ts).
        store_fingerprint: storeFingerprint(store),
        preprocess: { features: [] },
        ...(dist
          ? { distributed: { mode: dist.stats.mode, ranks: dist.ranks, compress: dist.stats.compress ?? null } }
          : {}),
      });
    const s = config.sampler;
    if (!v.quiet && lead)
      console.error(
        `graft: training a ${config.layers}-layer ${config.model === 'gcn' ? 'GCN' : 'GraphSAGE'} on ${store.header.name} (${store.numNodes} nodes, ${store.numEdges} adjacency entries) in ${s.kind === 'neighbor' ? `neighbour-sampled batches of ${s.batchSize} seeds, fanouts ${s.fanouts.join(',')}` : `Cluster-GCN batches of ${s.partsPerBatch} of ${s.parts} parts`}, with ${rt.threads} threads${dist ? ` on each of ${dist.ranks} ranks (${dist.stats.mode}${dist.stats.compress ? `, ${dist.stats.compress}` : ''}), each on its share of every epoch's batches` : ''}${resumeFrom ? `, resuming from ${resumeFrom.file}` : ''}`,
      );
    const progress = new Progress(config.epochs, !v.quiet && lead);
    let sentBefore = 0;
    let sigint = false;
    const onSigint = (): void => {
      sigint = true;
    };
    // Distributed, a rank stopping on its own at Ctrl-C would leave the others in a collective: the signal ends the job.
    if (!dist) process.once('SIGINT', onSigint);
    const r = await trainSampled(rt, store, config, {
      ...(lead ? { checkpointPath: checkpoint, checkpointEvery } : {}),
      interrupted: () => sigint,
      faults: { onFault: (f) => console.error(recoveredFaultLine('graft train', f)) },
      ...(dist ? { distributed: dist } : {}),
      onEpoch: (e) => {
        // Distributed: the megabytes this rank sent in the epoch's exchanges.
        const sent: Record<string, number> = dist ? { sent_MB: (dist.stats.bytesSent - sentBefore) / 1e6 } : {};
        if (dist) sentBefore = dist.stats.bytesSent;
        progress.tick(e.epoch, {
          loss: e.train_loss,
          val_loss: e.val_loss,
          val_acc: e.val_accuracy,
          wait_ms: e.sampler_wait_ms,
          ...sent,
        });
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
    const distributed = dist ? distributedMetrics(dist, r.stoppedEpoch) : null;
    if (distributed && !v.quiet)
      console.error(
        `graft train: each rank sent ${(distributed.bytes_sent_per_epoch / 1e6).toFixed(3)} MB per epoch (dense sync: ${(distributed.dense_bytes_per_epoch / 1e6).toFixed(3)} MB)`,
      );
    writeHistory(out, r.history as unknown as Record<string, number>[]);
    writeJsonAtomic(join(out, 'metrics.json'), {
      dataset: store.header.name,
      seed: config.seed,
      threads: rt.threads,
      sampler: config.sampler,
      ...r.metrics,
      ...(distributed ? { distributed } : {}),
    });
    writePredictions(
      join(out, 'predictions.csv'),
      {
        name: store.header.name,
        numNodes: store.numNodes,
        numFeatures: store.numFeatures,
        numClasses: store.numClasses,
        features: new Float32Array(0),
        labels: store.labels,
        split: store.split,
        src: new Int32Array(0),
        dst: new Int32Array(0),
        ids: Array.from({ length: store.numNodes }, (_, i) => store.id(i)),
      },
      r.predictions,
    );
    console.log(
      JSON.stringify({
        dataset: store.header.name,
        seed: config.seed,
        sampler: config.sampler.kind,
        test_accuracy: r.metrics['test_accuracy'],
        best_epoch: r.bestEpoch,
        epochs_run: r.stoppedEpoch,
        mean_epoch_ms: r.metrics['mean_epoch_ms'],
        mean_sampler_wait_ms: r.metrics['mean_sampler_wait_ms'],
        heap_peak_bytes: r.heapPeakBytes,
        ...(distributed ? { distributed } : {}),
        out,
      }),
    );
    return 0;
  } finally {
    await rt.close();
    store.close();
    release();
  }
}

/**
 * The exchange's figures for metrics.json: bytes this rank sent in all and per epoch, beside
 * what dense sync sends (the same with no compression; n float32 to each other rank a step).
 */
function distributedMetrics(
  dist: SampledRanks,
  epochs: number,
): Record<string, unknown> & { bytes_sent_per_epoch: number; dense_bytes_per_epoch: number } {
  const s = dist.stats,
    dense = s.denseBytes ?? s.bytesSent,
    e = Math.max(1, epochs);
  return {
    ...s,
    bytes_sent_per_rank: s.bytesSent,
    dense_bytes_per_rank: dense,
    bytes_sent_per_epoch: s.bytesSent / e,
    dense_bytes_per_epoch: dense / e,
  };
}
