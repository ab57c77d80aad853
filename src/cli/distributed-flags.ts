import { choice, intAtLeast, num } from './args.js';
import { GraftError } from '../core/errors.js';
import { RankAveraging } from '../distributed/averaging.js';
import { loadMpi, type MpiBinding } from '../distributed/mpi.js';

// The flags of distributed training, shared by graft train's node and graph tasks.

export const DISTRIBUTED_USAGE = `[--distributed sync|kavg|hieravg|bmuf --k 4 --local-k 4 --global-k 16 --block-momentum 1-1/P --block-lr 1 --nesterov
               --ranks-per-node N]   (under mpirun -np P or srun --mpi=pmix)`;

export const DISTRIBUTED_OPTIONS = {
  distributed: { type: 'string' },
  k: { type: 'string' },
  'local-k': { type: 'string' },
  'global-k': { type: 'string' },
  'block-momentum': { type: 'string' },
  'block-lr': { type: 'string' },
  nesterov: { type: 'boolean' },
  'ranks-per-node': { type: 'string' },
} as const;

export interface DistributedFlags {
  distributed?: string;
  k?: string;
  'local-k'?: string;
  'global-k'?: string;
  'block-momentum'?: string;
  'block-lr'?: string;
  nesterov?: boolean;
  'ranks-per-node'?: string;
  resume?: boolean;
}

export interface Distributed {
  mpi: MpiBinding;
  rank: number;
  ranks: number;
  sync: RankAveraging;
}

/** MPI up, this rank's place, and the averaging the flags ask for. */
export function startDistributed(v: DistributedFlags): Distributed {
  const mode = choice(v.distributed, '--distributed', ['sync', 'kavg', 'hieravg', 'bmuf'], 'sync');
  const mpi = loadMpi();
  if (typeof mpi === 'string') throw new GraftError(`--distributed needs MPI: ${mpi}`);
  if (v.resume)
    throw new GraftError(
      "--resume is not supported with --distributed (each rank keeps its own optimizer state; the checkpoint holds rank 0's)",
    );
  mpi.init();
  const rank = mpi.rank(),
    ranks = mpi.size();
  const perNode = num(v['ranks-per-node'], '--ranks-per-node', true);
  if (perNode !== undefined && (perNode < 1 || ranks % perNode !== 0))
    throw new GraftError(`--ranks-per-node must divide the ${ranks} ranks, got ${perNode}`);
  // The Hier-AVG group: the ranks of this host, or blocks of --ranks-per-node (to emulate nodes on one machine).
  const local = perNode === undefined ? mpi.splitShared() : mpi.split(Math.floor(rank / perNode), rank);
  const k = intAtLeast(v.k, '--k', 4, 1, 'step');
  const sync = new RankAveraging(
    mpi,
    {
      mode,
      k,
      localK: intAtLeast(v['local-k'], '--local-k', k, 1, 'step'),
      globalK: intAtLeast(v['global-k'], '--global-k', 4 * k, 1, 'step'),
      // Chen & Huo's choice of block momentum for P learners: μ = 1 − 1/P.
      blockMomentum: num(v['block-momentum'], '--block-momentum') ?? (mode === 'bmuf' ? 1 - 1 / ranks : 0),
      blockLr: num(v['block-lr'], '--block-lr') ?? 1,
      nesterov: v.nesterov === true,
    },
    local,
  );
  return { mpi, rank, ranks, sync };
}

/**
 * Runs a training job on every rank. One rank failing stops them all: MPI_Abort ends the
 * job, and the last checkpoint (written atomically by rank 0) stays as it was.
 */
export async function runOnRanks(dist: Distributed, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    console.error(
      `graft train: rank ${dist.rank} of ${dist.ranks} failed: ${(err as Error).message}; stopping every rank`,
    );
    dist.mpi.abort(2);
    return 2;
  } finally {
    dist.mpi.finalize();
  }
}
