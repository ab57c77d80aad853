import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';

// A one-node Slurm cluster of Debian's real daemons (munged, slurmctld, slurmd) in a scratch
// folder, for the tests: its own munge key and socket, its own slurm.conf and ports, started
// as root with the settings a one-node cluster needs (proctrack/linuxproc, task/none) and
// stopped with every daemon it started.

const TOOLS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo'];

/** Why this machine cannot run the cluster (tools missing, not root), or null when it can. */
export function slurmUnavailable(): string | null {
  const missing = TOOLS.filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
  if (missing.length)
    return `Slurm or munge is not installed (${missing.join(', ')} missing; .ci/run installs slurm-wlm and munge with apt-get)`;
  if (process.getuid?.() !== 0) return 'the one-node test cluster runs its daemons as root, and this is not root';
  return null;
}

export interface SlurmCluster {
  dir: string;
  env: Record<string, string>;
  /** Runs a Slurm client command against this cluster; its stdout. */
  run(cmd: string, args: string[]): string;
  stop(): Promise<void>;
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`slurm test cluster: ${what} did not happen within ${ms / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function startSlurm(dir: string): Promise<SlurmCluster> {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const munge = join(dir, 'munge');
  mkdirSync(munge, { mode: 0o700 });
  writeFileSync(join(munge, 'munge.key'), randomBytes(1024), { mode: 0o400 });
  const socket = join(munge, 'munge.socket');
  const m = spawnSync(
    'munged',
    [
      '--force',
      `--socket=${socket}`,
      `--key-file=${join(munge, 'munge.key')}`,
      `--pid-file=${join(munge, 'munged.pid')}`,
      `--log-file=${join(munge, 'munged.log')}`,
      `--seed-file=${join(munge, 'munged.seed')}`,
    ],
    { encoding: 'utf8' },
  );
  if (m.status !== 0) throw new Error(`munged did not start: ${m.stderr}`);
  chmodSync(munge, 0o755); // slurmd and the client tools reach the socket through it
  const port = 20000 + Math.floor(Math.random() * 20000);
  const host = hostname();
  const conf = join(dir, 'slurm.conf');
  mkdirSync(join(dir, 'state'));
  mkdirSync(join(dir, 'spool'));
  writeFileSync(
    conf,
    [
      'ClusterName=graft-test',
      `SlurmctldHost=${host}`,
      'AuthType=auth/munge',
      `AuthInfo=socket=${socket}`,
      'CredType=cred/munge',
      'SlurmUser=root',
      'SlurmdUser=root',
      `StateSaveLocation=${join(dir, 'state')}`,
      `SlurmdSpoolDir=${join(dir, 'spool')}`,
      `SlurmctldPidFile=${join(dir, 'slurmctld.pid')}`,
      `SlurmdPidFile=${join(dir, 'slurmd.pid')}`,
      `SlurmctldPort=${port}`,
      `SlurmdPort=${port + 1}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SchedulerType=sched/backfill',
      'SelectType=select/cons_tres',
      'SelectTypeParameters=CR_Core',
      'ReturnToService=2',
      'MpiDefault=none',
      'JobAcctGatherType=jobacct_gather/none',
      `SlurmctldLogFile=${join(dir, 'slurmctld.log')}`,
      `SlurmdLogFile=${join(dir, 'slurmd.log')}`,
      `NodeName=${host} CPUs=2 State=UNKNOWN`,
      'PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, SLURM_CONF: conf } as Record<string, string>;
  const daemons: ChildProcess[] = ['slurmctld', 'slurmd'].map((d) => spawn(d, ['-D'], { env, stdio: 'ignore' }));
  const run = (cmd: string, args: string[]): string => {
    const r = spawnSync(cmd, args, { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.stdout}`);
    return r.stdout;
  };
  const stop = async (): Promise<void> => {
    // Slurm's daemons first, while munge still answers them (a daemon whose munge is gone can
    // spend a minute in its shutdown retries); one that is still up after 10 s is killed.
    for (const d of daemons) d.kill('SIGTERM');
    const exited = (d: (typeof daemons)[number]): Promise<unknown> =>
      d.exitCode !== null || d.signalCode !== null ? Promise.resolve() : new Promise((r) => d.once('exit', r));
    const grace = new Promise((r) => setTimeout(r, 10_000).unref());
    await Promise.race([Promise.all(daemons.map(exited)), grace]);
    for (const d of daemons) if (d.exitCode === null && d.signalCode === null) d.kill('SIGKILL');
    await Promise.all(daemons.map(exited));
    const pid = join(munge, 'munged.pid');
    if (existsSync(pid)) {
      try {
        process.kill(Number(readFileSync(pid, 'utf8')), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  };
  try {
    await until(
      'the node coming up idle',
      () => {
        try {
          return /idle/.test(run('sinfo', ['-h', '-o', '%t']));
        } catch {
          return false;
        }
      },
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { dir, env, run, stop };
}
