// A genomic prediction study: GBLUP and rrBLUP under 3-fold cross-validation on the synthetic
// set shipped with the package (300 samples, 1,500 markers, 'yield' with h² = 0.5 and
// 'height' with h² = 0.8). Add 'gcn' to `models` for the graph network (minutes, not seconds).
//   node examples/genomic-study.mjs
import { fileURLToPath } from 'node:url';
import { GCN_GP_DEFAULTS, runStudy } from 'graft-gnn';

// The package's own copy of the data: dist/src/index.js → the package root.
const dir = fileURLToPath(new URL('../../data/synthetic-gp/', import.meta.resolve('graft-gnn')));
const res = await runStudy({
  geno: `${dir}genotypes.csv.gz`,
  pheno: `${dir}phenotypes.csv`,
  traits: ['yield', 'height'],
  qc: { minMaf: 0.01, minCallRate: 0.9 },
  features: 'pcs',
  pcs: 20,
  graph: 'knn',
  knn: 5,
  threshold: 0,
  models: ['gblup', 'rrblup'],
  k: 3,
  repeats: 1,
  seed: 1,
  threads: 2,
  gcn: GCN_GP_DEFAULTS,
});
console.log(res.protocol);
for (const [model, traits] of Object.entries(res.table)) {
  for (const [trait, s] of Object.entries(traits)) {
    console.log(`${model} ${trait}: r = ${s.r_mean.toFixed(3)} ± ${s.r_sd.toFixed(3)} over ${s.folds} folds`);
  }
}
