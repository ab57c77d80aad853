import { resolve } from 'node:path';
import type { JobIdentity } from './job-store.js';
import type { StudyOptions } from './study.js';

// A study's identity for its job store: what a finished job's result depends on, so a resumed
// study or a sweep point reuses a job's result only for the same study's settings and inputs.

/** What a study's jobs depend on: every setting but the thread count, and the input files (by absolute path). */
export function studyIdentity(o: StudyOptions): JobIdentity {
  const { threads: _threads, geno, pheno, relationship, foldsFile, ...settings } = o;
  const inputs = Object.fromEntries(
    Object.entries({ geno, pheno, relationship, folds: foldsFile })
      .filter(([, f]) => f !== undefined)
      .map(([k, f]) => [k, resolve(f!)]),
  );
  return { settings: settings as Record<string, unknown>, inputs };
}
