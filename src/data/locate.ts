import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../core/paths.js';

/**
 * The shared data folder: --data-dir, else GRAFT_DATA (either one, when given, is the only
 * place looked at), else ../shared/data beside the package or the working directory.
 * Undefined when none exists (a fresh clone).
 */
export function sharedDataDir(explicit?: string): string | undefined {
  const given = explicit ?? process.env['GRAFT_DATA'];
  if (given) return existsSync(given) ? resolve(given) : undefined;
  for (const c of [join(packageRoot(), '..', 'shared', 'data'), join(process.cwd(), '..', 'shared', 'data')]) {
    if (existsSync(c)) return resolve(c);
  }
  return undefined;
}
