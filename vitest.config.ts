import { defineConfig } from 'vitest/config';

// No V8 flags: the engine turns relaxed SIMD on by itself where Node has it behind a flag
// (kernels/wasm.ts enableRelaxedSimd), so the tests see what users get.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
