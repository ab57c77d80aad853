import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Tests import src/ directly, but the worker threads they start load dist/ and build/: a
// stale build would test new code on the main thread against old code on the workers.
// Before any test, rebuild when a source is newer than its build; fail loudly if that fails.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function newest(dir: string, ext: RegExp): number {
  if (!existsSync(dir)) return -Infinity;
  let t = -Infinity;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p, ext));
    else if (ext.test(e.name)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Why the build is stale, or null when it is current. */
export function staleness(): string | null {
  const wasm = ['graft-simd.wasm', 'graft-relaxed.wasm', 'graft-simd-local.wasm', 'graft-relaxed-local.wasm'].map((f) =>
    join(root, 'build', f),
  );
  const bundle = join(root, 'dist', 'infer', 'graft-infer.js');
  const worker = join(root, 'dist', 'src', 'runtime', 'worker.js');
  if (!wasm.every(existsSync) || !existsSync(worker) || !existsSync(bundle)) return 'dist/ or build/ is missing';
  const wasmTime = Math.min(...wasm.map((f) => statSync(f).mtimeMs));
  if (newest(join(root, 'assembly'), /\.ts$/) > wasmTime) return 'assembly/ is newer than build/';
  if (newest(join(root, 'src'), /\.ts$/) > newest(join(root, 'dist', 'src'), /\.js$/))
    return 'src/ is newer than dist/';
  if (Math.max(newest(join(root, 'src'), /\.ts$/), wasmTime) > statSync(bundle).mtimeMs)
    return 'src/ or build/ is newer than the inference bundle';
  return null;
}

/**
 * Rebuilds a stale build, and makes one temporary folder for the whole run (GRAFT_TEST_TMP,
 * inherited by the test processes; see tempDir in helpers.ts) that teardown removes, so a
 * test run leaves nothing in the system's temp folder.
 */
export default function setup(): () => void {
  const scratch = mkdtempSync(join(tmpdir(), 'graft-test-'));
  process.env['GRAFT_TEST_TMP'] = scratch;
  const teardown = (): void => rmSync(scratch, { recursive: true, force: true });
  try {
    rebuildIfStale();
  } catch (err) {
    teardown();
    throw err;
  }
  return teardown;
}

function rebuildIfStale(): void {
  const why = staleness();
  if (why === null) return;
  console.error(`graft tests: ${why}; rebuilding (npm run build) so worker threads run the code under test`);
  const r = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0)
    throw new Error(`graft tests: ${why}, and 'npm run build' failed (exit ${r.status}): fix the build first`);
  const still = staleness();
  if (still !== null) throw new Error(`graft tests: still stale after 'npm run build': ${still}`);
}
