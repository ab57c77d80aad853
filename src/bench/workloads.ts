// The benchmark workloads (../shared/bench/workloads.json) end to end, as its "about" defines
// them: one training epoch = full-batch forward + backward + one Adam step (lr 0.01) on MSE
// against random targets; inference = one forward pass; median of `reps` timed repetitions
// after two warm-up ones. One line per workload and thread count:
//   {"workload","threads","train_ms","infer_ms","peak_rss_mb"}  (+ "mode" for variants)
// and after it one int8 inference line: {"workload","threads","precision":"int8","infer_ms",
// "float_infer_ms","model_bytes","float_model_bytes","peak_rss_mb"}.
// Models: `layers` GCN layers (X·W then Â·, ReLU between, no dropout); for graph batches
// (molecules) the last layer is a Linear head after mean pooling per graph. `graft bench`
// and `npm run bench` print these lines.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraftError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import { Rng } from '../core/random.js';
import { collate, type GraphBatch, type GraphSample } from '../graph/batch.js';
import { CsrMatrix } from '../graph/csr.js';
import { csrEdges, csrInOrder, spmmNodeOrder } from '../graph/reorder.js';
import { Tensor } from '../memory/tensor.js';
import { gcnStack } from '../nn/gcn-stack.js';
import type { PassContext } from '../nn/layer.js';
import { linearMaps, type Propagation } from '../nn/layers.js';
import { Int8Weight } from '../ops/int8.js';
import { quantizeLinear, RangeObserver } from '../quant/int8.js';
import { Sequential } from '../nn/sequential.js';
import { mseLoss } from '../ops/losses.js';
import { Runtime } from '../runtime/runtime.js';
import { traceTrack } from '../runtime/trace.js';
import { Adam } from '../train/adam.js';
import { GraphTrainer } from '../train/graph-trainer.js';
import { workloadGraph } from './graph.js';
import { ofCeiling, type Ceiling } from './ceiling-speedup.js';

export interface Workload {
  name: string;
  nodes?: number;
  avgDegree: number;
  features: number;
  hidden: number;
  layers: number;
  outputs: number;
  graphs?: number;
  nodesPerGraph?: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** A workload's model and data on `rt`: one training step, one inference pass, and what to free. */
function setupWorkload(
  rt: Runtime,
  w: Workload,
): { train: () => Promise<void>; infer: () => Promise<void>; model: Sequential; dispose: () => void } {
  const h = rt.heap,
    rng = new Rng(1234);
  const graphs = w.graphs ?? 1;
  const n = w.graphs ? w.graphs * w.nodesPerGraph! : w.nodes!;
  const generated = workloadGraph(n, w.avgDegree, rng, graphs);
  // As the node trainer runs a user's graph: a large one renumbered for SpMM (graph/reorder.ts).
  const order = w.graphs ? null : spmmNodeOrder(n, csrEdges(generated.rowPtr, generated.colIdx).src, generated.colIdx);
  const g = order ? { ...csrInOrder(generated, order), offsets: generated.offsets } : generated;
  const adj = CsrMatrix.fromArrays(h, n, n, g.rowPtr, g.colIdx, g.vals);
  const prop: Propagation = { adj };
  const offsets = Tensor.from(h, 'int32', [graphs + 1], g.offsets);
  const x = Tensor.empty(h, 'float32', [n, w.features]);
  const xd = x.data() as Float32Array;
  for (let i = 0; i < xd.length; i++) xd[i] = rng.normal();
  const pooled = w.graphs !== undefined;
  // The product's own GCN stack: GCN → ReLU per layer, the last one linear (node workloads),
  // or mean pooling and a Linear head after the GCN layers (the graph batch).
  const layers = gcnStack(h, rng, () => prop, {
    inFeatures: w.features,
    hidden: w.hidden,
    layers: w.layers,
    dropout: 0,
    inputDropout: false,
    constantInput: true,
    out: w.outputs,
    weightDecay: () => 0,
    ...(pooled ? { pool: { mode: 'mean' as const, offsets: () => offsets } } : {}),
  });
  const model = new Sequential(layers);
  const adam = new Adam(model.params(), { lr: 0.01 });
  const rows = pooled ? graphs : n;
  const target = Tensor.empty(h, 'float32', [rows, w.outputs]);
  const td = target.data() as Float32Array;
  for (let i = 0; i < td.length; i++) td[i] = rng.normal();
  const train = async (): Promise<void> => {
    const ctx: PassContext = { exec: rt.exec, training: true, seed: 1, step: 1 };
    const out = await model.forward(ctx, x);
    const loss = await mseLoss(rt.exec, out, target);
    await model.backward(ctx, loss.grad);
    loss.grad.free();
    await adam.update(rt.exec);
  };
  const infer = async (): Promise<void> => {
    await model.forward({ exec: rt.exec, training: false, seed: 1, step: 1 }, x);
    model.release();
  };
  return {
    train,
    infer,
    model,
    dispose: () => {
      model.dispose();
      adam.dispose();
      adj.free();
      offsets.free();
      x.free();
      target.free();
    },
  };
}

/**
 * Median ms of `reps` runs of `fn` after two warm-up ones; each timed run is a 'step' span on
 * the timeline when a trace is recorded. `ready` (if given) runs between warm-up and timing.
 */
export async function timeSteps(
  fn: () => Promise<unknown>,
  reps: number,
  label: string,
  ready?: () => Promise<void>,
): Promise<number> {
  for (let i = 0; i < 2; i++) await traceTrack(0, 'steps', `${label} (warm-up)`, fn);
  await ready?.();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await traceTrack(0, 'steps', label, fn);
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

async function runWorkload(
  rt: Runtime,
  w: Workload,
  reps: number,
): Promise<{ train_ms: number; infer_ms: number; int8: Int8Figures }> {
  const s = setupWorkload(rt, w);
  const time =
    (label: string) =>
    (fn: () => Promise<unknown>): Promise<number> =>
      timeSteps(fn, reps, `${w.name} ${label}`);
  const train_ms = await time('train step')(s.train),
    infer_ms = await time('inference')(s.infer);
  const int8 = await int8Inference(s.model, rt.heap, s.infer, time('int8 inference'));
  s.dispose();
  return { train_ms, infer_ms, int8 };
}

/**
 * The same model's inference on the int8 path (graft quantize --int8's scheme): every linear
 * map's input range observed on one float pass, its weight quantized per output channel, then
 * the forward pass timed again. Model bytes: the weights and biases as a model file holds them.
 */
async function int8Inference(
  model: Sequential,
  heap: Runtime['heap'],
  infer: () => Promise<void>,
  time: (fn: () => Promise<void>) => Promise<number>,
): Promise<Int8Figures> {
  const maps = linearMaps(model.layers);
  const ranges = maps.map((lin) => {
    const r = new RangeObserver();
    lin.observe = (x) => r.add(x.data() as Float32Array, x.shape[1]!, null);
    return r;
  });
  await infer();
  let floatBytes = 0,
    int8Bytes = 0;
  maps.forEach((lin, i) => {
    lin.observe = null;
    const [k, out] = lin.weight.value.shape as [number, number];
    lin.quantized = Int8Weight.create(
      heap,
      quantizeLinear(lin.weight.value.data() as Float32Array, k, out, ranges[i]!),
    );
    const bias = lin.bias ? 4 * out : 0;
    floatBytes += 4 * k * out + bias;
    int8Bytes += k * out + 4 * out + 8 + bias;
  });
  return { infer_ms: await time(infer), model_bytes: int8Bytes, float_model_bytes: floatBytes };
}

interface Int8Figures {
  infer_ms: number;
  model_bytes: number;
  float_model_bytes: number;
}

/**
 * The graph-batch workload with batch splitting: the 128 graphs cut into shards of
 * `shardSize`, forward/backward per shard at once on groups of threads, gradients reduced in
 * shard order. Same model (GCN layers, mean pooling, Linear head); shards collated once.
 */
function setupBatchSplit(
  rt: Runtime,
  w: Workload,
  shardSize: number,
): { trainer: GraphTrainer; shards: GraphBatch[]; whole: GraphBatch; dispose: () => void } {
  const rng = new Rng(1234);
  const per = w.nodesPerGraph!;
  const samples: GraphSample[] = Array.from({ length: w.graphs! }, () => {
    const m = Math.round((per * w.avgDegree) / 2);
    const src = new Int32Array(m),
      dst = new Int32Array(m);
    for (let e = 0; e < m; e++) {
      src[e] = Math.floor(rng.next() * per);
      dst[e] = Math.floor(rng.next() * per);
    }
    const x = Float32Array.from({ length: per * w.features }, () => rng.normal());
    const y = Float32Array.from({ length: w.outputs }, () => rng.normal());
    return { nodes: per, x, src, dst, y };
  });
  const trainer = new GraphTrainer(rt, w.features, w.outputs, {
    task: 'regression',
    layers: w.layers,
    hidden: w.hidden,
    dropout: 0,
    pool: 'mean',
    lr: 0.01,
    weightDecay: 0,
    epochs: 1,
    batchSize: w.graphs!,
    shardSize,
    patience: 0,
    seed: 1,
  });
  const shards: ReturnType<typeof collate>[] = [];
  for (let i = 0; i < samples.length; i += shardSize)
    shards.push(collate(rt.heap, samples.slice(i, i + shardSize), w.features, w.outputs));
  const whole = collate(rt.heap, samples, w.features, w.outputs);
  return {
    trainer,
    shards,
    whole,
    dispose: () => {
      for (const b of [...shards, whole]) b.free();
      trainer.dispose();
    },
  };
}

async function runBatchSplit(
  rt: Runtime,
  w: Workload,
  reps: number,
  shardSize: number,
): Promise<{
  train_ms: number;
  infer_ms: number;
  workers_ms: number;
  groups_ms: number;
  inline_ms: number;
  serial_ms: number;
}> {
  const { trainer, shards, whole, dispose } = setupBatchSplit(rt, w, shardSize);
  const time =
    (label: string) =>
    (fn: () => Promise<unknown>): Promise<number> =>
      timeSteps(fn, reps, `${w.name} batch-split ${label}`);
  // Groups of threads held across steps, as GraphTrainer.fit holds them for an epoch.
  // The four placements the trainer chooses from (GraphTrainer.shardPlacement): whole shard
  // steps on worker threads, a group of threads per shard, the shards inline (every op split
  // over all threads), and serial (the shards inline on the calling thread alone).
  const maxShard = { nodes: Math.max(...shards.map((b) => b.nodes)), graphs: shardSize };
  const workers_ms = await trainer.holdingWorkers(maxShard, () => time('workers')(() => trainer.trainShards(shards)));
  const groups_ms =
    rt.threads > 1
      ? await trainer.holdingShardGroups(() => time('groups')(() => trainer.trainShards(shards)))
      : workers_ms;
  const inline_ms =
    rt.threads > 1 ? await trainer.inlineShards(() => time('inline')(() => trainer.trainShards(shards))) : workers_ms;
  const serial_ms =
    rt.threads > 1 ? await trainer.serialShards(() => time('serial')(() => trainer.trainShards(shards))) : workers_ms;
  const infer_ms = await time('inference')(() => trainer.predictBatch(whole));
  dispose();
  return {
    train_ms: Math.min(workers_ms, groups_ms, inline_ms, serial_ms),
    infer_ms,
    workers_ms,
    groups_ms,
    inline_ms,
    serial_ms,
  };
}

/** What the batch-splitting line says of its placement: the fastest of the four, and each time. */
function placementNote(
  workers: number,
  groups: number,
  inline: number,
  serial: number,
): Pick<BenchLine, 'placement' | 'workers_ms' | 'groups_ms' | 'inline_ms' | 'serial_ms'> {
  const best = Math.min(workers, groups, inline, serial);
  return {
    placement:
      best === workers
        ? 'workers'
        : best === groups
          ? 'groups'
          : best === inline
            ? 'inline: shards too small to pay for their own threads'
            : 'serial: a step too small to pay for a second thread',
    workers_ms: +workers.toFixed(3),
    groups_ms: +groups.toFixed(3),
    inline_ms: +inline.toFixed(3),
    serial_ms: +serial.toFixed(3),
  };
}

/** One result line, as `graft bench` prints it. */
export interface BenchLine {
  workload: string;
  threads: number;
  /** Absent on int8 lines (training stays float32). */
  train_ms?: number;
  infer_ms: number;
  peak_rss_mb: number;
  /** Variants only (e.g. batch-split/32); the default line has none. */
  mode?: string;
  /** 'int8': inference on the int8 path, beside the float line's time and the two model sizes. */
  precision?: 'int8';
  float_infer_ms?: number;
  model_bytes?: number;
  float_model_bytes?: number;
  /** Batch splitting at several threads: how the trainer would place the shards, and each placement's time. */
  placement?: string;
  workers_ms?: number;
  groups_ms?: number;
  inline_ms?: number;
  serial_ms?: number;
  /**
   * At P > 1 threads with a ceiling measured (bench/ceiling.ts): the speed-up over one thread
   * (this run's 1-thread line, else the ceiling's lone process), the ceiling's speed-up (P
   * independent 1-thread processes at once), and the first as a share of the second.
   */
  speedup?: number;
  ceiling_speedup?: number;
  of_ceiling?: number;
}

/** Where the shared workloads are, from the package or the working folder; undefined if neither. */
export function defaultWorkloadsFile(): string | undefined {
  for (const dir of [join(packageRoot(), '..'), join(process.cwd(), '..'), process.cwd()]) {
    const f = join(dir, 'shared', 'bench', 'workloads.json');
    if (existsSync(f)) return f;
  }
  return undefined;
}

export function readWorkloads(file: string): Workload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new GraftError(`${file}: cannot read the workloads: ${(err as Error).message}`);
  }
  const list = (parsed as { workloads?: unknown }).workloads;
  if (!Array.isArray(list)) throw new GraftError(`${file}: expected {"workloads": [...]}`);
  list.forEach((w: Partial<Workload>, i) => {
    const ok =
      typeof w.name === 'string' &&
      [w.avgDegree, w.features, w.hidden, w.layers, w.outputs].every((v) => typeof v === 'number' && v > 0) &&
      (typeof w.nodes === 'number' || (typeof w.graphs === 'number' && typeof w.nodesPerGraph === 'number'));
    if (!ok)
      throw new GraftError(
        `${file}: workload ${i + 1} (${JSON.stringify(w.name)}) needs name, nodes (or graphs and nodesPerGraph), avgDegree, features, hidden, layers and outputs`,
      );
  });
  return list as Workload[];
}

export interface BenchOptions {
  workloads: readonly Workload[];
  threads: readonly number[];
  reps: number;
  /** Called with each line as soon as it is measured. */
  onLine: (line: BenchLine) => void;
  /** Ceilings measured before, by ceilingKey(workload, mode, P): the lines at P > 1 say how close they come. */
  ceilings?: ReadonlyMap<string, Ceiling>;
}

/** The key of a ceiling in BenchOptions.ceilings. */
export function ceilingKey(workload: string, mode: string | undefined, processes: number): string {
  return `${workload}|${mode ?? ''}|${processes}`;
}

/** The line's speed-up against its 1-thread time, the ceiling's, and the share (see BenchLine.of_ceiling). */
function ceilingFields(
  trainMs: number,
  oneThreadMs: number | undefined,
  c: Ceiling | undefined,
): Pick<BenchLine, 'speedup' | 'ceiling_speedup' | 'of_ceiling'> {
  if (!c) return {};
  const speedup = (oneThreadMs ?? c.single_ms) / trainMs;
  return {
    speedup: +speedup.toFixed(3),
    ceiling_speedup: +c.speedup.toFixed(3),
    of_ceiling: +ofCeiling(speedup, c.speedup).toFixed(3),
  };
}

/** The lines a workload has: the default one, and for graph batches batch splitting in shards of 32. */
export function benchModes(w: Workload): (string | undefined)[] {
  return w.graphs !== undefined ? [undefined, 'batch-split/32'] : [undefined];
}

/** Runs every workload at every thread count; graph batches also with batch splitting. */
export async function runBench(o: BenchOptions): Promise<BenchLine[]> {
  const lines: BenchLine[] = [];
  const oneThread = new Map<string, number>();
  for (const threads of o.threads) {
    const rt = await Runtime.create({ threads });
    try {
      for (const w of o.workloads) {
        // Graph batches run twice: one block-diagonal batch split intra-op, and batch splitting
        // (shards of 32 graphs on groups of threads, gradients reduced in shard order).
        const modes = benchModes(w);
        for (const mode of modes) {
          const r: {
            train_ms: number;
            infer_ms: number;
            workers_ms?: number;
            groups_ms?: number;
            inline_ms?: number;
            serial_ms?: number;
            int8?: Int8Figures;
          } = mode ? await runBatchSplit(rt, w, o.reps, 32) : await runWorkload(rt, w, o.reps);
          if (threads === 1) oneThread.set(ceilingKey(w.name, mode, 1), r.train_ms);
          const line: BenchLine = {
            workload: w.name,
            threads,
            train_ms: +r.train_ms.toFixed(3),
            infer_ms: +r.infer_ms.toFixed(3),
            peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
            ...(mode ? { mode } : {}),
            ...(r.workers_ms !== undefined &&
            r.groups_ms !== undefined &&
            r.inline_ms !== undefined &&
            r.serial_ms !== undefined &&
            threads > 1
              ? placementNote(r.workers_ms, r.groups_ms, r.inline_ms, r.serial_ms)
              : {}),
            ...(threads > 1
              ? ceilingFields(
                  r.train_ms,
                  oneThread.get(ceilingKey(w.name, mode, 1)),
                  o.ceilings?.get(ceilingKey(w.name, mode, threads)),
                )
              : {}),
          };
          lines.push(line);
          o.onLine(line);
          if (r.int8) {
            const q = r.int8;
            const l8: BenchLine = {
              workload: w.name,
              threads,
              precision: 'int8',
              infer_ms: +q.infer_ms.toFixed(3),
              float_infer_ms: line.infer_ms,
              model_bytes: q.model_bytes,
              float_model_bytes: q.float_model_bytes,
              peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
            };
            lines.push(l8);
            o.onLine(l8);
          }
        }
      }
    } finally {
      await rt.close();
    }
  }
  return lines;
}

/**
 * One training step of a workload on `rt`, as `graft bench` times it: the default line's
 * full-batch step, or with mode 'batch-split/N' one step of the batch cut into shards of N
 * graphs. What the ceiling's independent processes each run (bench/ceiling.ts).
 */
export function benchStep(
  rt: Runtime,
  w: Workload,
  mode: string | undefined,
): { step: () => Promise<unknown>; dispose: () => void } {
  const split = mode?.match(/^batch-split\/(\d+)$/);
  if (mode !== undefined && !split)
    throw new GraftError(`bench: unknown mode ${JSON.stringify(mode)} (expected batch-split/N)`);
  if (split) {
    const s = setupBatchSplit(rt, w, Number(split[1]));
    return { step: () => s.trainer.trainShards(s.shards), dispose: s.dispose };
  }
  const s = setupWorkload(rt, w);
  return { step: s.train, dispose: s.dispose };
}
