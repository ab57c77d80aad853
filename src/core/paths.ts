import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The package's root folder (where package.json, build/ and dist/ are), from src/ or dist/,
 * in the repository or installed under node_modules: the first folder above this file whose
 * package.json names this package.
 */
export function packageRoot(): string {
  if (root) return root;
  const here = fileURLToPath(import.meta.url);
  for (let dir = dirname(here); ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'graft-gnn') {
      root = dir;
      return root;
    }
    if (dirname(dir) === dir)
      throw new Error(`cannot find Graft's package root (a package.json named "graft-gnn") above ${here}`);
  }
}
