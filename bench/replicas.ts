// node dist/bench/replicas.js [--threads 2] [--epochs 300] [--members 8] [--rounds 2]
//
// Where a replica run's time goes (issue 31): the founding study's GCN ensemble members
// (graft scaling's genomic task) as independent trainings on worker threads. Per round, the
// replicas two ways, alternating:
//   cold    a CvPool started for the call, as runCvJobs does: threads started, each worker's
//           runtime made (kernels instantiated), then the members with cold JavaScript;
//   warm    a pool started once, each worker warmed by one member, then the members timed
//           (what graft scaling's replicas row times, as its intra-op row skips its first member);
// and the members one after another on one thread (warmed the same way), the baseline.
// Printed per round: start-up (pool, runtime per worker), warm-up member, the timed members,
// and ms per epoch. Structure, not load: per member one task message and one result message
// (no per-epoch synchronisation with the main thread), and no per-op dispatch (each worker's
// runtime has one thread, so every op runs inline on it).
import { genomicData, memberJobs } from '../src/cli/commands/scaling.js';
import { CvPool, runCvJobs } from '../src/genomics/cv-pool.js';
import { GCN_GP_DEFAULTS, type GcnRegressorConfig } from '../src/train/gcn-regressor.js';
import { flag } from './measure.js';

const threads = Number(flag('threads') ?? 2);
const epochs = Number(flag('epochs') ?? 300);
const members = Number(flag('members') ?? 8);
const rounds = Number(flag('rounds') ?? 2);

async function main(): Promise<void> {
  const g = await genomicData(() => {});
  const gcn: GcnRegressorConfig = { ...GCN_GP_DEFAULTS, epochs, patience: 0, ensemble: members };
  const { folds, jobs } = memberJobs(g, members);
  const init = { data: g.data, folds, gcn };
  const perEpoch = (ms: number): number => +(ms / (members * epochs)).toFixed(4);
  for (let round = 1; round <= rounds; round++) {
    for (const t of [1, threads]) {
      // Warm: start-up and a warm-up member per worker untimed, then the members.
      const { pool, startup } = await CvPool.start(init, t);
      try {
        const warm = await pool.warm(jobs[0]!);
        const t0 = performance.now();
        await pool.run(jobs);
        const ms = performance.now() - t0;
        console.log(
          JSON.stringify({
            round,
            threads: t,
            how: 'warm',
            startup_ms: +startup.totalMs.toFixed(1),
            runtime_ms: startup.workers.map((w) => +w.runtimeMs.toFixed(1)),
            warmup_member_ms: warm.map((w) => +w.jobMs.toFixed(1)),
            members_ms: +ms.toFixed(1),
            ms_per_epoch: perEpoch(ms),
          }),
        );
      } finally {
        await pool.close();
      }
      if (t === 1) continue;
      // Cold: what replicas cost before (everything inside the time).
      const t0 = performance.now();
      await runCvJobs(init, jobs, t);
      const ms = performance.now() - t0;
      console.log(
        JSON.stringify({ round, threads: t, how: 'cold', total_ms: +ms.toFixed(1), ms_per_epoch: perEpoch(ms) }),
      );
    }
  }
}

await main();
