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
// The workload is graft scaling's own (its moleculeData and MOLECULE_BASE), from ROOT's build.
const { moleculeData, MOLECULE_BASE } = await import(dist('cli/commands/scaling.js'));
const { randomSplit } = await import(dist('chem/split.js'));
const { Runtime } = await import(dist('runtime/runtime.js'));
const { GraphTrainer } = await import(dist('train/graph-trainer.js'));

const m = await moleculeData(2000, () => {});
const train = randomSplit(m.samples.length, 1).train.map((i) => m.samples[i]);
const epochs = Number(epochsArg ?? 8);
const config = { ...MOLECULE_BASE, shardSize: 32, epochs: 2 + epochs };
for (const spec of (modesArg ?? '1:inline,2:workers,2:inline').split(',')) {
  const [threads, mode] = spec.split(':');
  const rt = await Runtime.create({ threads: Number(threads) });
  const trainer = new GraphTrainer(rt, m.features, m.targets, config);
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
