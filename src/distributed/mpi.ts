import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../core/paths.js';

// The optional MPI addon (native/mpi.cc, built at install by scripts/build-mpi.mjs when mpicc
// is there). Communicator 0 is MPI_COMM_WORLD; split and splitShared return new ones.

export interface MpiBinding {
  init(): void;
  finalize(): void;
  rank(comm?: number): number;
  size(comm?: number): number;
  barrier(comm?: number): void;
  broadcast(a: ArrayBufferView, root: number, comm?: number): void;
  /** MPI_Allreduce(MPI_SUM) in place: the reduction order is MPI's. */
  allreduce(a: Float32Array, comm?: number): void;
  /** In place: the sum over ranks 0, 1, … in that order, the same bits on every rank. */
  allreduceOrdered(a: Float32Array, comm?: number): void;
  /** The ranks on this host (MPI_COMM_TYPE_SHARED). */
  splitShared(): number;
  split(color: number, key: number): number;
  processorName(): string;
  abort(code: number): never;
}

export const MPI_ADDON = (): string => join(packageRoot(), 'native', 'build', 'Release', 'graft_mpi.node');

let loaded: MpiBinding | string | null = null;

/** The addon, or why it cannot be had. */
export function loadMpi(): MpiBinding | string {
  if (loaded !== null) return loaded;
  const file = MPI_ADDON();
  if (!existsSync(file)) {
    loaded = `the MPI addon is not built (${file} is missing): install Open MPI (apt-get install openmpi-bin libopenmpi-dev), then run 'node scripts/build-mpi.mjs' or npm install again`;
    return loaded;
  }
  try {
    loaded = createRequire(import.meta.url)(file) as MpiBinding;
  } catch (err) {
    loaded = `the MPI addon ${file} does not load: ${(err as Error).message}`;
  }
  return loaded;
}

/** Launched by mpirun or srun: the launcher's rank variables are set. */
export function launchedByMpi(): boolean {
  const e = process.env;
  return (
    e['OMPI_COMM_WORLD_SIZE'] !== undefined ||
    e['PMIX_RANK'] !== undefined ||
    e['PMI_RANK'] !== undefined ||
    (e['SLURM_STEP_ID'] !== undefined && e['SLURM_NTASKS'] !== undefined)
  );
}
