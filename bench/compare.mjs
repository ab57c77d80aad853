#!/usr/bin/env node
// npm run bench:compare [-- --threads 1,2] [--only cora,arxiv] [--reps 10] [--out FILE.json]
// Graft against PyTorch on every shared workload at each thread count, in one run on one
// machine: for every (threads, workload) the two run back to back, alternating which goes
// first, so both see the same machine. Prints the ratio table (Graft / PyTorch, below 1.0 is
// Graft faster) at equal threads, then best against best. Graft's side is `graft bench`
// (the lines `npm run bench` prints); PyTorch's is bench/torch_bench.py, which refuses to run
// on the reference BLAS. Needs Debian's python3-torch and libopenblas0-pthread; not in CI.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const threads = arg('threads', '1,2').split(',').map(Number);
const reps = arg('reps', '10');
const python = arg('python', '/usr/bin/python3');
const workloadsFile = arg('workloads', join(root, '..', 'shared', 'bench', 'workloads.json'));
const names = arg('only')
  ? arg('only').split(',')
  : JSON.parse((await import('node:fs')).readFileSync(workloadsFile, 'utf8')).workloads.map((w) => w.name);

function lines(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}
const graft = (w, t) =>
  lines(process.execPath, [
    join(root, 'dist', 'src', 'cli', 'main.js'),
    'bench',
    '--workloads',
    workloadsFile,
    '--only',
    w,
    '--threads',
    String(t),
    '--reps',
    reps,
  ]);
const torch = (w, t) =>
  lines(python, [
    join(root, 'bench', 'torch_bench.py'),
    '--workloads',
    workloadsFile,
    '--only',
    w,
    '--threads',
    String(t),
    '--reps',
    reps,
  ]);

const results = [];
let turn = 0;
for (const t of threads) {
  for (const w of names) {
    const order =
      turn++ % 2 === 0
        ? [
            ['graft', graft],
            ['torch', torch],
          ]
        : [
            ['torch', torch],
            ['graft', graft],
          ];
    const got = {};
    for (const [who, run] of order) got[who] = run(w, t);
    const g = got.graft.find((l) => !l.mode && !l.precision),
      p = got.torch[0];
    results.push({
      workload: w,
      threads: t,
      graft: g,
      torch: p,
      graftVariants: got.graft.filter((l) => l.mode || l.precision),
    });
    console.error(
      `compare: ${w} ×${t}: Graft ${g.train_ms} / ${g.infer_ms} ms, PyTorch ${p.train_ms} / ${p.infer_ms} ms`,
    );
  }
}

const r2 = (x) => x.toFixed(2);
const out = [];
const blas = results[0]?.torch.blas ?? '?';
out.push(
  `Graft vs PyTorch (${results[0]?.torch.impl}, BLAS: ${blas}), node ${process.version}, ${new Date().toISOString().slice(0, 10)}.`,
);
out.push('Median ms per training epoch / per inference; ratio = Graft / PyTorch (below 1.0: Graft is faster).', '');
out.push(
  '| workload | threads | PyTorch train / infer | Graft train / infer | ratio train / infer |',
  '| --- | --- | --- | --- | --- |',
);
for (const r of results) {
  out.push(
    `| ${r.workload} | ${r.threads} | ${r.torch.train_ms} / ${r.torch.infer_ms} | ${r.graft.train_ms} / ${r.graft.infer_ms} | ${r2(r.graft.train_ms / r.torch.train_ms)} / ${r2(r.graft.infer_ms / r.torch.infer_ms)} |`,
  );
}
out.push(
  '',
  'Best against best (each at its fastest thread count):',
  '',
  '| workload | PyTorch train / infer | Graft train / infer | ratio train / infer |',
  '| --- | --- | --- | --- |',
);
for (const w of names) {
  const rs = results.filter((r) => r.workload === w);
  const best = (side, m) => rs.reduce((b, r) => (r[side][m] < b[side][m] ? r : b))[side][m];
  const [pt, pi, gt, gi] = [
    best('torch', 'train_ms'),
    best('torch', 'infer_ms'),
    best('graft', 'train_ms'),
    best('graft', 'infer_ms'),
  ];
  out.push(`| ${w} | ${pt} / ${pi} | ${gt} / ${gi} | ${r2(gt / pt)} / ${r2(gi / pi)} |`);
}
console.log(out.join('\n'));
if (arg('out')) writeFileSync(arg('out'), `${JSON.stringify(results, null, 1)}\n`);
