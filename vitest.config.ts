import { spawnSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

// On Node 20 the relaxed-SIMD build needs --experimental-wasm-relaxed-simd; Node 22+ has it
// and refuses the flag. Pass it only where this node accepts it, so the relaxed kernels are
// tested wherever they can run.
const flag = '--experimental-wasm-relaxed-simd';
const accepts = spawnSync(process.execPath, [flag, '-e', '0']).status === 0;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    poolOptions: { forks: { execArgv: accepts ? [flag] : [] } },
    reporters: ['default'],
  },
});
