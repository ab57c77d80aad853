// Builds the two kernel binaries with asc from asconfig.json: SIMD128 (always) and relaxed
// SIMD (fused multiply-add), which the runtime picks when WebAssembly.validate accepts it.
// Both import one shared memory and carry no data segments, allocator or start function, so
// any number of instances can share that memory (checked by test/wasm-module.test.ts). The
// two -local builds are the same code on a plain (unshared) memory: the inference entry's,
// for pages without cross-origin isolation.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const asc = join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
mkdirSync(join(root, 'build'), { recursive: true });
for (const target of ['simd', 'relaxed', 'simd-local', 'relaxed-local']) {
  execFileSync(process.execPath, [asc, '--config', 'asconfig.json', '--target', target], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log(`asc: built build/graft-${target}.wasm`);
}
