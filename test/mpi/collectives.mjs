// Run by test/mpi.test.ts under mpirun (or srun --mpi=pmix): the MPI addon's collectives and
// the averaging algorithms on a problem small enough to check by hand. Prints one JSON line
// per rank. Usage: mpirun -np P node collectives.mjs ADDON_ROOT
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const root = process.argv[2];
const { loadMpi } = await import(pathToFileURL(join(root, 'dist', 'src', 'distributed', 'mpi.js')).href);
const { RankAveraging } = await import(pathToFileURL(join(root, 'dist', 'src', 'distributed', 'averaging.js')).href);
const mpi = loadMpi();
if (typeof mpi === 'string') {
  console.error(mpi);
  process.exit(3);
}
mpi.init();
const rank = mpi.rank(),
  size = mpi.size();

// 1. Allreduce: rank r holds r·0.1 + i/7 (not exact in binary, so the order of the sum shows).
const n = 1000;
const mine = Float32Array.from({ length: n }, (_, i) => Math.fround(rank * 0.1 + i / 7));
const ordered = mine.slice(),
  plain = mine.slice();
mpi.allreduceOrdered(ordered);
mpi.allreduce(plain);

// 2. Linear regression by SGD, each rank on its own rows: y = x·w*, loss ½‖xw − y‖²/m.
const f = 6,
  m = 16,
  steps = 12,
  lr = 0.05;
const wTrue = Float32Array.from({ length: f }, (_, j) => j - 2.5);
const xs = Float32Array.from({ length: m * f }, (_, i) => Math.fround(Math.sin(rank * 97 + i * 1.3)));
const ys = Float32Array.from({ length: m }, (_, r) => {
  let s = 0;
  for (let j = 0; j < f; j++) s += xs[r * f + j] * wTrue[j];
  return Math.fround(s);
});
const tensor = (a) => ({ size: a.length, data: () => a });
function train(options) {
  const local = mpi.split(Math.floor(rank / (options.perNode ?? size)), rank);
  const avg = new RankAveraging(
    mpi,
    { k: 1, localK: 1, globalK: 1, blockMomentum: 0, blockLr: 1, nesterov: false, ...options },
    local,
  );
  const w = new Float32Array(f),
    g = new Float32Array(f);
  for (let s = 0; s < steps; s++) {
    g.fill(0);
    for (let r = 0; r < m; r++) {
      let e = -ys[r];
      for (let j = 0; j < f; j++) e += xs[r * f + j] * w[j];
      for (let j = 0; j < f; j++) g[j] = Math.fround(g[j] + Math.fround((e * xs[r * f + j]) / m));
    }
    avg.gradients([tensor(g)], [tensor(w)]);
    for (let j = 0; j < f; j++) w[j] = Math.fround(w[j] - Math.fround(lr * g[j]));
    avg.afterStep([tensor(w)]);
  }
  avg.beforeValidation([tensor(w)]);
  return { w: Array.from(w), stats: avg.stats };
}
const out = {
  rank,
  size,
  host: mpi.processorName(),
  ordered: Array.from(ordered.subarray(0, 8)),
  orderedHash: ordered.reduce((a, v, i) => a + v * (i + 1), 0),
  plain: Array.from(plain.subarray(0, 8)),
  mine: Array.from(mine.subarray(0, 8)),
  sync: train({ mode: 'sync' }),
  kavg1: train({ mode: 'kavg', k: 1 }),
  kavg4: train({ mode: 'kavg', k: 4 }),
  hier44: train({ mode: 'hieravg', localK: 4, globalK: 4, perNode: Math.max(1, size / 2) }),
  hier28: train({ mode: 'hieravg', localK: 2, globalK: 8, perNode: Math.max(1, size / 2) }),
  bmuf: train({ mode: 'bmuf', k: 4, blockMomentum: 0.5 }),
};
console.log(JSON.stringify(out));
mpi.finalize();
