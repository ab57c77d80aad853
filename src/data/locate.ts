import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../paths.js';

/**
 * The shared data folder: --data-dir, else GRAFT_DATA, else ../shared/data beside the
 * package or the working directory. Undefined when none exists (a fresh clone).
 */
export function sharedDataDir(explicit?: string): string | undefined {
  const candidates = [explicit, process.env['GRAFT_DATA'], join(packageRoot(), '..', 'shared', 'data'), join(process.cwd(), '..', 'shared', 'data')];
  for (const c of candidates) if (c && existsSync(c)) return resolve(c);
  return undefined;
}
