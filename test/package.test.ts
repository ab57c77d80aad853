import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';

// The package as users get it (scripts/pack-test.mjs): the npm pack tarball installed into
// an empty project, where `npx graft --help`, `import { Runtime } from 'graft-gnn'`,
// `graft-gnn/infer` and the library examples of README.md and docs/library.md type-check and
// run, on this Node and on Node 22+. The documented examples therefore cannot rot.
describe('the packed tarball', () => {
  it('installs into an empty project; graft --help, the graft-gnn import and the docs examples work on Node 20 and 22+', () => {
    const r = spawnSync(process.execPath, [join(packageRoot(), 'scripts', 'pack-test.mjs')], {
      encoding: 'utf8',
      timeout: 280_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    if (out.includes('SKIPPED'))
      console.warn(
        out
          .split('\n')
          .filter((l) => l.includes('SKIPPED'))
          .join('\n'),
      );
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/graft --help and \d+ docs examples ran on node v20\./);
    expect(out).toMatch(/npx graft --help works/);
  }, 300_000);
});
