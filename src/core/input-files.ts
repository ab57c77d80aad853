import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { GraftError } from './errors.js';

// The input files a run read, by role, with their SHA-256, so a command that reads the run's
// data again (eval, predict, explain) refuses a file that changed since, naming it, instead
// of scoring the run's model on other data silently.

/** One input file a run read: its absolute path and SHA-256. */
export interface RecordedInput {
  path: string;
  sha256: string;
}
/** A run's input files by role (geno, pheno, data, ...). */
export type RecordedInputs = Record<string, RecordedInput>;

/** The SHA-256 of a file's bytes, streamed (genotype files run to gigabytes). */
export async function fileSha256(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Each role's file by absolute path and SHA-256; roles whose file is undefined are left out. */
export async function recordInputs(files: Record<string, string | undefined>): Promise<RecordedInputs> {
  const out: RecordedInputs = {};
  for (const [role, f] of Object.entries(files)) {
    if (f === undefined) continue;
    const path = resolve(f);
    out[role] = { path, sha256: await fileSha256(path) };
  }
  return out;
}

/**
 * Refuses when a recorded input is gone or changed: one line naming the file, the run file
 * that recorded it and what the command would otherwise have done.
 */
export async function checkInputs(
  recorded: RecordedInputs | undefined,
  recordedIn: string,
  purpose: string,
): Promise<void> {
  for (const [role, f] of Object.entries(recorded ?? {})) {
    if (!existsSync(f.path))
      throw new GraftError(
        `${f.path}: the run's ${role} file is gone (recorded in ${recordedIn}); ${purpose} needs it`,
      );
    if ((await fileSha256(f.path)) !== f.sha256)
      throw new GraftError(
        `${f.path}: changed since the run (its SHA-256 differs from the one recorded in ${recordedIn}); ${purpose} would not be of the run's data`,
      );
  }
}
