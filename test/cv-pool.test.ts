import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CvPool, runCvJobs } from '../src/genomics/cv-pool.js';
import type { CvJob, FoldPlan } from '../src/genomics/job-types.js';
import { prepareStudy } from '../src/genomics/study-data.js';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { Runtime } from '../src/runtime/runtime.js';
import { kFoldSplits } from '../src/train/cv.js';
import { GCN_GP_DEFAULTS, type GcnRegressorConfig } from '../src/train/gcn-regressor.js';

// Replicas (graft scaling's ensemble members as independent trainings): a pool started once,
// each worker warmed by one member behind a barrier, then the members at once. The oracle is
// the same members trained one after another on one thread: every prediction has its bits.

describe('CvPool (replicas on worker threads)', () => {
  it('warms each worker exactly once, and its members predict the bits of a one-thread run', async () => {
    const rt = await Runtime.create({ threads: 1 });
    const { data } = await prepareStudy(rt, {
      geno: join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
      pheno: join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
      traits: ['yield'],
      features: 'markers',
      pcs: 20,
      graph: 'knn',
      knn: 5,
      threshold: 0,
    });
    await rt.close();
    const y = data.y[0]!;
    const folds: FoldPlan = [
      kFoldSplits(
        data.n,
        5,
        1,
        Array.from({ length: data.n }, (_, i) => Number.isFinite(y[i]!)),
      ),
    ];
    const gcn: GcnRegressorConfig = { ...GCN_GP_DEFAULTS, hidden: 16, epochs: 15, patience: 0, ensemble: 3 };
    const jobs: CvJob[] = [0, 1, 2].map((member) => ({ model: 'gcn', repeat: 0, fold: 1, traits: [0], member }));
    const init = { data, folds, gcn };
    const serial = await runCvJobs(init, jobs, 1);
    const { pool, startup } = await CvPool.start(init, 2);
    try {
      expect(startup.workers).toHaveLength(2);
      const warm = await pool.warm(jobs[0]!);
      // The barrier hands one warm-up to each worker: two different threads.
      expect(new Set(warm.map((w) => w.threadId)).size).toBe(2);
      const replicas = await pool.run(jobs);
      expect(replicas.map((r) => r.job.member)).toEqual([0, 1, 2]);
      replicas.forEach((r, i) => {
        expect(r.perTrait[0]!.test).toEqual(serial[i]!.perTrait[0]!.test);
        expect(new Float64Array(r.perTrait[0]!.predicted)).toEqual(new Float64Array(serial[i]!.perTrait[0]!.predicted));
      });
      // Members differ from each other (different seeds), so equal bits above are not a constant.
      expect(replicas[0]!.perTrait[0]!.predicted).not.toEqual(replicas[1]!.perTrait[0]!.predicted);
    } finally {
      await pool.close();
    }
  });
});
