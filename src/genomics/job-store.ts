import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDir, writeJsonAtomic } from '../core/atomic-write.js';
import { GraftError } from '../core/errors.js';
import { fileSha256 } from '../core/input-files.js';
import type { CvJob, CvJobResult } from './job-types.js';

// The one SHA-256 of input files (core/input-files.ts), re-exported for the callers that read it here.
export { fileSha256 };

// Cross-validation results one job at a time, so a study that stops (kill -9, a lost node, a
// Slurm time limit) resumes where it was. A folder of per-job files:
//   manifest.json       what the jobs were computed from: the settings and the SHA-256 of
//                        every input file; a resume with anything else is refused
//   <job>.json          one finished job (format graft-cv-job-v1), written atomically
//   <job>-m<e>.safetensors   a GCN member's training checkpoint while it runs
// One format for `graft gp --resume` and for sweeps that run jobs as separate tasks.

export const JOB_FORMAT = 'graft-cv-job-v1';

/** What a study's job results depend on: settings (JSON values) and input files by role. */
export interface JobIdentity {
  settings: Record<string, unknown>;
  /** Role (geno, pheno, folds, relationship) → file path. */
  inputs: Record<string, string>;
}

interface Manifest {
  format: string;
  settings: Record<string, unknown>;
  inputs: Record<string, { path: string; sha256: string }>;
}

/** A job's file name: model, repeat, fold, traits, member (all 1-based where people count). */
export function jobKey(job: CvJob): string {
  return job.final
    ? `${job.model}-final-t${job.traits.join('.')}`
    : `${job.model}-r${job.repeat + 1}-f${job.fold}-t${job.traits.join('.')}${job.member === undefined ? '' : `-m${job.member}`}`;
}

/** The SHA-256 of an input file; an unreadable one is one line naming it. */
async function inputSha256(file: string): Promise<string> {
  try {
    return await fileSha256(file);
  } catch (err) {
    throw new GraftError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Settings as dotted paths to JSON leaves ({gcn: {epochs: 40}} → gcn.epochs: "40"). */
function leaves(v: unknown, at: string, out: Map<string, string>): Map<string, string> {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) leaves(x, at ? `${at}.${k}` : k, out);
  } else {
    out.set(at, JSON.stringify(v ?? null));
  }
  return out;
}

/** The differences between two manifests, as "what: then …, now …" phrases. */
function differences(then: Manifest, now: Manifest): string[] {
  const out: string[] = [];
  const a = leaves(then.settings, '', new Map()),
    b = leaves(now.settings, '', new Map());
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) out.push(`setting ${k}: ${a.get(k) ?? 'unset'} then, ${b.get(k) ?? 'unset'} now`);
  }
  for (const k of new Set([...Object.keys(then.inputs), ...Object.keys(now.inputs)])) {
    const a = then.inputs[k],
      b = now.inputs[k];
    if (!a || !b) out.push(`input ${k}: ${a ? a.path : 'none'} then, ${b ? b.path : 'none'} now`);
    else if (a.sha256 !== b.sha256)
      out.push(
        `input ${k} (${b.path}): its content changed (SHA-256 ${a.sha256.slice(0, 12)}… then, ${b.sha256.slice(0, 12)}… now)`,
      );
  }
  return out;
}

export class JobStore {
  private constructor(readonly dir: string) {}

  /**
   * Opens the job folder of a study. A new study writes its manifest. With `resume`, an
   * existing manifest must match the settings and input files exactly, or this throws
   * saying what differs; finished jobs are then read back instead of run again.
   */
  static async open(dir: string, identity: JobIdentity, resume: boolean): Promise<JobStore> {
    const inputs: Manifest['inputs'] = {};
    for (const [role, path] of Object.entries(identity.inputs))
      inputs[role] = { path, sha256: await inputSha256(path) };
    const now: Manifest = { format: JOB_FORMAT, settings: identity.settings, inputs };
    const file = join(dir, 'manifest.json');
    if (existsSync(file)) {
      if (!resume)
        throw new GraftError(`${dir} holds the jobs of an earlier study: resume it, or start in another folder`);
      let then: Manifest;
      try {
        then = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
      } catch (err) {
        throw new GraftError(`${file}: cannot read the job manifest: ${(err as Error).message}`);
      }
      const diff = differences(then, now);
      if (diff.length)
        throw new GraftError(
          `${file}: cannot resume: the finished jobs were computed from other settings or inputs (${diff.join('; ')})`,
        );
    } else {
      ensureDir(dir);
      writeJsonAtomic(file, now);
    }
    return new JobStore(dir);
  }

  /**
   * After a failed study: removes the job folder when no job in it finished (only its
   * manifest, or checkpoints of jobs that never finished), so the corrected run can start in
   * the same folder; a folder with finished jobs stays for --resume. True when it went.
   */
  static discardIfUnused(dir: string): boolean {
    if (!existsSync(dir)) return false;
    if (readdirSync(dir).some((f) => f.endsWith('.json') && f !== 'manifest.json')) return false;
    rmSync(dir, { recursive: true, force: true });
    return true;
  }

  private fileOf(job: CvJob): string {
    return join(this.dir, `${jobKey(job)}.json`);
  }

  /** A finished job's result, or null when it has not finished (a damaged file counts as not finished). */
  load(job: CvJob): CvJobResult | null {
    const file = this.fileOf(job);
    if (!existsSync(file)) return null;
    try {
      const r = JSON.parse(readFileSync(file, 'utf8')) as { format: string; job: CvJob; result: CvJobResult };
      if (r.format !== JOB_FORMAT || jobKey(r.job) !== jobKey(job)) return null;
      return r.result;
    } catch {
      return null; // written atomically, so only a foreign or hand-edited file gets here: run the job again
    }
  }

  /** Records a finished job (atomically) and removes its training checkpoints. */
  save(r: CvJobResult): void {
    writeJsonAtomic(this.fileOf(r.job), { format: JOB_FORMAT, job: r.job, result: r });
    this.forget(r.job);
  }

  /** Removes a job's training checkpoints (a finished job's, or a final fit's, whose result is not kept). */
  forget(job: CvJob): void {
    const prefix = `${jobKey(job)}-m`;
    for (const f of readdirSync(this.dir))
      if (f.startsWith(prefix) && f.includes('.safetensors')) rmSync(join(this.dir, f), { force: true });
  }
}

/** Where member `member` of a GCN job keeps its training checkpoint in a job folder. */
export function jobCheckpointFile(dir: string, job: CvJob, member: number): string {
  return join(dir, `${jobKey(job)}-m${member}.safetensors`);
}
