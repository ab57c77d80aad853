// The README's int8 accuracy table: graft train, then graft quantize --int8, on Cora and
// CiteSeer (seeds 1-5) and Tox21 (seed 1, random split), printing float and int8 test figures
// side by side and the model sizes. Needs ../shared/data. Not run in CI (Tox21 trains ~1 min).
//   node bench/int8-accuracy.mjs [--seeds 5] [--no-tox21]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'src', 'cli', 'main.js');
const arg = (k, d) => {
  const i = process.argv.indexOf(`--${k}`);
  return i >= 0 ? process.argv[i + 1] : d;
};
const seeds = Number(arg('seeds', '5'));
const dir = mkdtempSync(join(tmpdir(), 'graft-int8-'));
const graft = (args) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`graft ${args.join(' ')}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
};
const rows = [];
try {
  for (const dataset of ['cora', 'citeseer']) {
    const f = [],
      q = [];
    let bytes;
    for (let s = 1; s <= seeds; s++) {
      const run = join(dir, `${dataset}-${s}`);
      graft(['train', '--dataset', dataset, '--seed', String(s), '--threads', '2', '--out', run, '--quiet']);
      const r = graft(['quantize', '--run', run, '--int8']);
      f.push(r.float.test_accuracy);
      q.push(r.int8.test_accuracy);
      bytes = r.bytes;
    }
    const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
    rows.push({
      dataset,
      metric: 'test accuracy',
      seeds,
      float: mean(f),
      int8: mean(q),
      worst_drop: Math.max(...f.map((v, i) => v - q[i])),
      float_bytes: bytes.float_model,
      int8_bytes: bytes.int8_model,
    });
  }
  if (!process.argv.includes('--no-tox21')) {
    const run = join(dir, 'tox21');
    graft([
      'train',
      '--task',
      'graph',
      '--data',
      join(root, '..', 'shared', 'data', 'moleculenet', 'tox21.csv'),
      '--threads',
      '2',
      '--out',
      run,
      '--quiet',
    ]);
    const r = graft(['quantize', '--run', run, '--int8']);
    rows.push({
      dataset: 'tox21',
      metric: 'test ROC-AUC',
      seeds: 1,
      float: r.float.test_roc_auc,
      int8: r.int8.test_roc_auc,
      worst_drop: r.float.test_roc_auc - r.int8.test_roc_auc,
      float_bytes: r.bytes.float_model,
      int8_bytes: r.bytes.int8_model,
    });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
for (const r of rows) console.log(JSON.stringify(r));
console.log('| data set | metric | float | int8 | largest drop | model file float → int8 |\n|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.dataset} | ${r.metric}${r.seeds > 1 ? `, mean of seeds 1–${r.seeds}` : ''} | ${r.float.toFixed(4)} | ${r.int8.toFixed(4)} | ${r.worst_drop.toFixed(4)} | ${(r.float_bytes / 1024).toFixed(1)} → ${(r.int8_bytes / 1024).toFixed(1)} KiB |`,
  );
