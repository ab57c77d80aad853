// The README's distributed-training comparison (issue 14): graft train --task graph on Tox21
// under mpirun, synchronous SGD against K-AVG (K = 1, 4, 16), Hier-AVG and BMUF, beside one
// process on the same cores. Per run: epochs and time until the validation ROC-AUC first
// reaches the target, the best epoch's test ROC-AUC, and bytes each rank sent per epoch.
// P = 2 ranks of 1 thread each (this machine has 2 cores); Hier-AVG also at P = 4,
// oversubscribed and labelled so. Not run in CI (several minutes).
//   node bench/distributed.mjs [--data ../shared/data/moleculenet/tox21.csv] [--epochs 60] [--target 0.80]
// --task nodes: the same comparison on an arxiv-size node task (graft train --dataset
// synthetic-arxiv: 169,343 nodes, 40 classes), each rank on one part of the graph (Cluster-GCN
// style); there one step is one full-batch epoch, and the metric is validation accuracy.
//   node bench/distributed.mjs --task nodes [--epochs 200] [--target 0.70] [--hidden 64]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const nodes = arg('task', 'graph') === 'nodes';
const data = arg('data', join(root, '..', 'shared', 'data', 'moleculenet', 'tox21.csv'));
const epochs = arg('epochs', nodes ? '200' : '60'),
  target = Number(arg('target', nodes ? '0.70' : '0.80'));
const metric = nodes ? 'val_accuracy' : 'val_score',
  testKey = nodes ? 'test_accuracy' : 'test_roc_auc';
const dir = mkdtempSync(join(tmpdir(), 'graft-dist-'));
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
const common = nodes
  ? ['train', '--dataset', 'synthetic-arxiv', '--hidden', arg('hidden', '64'), '--epochs', epochs, '--quiet']
  : ['train', '--task', 'graph', '--data', data, '--epochs', epochs, '--quiet'];
const only = arg('only', null);
const all = [
  { name: 'one process, 2 threads', np: 0, flags: ['--threads', '2'] },
  { name: 'sync SGD (gradients averaged every step)', np: 2, flags: ['--distributed', 'sync'] },
  { name: 'K-AVG K = 1', np: 2, flags: ['--distributed', 'kavg', '--k', '1'] },
  { name: 'K-AVG K = 4', np: 2, flags: ['--distributed', 'kavg', '--k', '4'] },
  { name: 'K-AVG K = 16', np: 2, flags: ['--distributed', 'kavg', '--k', '16'] },
  { name: 'BMUF K = 4, μ = 0.5 (1 − 1/P)', np: 2, flags: ['--distributed', 'bmuf', '--k', '4'] },
  { name: 'BMUF K = 4, μ = 0.9', np: 2, flags: ['--distributed', 'bmuf', '--k', '4', '--block-momentum', '0.9'] },
  {
    name: 'Hier-AVG K1 = 4, K2 = 16 (P = 4 oversubscribed, 2 ranks per "node")',
    np: 4,
    flags: ['--distributed', 'hieravg', '--local-k', '4', '--global-k', '16', '--ranks-per-node', '2'],
  },
  { name: 'K-AVG K = 16 (P = 4 oversubscribed)', np: 4, flags: ['--distributed', 'kavg', '--k', '16'] },
];
const runs = only ? all.filter((r) => r.name.startsWith(only)) : all;
const rows = [];
try {
  for (const [i, r] of runs.entries()) {
    const out = join(dir, `run${i}`);
    const args = [...common, '--out', out, ...r.flags, ...(r.np ? ['--threads', '1'] : [])];
    const t0 = performance.now();
    const p = r.np
      ? spawnSync('mpirun', ['-np', String(r.np), '--oversubscribe', process.execPath, cli, ...args], {
          encoding: 'utf8',
          env,
        })
      : spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
    const wall = (performance.now() - t0) / 1000;
    if (p.status !== 0) throw new Error(`${r.name}: ${p.stderr}`);
    const res = JSON.parse(p.stdout.trim().split('\n').pop());
    const hist = JSON.parse(readFileSync(join(out, 'epochs.json'), 'utf8'));
    let ms = 0,
      hit = null;
    for (const h of hist) {
      ms += h.ms;
      if (hit === null && h[metric] !== null && h[metric] >= target) hit = { epoch: h.epoch, s: ms / 1000 };
    }
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    const d = res.distributed;
    const perEpoch = d ? d.bytes_sent_per_rank / hist.length : 0;
    rows.push({
      name: r.name,
      ranks: r.np || 1,
      epochs: hist.length,
      best_epoch: res.best_epoch,
      target_epoch: hit?.epoch ?? null,
      target_s: hit?.s ?? null,
      epoch_ms: ms / hist.length,
      wall_s: wall,
      test: res[testKey],
      steps_per_epoch: nodes ? 1 : Math.ceil(metrics.train_molecules / 64),
      bytes_per_epoch: perEpoch,
      ...(d?.cut_edges !== undefined ? { cut_edges: d.cut_edges, edges: d.edges } : {}),
    });
    console.log(JSON.stringify(rows[rows.length - 1]));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const what = nodes ? 'val accuracy' : 'val ROC-AUC',
  test = nodes ? 'test accuracy' : 'test ROC-AUC';
console.log(
  `\n| run | ranks | steps/epoch per rank | epochs to ${what} ≥ ${target} | time to it (s) | mean epoch (ms) | best epoch's ${test} | KiB sent per rank per epoch |\n|---|---|---|---|---|---|---|---|`,
);
for (const r of rows)
  console.log(
    `| ${r.name} | ${r.ranks} | ${r.steps_per_epoch} | ${r.target_epoch ?? 'not reached'} | ${r.target_s === null ? '–' : r.target_s.toFixed(1)} | ${r.epoch_ms.toFixed(0)} | ${r.test.toFixed(4)} | ${(r.bytes_per_epoch / 1024).toFixed(0)} |`,
  );
