// npm run bench:branches [-- --epochs 60]
// The founding study's branched model (the synthetic set's markers in 2 blocks, one GCN branch
// each) trained at 1 thread and at 2 with each placement of its branches, one JSON line per
// case: {"case":"branches","threads","placement","ms_per_epoch","speedup"}. Each fit follows
// an untimed warm-up fit of the same placement; every placement gives the same predictions.
import { join } from 'node:path';
import { packageRoot } from '../src/core/paths.js';
import { prepareStudy } from '../src/genomics/study-data.js';
import { Runtime } from '../src/runtime/runtime.js';
import { GCN_GP_DEFAULTS, trainGcnRegressor, type GcnRegressorHooks } from '../src/train/gcn-regressor.js';
import { flag } from './measure.js';

const epochs = Number(flag('epochs') ?? 60);
const dir = join(packageRoot(), 'data', 'synthetic-gp');
let serial = NaN;
for (const threads of [1, 2]) {
  const rt = await Runtime.create({ threads });
  try {
    const { data } = await prepareStudy(rt, {
      geno: join(dir, 'genotypes.csv.gz'),
      pheno: join(dir, 'phenotypes.csv'),
      traits: ['height'],
      features: 'markers',
      pcs: 50,
      graph: 'knn',
      knn: 5,
      threshold: 0,
      branches: 2,
    });
    const train = Int32Array.from({ length: data.n }, (_, i) => i).filter((i) => Number.isFinite(data.y[0]![i]!));
    const input = {
      n: data.n,
      features: data.features,
      f: data.f,
      src: data.src,
      dst: data.dst,
      y: data.y[0]!,
      train,
      featureBlocks: data.featureBlocks!,
    };
    const placements: NonNullable<GcnRegressorHooks['branches']>[] =
      threads === 1 ? ['inline'] : ['workers', 'groups', 'inline', 'serial'];
    for (const branches of placements) {
      const cfg = { ...GCN_GP_DEFAULTS, epochs, patience: 0, ensemble: 1 };
      await trainGcnRegressor(rt, input, cfg, { branches });
      const t0 = performance.now();
      await trainGcnRegressor(rt, input, cfg, { branches });
      const ms = (performance.now() - t0) / epochs;
      if (threads === 1) serial = ms;
      console.log(
        JSON.stringify({
          case: 'branches',
          threads,
          placement: branches,
          ms_per_epoch: +ms.toFixed(3),
          speedup: +(serial / ms).toFixed(3),
        }),
      );
    }
  } finally {
    await rt.close();
  }
}
