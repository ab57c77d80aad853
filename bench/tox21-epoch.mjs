// node bench/tox21-epoch.mjs [ROOT] [THREADS:PLACEMENT,...] [EPOCHS]
//
// Tox21 training epochs as `graft scaling` times its batch-split row (a seeded 2,000-molecule
// subsample, 1,600 training molecules, batches of 64 in shards of 32, 3 GCN layers of 128):
// for each THREADS:PLACEMENT (default 1:inline,2:workers,2:inline) a fresh runtime trains
// 2 warm-up epochs and EPOCHS (default 8) timed ones with the shards' placement fixed
// (workers, groups, inline or serial), and prints the timed epochs' ms, sorted, with their
// minimum and median. ROOT is a Graft checkout with a build (default: this one), so two builds
// can be compared in one session, alternating:
//
//   for r in 1 2 3; do node bench/tox21-epoch.mjs /path/to/old; node bench/tox21-epoch.mjs .; done
//
// Needs ../shared/data/moleculenet/tox21.csv (issue 31).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [rootArg, modesArg, epochsArg] = process.argv.slice(2);
const root = resolve(rootArg ?? '.');
const dist = (p) => pathToFileURL(join(root, 'dist', 'src', p)).href;
const csv = resolve(root, '..', 'shared', 'data', 'moleculenet', 'tox21.csv');
if (!existsSync(csv)) {
  console.error(`tox21-epoch: ${csv} not found`);
  process.exit(2);
}
const { loadMoleculeCsv } = await import(dist('chem/dataset.js'));
const { toSample } = await import(dist('chem/featurize.js'));
const { randomSplit } = await import(dist('chem/split.js'));
const { Rng } = await import(dist('core/random.js'));
const { Runtime } = await import(dist('runtime/runtime.js'));
const { GraphTrainer } = await import(dist('train/graph-trainer.js'));

const ds = await loadMoleculeCsv(csv, { targets: 'all', task: 'multilabel' });
const T = ds.targets.length;
const picked = new Rng(7).shuffle(Array.from(ds.graphs.keys())).slice(0, 2000);
const samples = picked.map((i) => toSample(ds.graphs[i], ds.y.subarray(i * T, (i + 1) * T), true));
const train = randomSplit(samples.length, 1).train.map((i) => samples[i]);
const features = samples[0].x.length / samples[0].nodes;
const epochs = Number(epochsArg ?? 8);
const config = {
  task: 'multilabel',
  layers: 3,
  hidden: 128,
  dropout: 0.1,
  pool: 'max',
  lr: 1e-3,
  weightDecay: 0,
  epochs: 2 + epochs,
  batchSize: 64,
  shardSize: 32,
  patience: 0,
  seed: 1,
};
for (const spec of (modesArg ?? '1:inline,2:workers,2:inline').split(',')) {
  const [threads, mode] = spec.split(':');
  const rt = await Runtime.create({ threads: Number(threads) });
  const trainer = new GraphTrainer(rt, features, T, config);
  if (Number(threads) > 1)
    trainer.shardPlacement = { mode, workersMs: NaN, groupsMs: NaN, inlineMs: NaN, serialMs: NaN };
  try {
    const ms = (await trainer.fit(train, [])).slice(2).map((h) => h.ms);
    ms.sort((a, b) => a - b);
    console.log(
      `${root} ${spec}: ms/epoch min ${ms[0].toFixed(0)} median ${ms[ms.length >> 1].toFixed(0)} (${ms.map((x) => x.toFixed(0)).join(' ')})`,
    );
  } finally {
    trainer.dispose();
    await rt.close();
  }
}
