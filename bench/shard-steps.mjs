// node bench/shard-steps.mjs [ROOT] [workers|groups|inline] [THREADS]
//
// Per-step times of the molecules bench's batch split (128 graphs of 25 nodes, 32 features,
// 3 layers of 128, shards of 32) under one placement, 60 steps: the minimum over the last 55
// and the median of each block of 10, so warm-up shows. ROOT is a Graft checkout with a
// built dist/ (default: this one): point it at a copy of an older build to compare builds
// in one session, alternating. Issue 31.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const root = pathToFileURL(resolve(process.argv[2] ?? '.')).href;
const mode = process.argv[3] ?? 'workers';
const threads = Number(process.argv[4] ?? 2);
const { Runtime } = await import(`${root}/dist/src/runtime/runtime.js`);
const { GraphTrainer } = await import(`${root}/dist/src/train/graph-trainer.js`);
const { collate } = await import(`${root}/dist/src/graph/batch.js`);
const { Rng } = await import(`${root}/dist/src/core/random.js`);

const rt = await Runtime.create({ threads });
const rng = new Rng(1234);
const samples = Array.from({ length: 128 }, () => {
  const m = Math.round((25 * 2.2) / 2);
  const src = new Int32Array(m);
  const dst = new Int32Array(m);
  for (let e = 0; e < m; e++) {
    src[e] = Math.floor(rng.next() * 25);
    dst[e] = Math.floor(rng.next() * 25);
  }
  const x = Float32Array.from({ length: 25 * 32 }, () => rng.normal());
  const y = Float32Array.from({ length: 27 }, () => rng.normal());
  return { nodes: 25, x, src, dst, y };
});
const trainer = new GraphTrainer(rt, 32, 27, {
  task: 'regression',
  layers: 3,
  hidden: 128,
  dropout: 0,
  pool: 'mean',
  lr: 0.01,
  weightDecay: 0,
  epochs: 1,
  batchSize: 128,
  shardSize: 32,
  patience: 0,
  seed: 1,
});
const shards = [0, 1, 2, 3].map((s) => collate(rt.heap, samples.slice(s * 32, s * 32 + 32), 32, 27));
const hold =
  mode === 'workers'
    ? (f) => trainer.holdingWorkers({ nodes: 800, graphs: 32 }, f)
    : mode === 'groups'
      ? (f) => trainer.holdingShardGroups(f)
      : (f) => trainer.inlineShards(f);
const ts = [];
await hold(async () => {
  for (let i = 0; i < 60; i++) {
    const t0 = performance.now();
    await trainer.trainShards(shards);
    ts.push(performance.now() - t0);
  }
});
const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const blocks = [];
for (let i = 0; i < 60; i += 10) blocks.push(+median(ts.slice(i, i + 10)).toFixed(2));
console.log(
  JSON.stringify({
    mode,
    threads,
    min_ms: +Math.min(...ts.slice(5)).toFixed(2),
    block_medians_ms: blocks,
    first_ms: +ts[0].toFixed(1),
  }),
);
for (const b of shards) b.free();
trainer.dispose();
await rt.close();
