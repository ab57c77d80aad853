import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GraftError } from '../core/errors.js';
import { ensureDir, writeFileAtomic } from '../core/atomic-write.js';
import { latestGoodCheckpoint, type ResumePoint } from '../train/checkpoint.js';

/**
 * Writes a run's per-epoch records as CSV and JSON plus SVG curves of every loss and metric,
 * each with its Vega-Lite spec beside it (loss.vl.json). Async because it loads the chart
 * renderer (vega) only now, when a run has something to draw.
 */
export async function writeHistory(dir: string, history: Record<string, number>[]): Promise<void> {
  ensureDir(dir);
  if (history.length === 0) return;
  const cols = Object.keys(history[0]!);
  const csv = `${[cols.join(','), ...history.map((r) => cols.map((c) => fmt(r[c]!)).join(','))].join('\n')}\n`;
  writeFileAtomic(join(dir, 'epochs.csv'), csv);
  writeFileAtomic(join(dir, 'epochs.json'), `${JSON.stringify(history, null, 1)}\n`);
  const x = history.map((r) => r['epoch']!);
  const losses = cols.filter((c) => c.endsWith('loss'));
  const others = cols.filter((c) => c !== 'epoch' && c !== 'ms' && !c.endsWith('loss'));
  const { writeChart, lineChartSpec } = await import('./reports/charts/index.js');
  writeChart(
    join(dir, 'loss.svg'),
    lineChartSpec(
      'Loss',
      'epoch',
      losses.map((c) => ({ name: c, values: history.map((r) => r[c]!) })),
      { x },
    ),
  );
  if (others.length)
    writeChart(
      join(dir, 'metrics.svg'),
      lineChartSpec(
        'Metrics',
        'epoch',
        others.map((c) => ({ name: c, values: history.map((r) => r[c]!) })),
        { x },
      ),
    );
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(7);
}

const LOCK = '.graft.lock';
/** What marks a folder as a graft run's: --overwrite empties only folders holding one of these. */
const RUN_MARKERS = [
  'config.json',
  'results.json',
  'metrics.json',
  'scaling.json',
  'checkpoint.safetensors',
  'checkpoint.prev.safetensors',
  'jobs',
  'explanations.json',
];

export interface RunFolderClaim {
  /** The command, for the lock file and messages. */
  command: string;
  /** Replace a finished run's folder (only one that holds a graft run). */
  overwrite?: boolean;
  /** Continue the run in the folder: its files stay. */
  resume?: boolean;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes a run folder for one run: a run folder is never silently mixed with another run.
 * - Two processes given the same folder cannot interleave: a lock file holds the PID, and a
 *   lock whose process is gone is stale and taken over.
 * - A folder that already holds another run's files is refused unless `overwrite` (then it
 *   is emptied, only if it is a graft run's folder) or `resume` (then its files stay).
 * - An empty or new folder is fine.
 * Returns the release to call when the run ends: the lock goes, the results stay, and a
 * folder this claim created that is still empty (a failed run) is removed.
 */
export function claimRunFolder(dir: string, o: RunFolderClaim): () => void {
  const created = !existsSync(dir);
  try {
    ensureDir(dir);
  } catch (err) {
    // Before any training: a path under a regular file, a read-only or full disk.
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOTDIR'
        ? 'a part of the path is a file, not a folder'
        : code === 'EEXIST'
          ? 'it is a file, not a folder'
          : code === 'EACCES' || code === 'EPERM'
            ? 'permission denied'
            : (err as Error).message;
    throw new GraftError(
      `${dir}: cannot create the run folder: ${why} (${code ?? 'error'}); give this run another --out`,
    );
  }
  const lock = join(dir, LOCK);
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(
        lock,
        `${JSON.stringify({ pid: process.pid, command: o.command, started: new Date().toISOString() })}\n`,
        { flag: 'wx' },
      );
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0)
        throw new GraftError(`${dir}: cannot take the run folder: ${(err as Error).message}`);
      let holder: { pid?: number; command?: string } = {};
      try {
        holder = JSON.parse(readFileSync(lock, 'utf8')) as typeof holder;
      } catch {
        /* unreadable: stale */
      }
      if (typeof holder.pid === 'number' && alive(holder.pid)) {
        throw new GraftError(
          `${dir} is in use by another run (${holder.command ?? 'graft'}, pid ${holder.pid}); give this run another --out`,
        );
      }
      rmSync(lock, { force: true }); // stale: its process is gone
    }
  }
  try {
    const present = readdirSync(dir).filter((f) => f !== LOCK);
    if (present.length > 0 && !o.resume) {
      const isRun = present.some((f) => RUN_MARKERS.includes(f));
      if (!o.overwrite) {
        throw new GraftError(
          `${dir} already holds ${isRun ? 'another run' : 'other files'} (${present.slice(0, 4).join(', ')}${present.length > 4 ? ', …' : ''}): ` +
            `${isRun ? 'pass --overwrite to replace it, --resume to continue it where supported, or ' : ''}give this run another --out`,
        );
      }
      if (!isRun)
        throw new GraftError(
          `${dir} holds files that are not a graft run's (${present.slice(0, 4).join(', ')}): --overwrite empties only run folders; give this run another --out`,
        );
      for (const f of present) rmSync(join(dir, f), { recursive: true, force: true });
    }
  } catch (err) {
    release();
    throw err;
  }
  return release;

  // A folder this claim made and the run left empty (it failed before writing) goes too.
  function release(): void {
    rmSync(lock, { force: true });
    if (created && readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
  }
}

/** The checkpoint `--resume` continues from (latestGoodCheckpoint), saying so on stderr when a damaged latest one is passed over. */
export function resumePoint(file: string, command: string): ResumePoint | null {
  const found = latestGoodCheckpoint(file);
  if (found?.skipped)
    console.error(`${command}: warning: ${found.skipped}; resuming from the previous checkpoint ${found.file}`);
  return found;
}
