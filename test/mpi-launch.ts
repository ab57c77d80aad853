import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MPI_ADDON } from '../src/distributed/mpi.js';
import { collect } from './helpers.js';

// Launching processes under Debian's Open MPI for the tests that need real ranks (mpi.test.ts,
// sampled-distributed.test.ts): why they skip, and mpirun with what it needs as root in CI.

/** Why MPI tests cannot run here (no mpirun, or the addon not built), or null when they can. */
export const mpiSkipReason: string | null =
  spawnSync('sh', ['-c', 'command -v mpirun']).status !== 0
    ? 'no mpirun (apt-get install openmpi-bin libopenmpi-dev; .ci/run installs them)'
    : !existsSync(MPI_ADDON())
      ? `the MPI addon is not built (${MPI_ADDON()}; node scripts/build-mpi.mjs builds it)`
      : null;

/** What Open MPI needs to run as root in a container (CI) with no shared-memory single copy. */
const ROOT_ENV = {
  OMPI_ALLOW_RUN_AS_ROOT: '1',
  OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
  OMPI_MCA_btl_vader_single_copy_mechanism: 'none',
};

/** A finished process's exit status and output. */
export interface Finished {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end with Open MPI's root environment, collecting its output. */
export function runProcess(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return collect(spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...ROOT_ENV, ...env } }));
}

/**
 * `mpirun -np P --oversubscribe ARGS`. Each launch gets a session directory of its own:
 * mpiruns started together race to create the shared /tmp/ompi.<host>.<uid> and one fails
 * with 'File exists' (seen in CI).
 */
export async function mpirun(np: number, args: string[], env: Record<string, string> = {}): Promise<Finished> {
  const session = mkdtempSync(join(tmpdir(), 'graft-ompi-'));
  try {
    return await runProcess(
      'mpirun',
      ['-np', String(np), '--oversubscribe', '--mca', 'orte_tmpdir_base', session, ...args],
      env,
    );
  } finally {
    rmSync(session, { recursive: true, force: true });
  }
}
