// Builds graft/infer's self-contained bundle with esbuild: src/infer (TypeScript, bundled from
// source) plus the two unshared kernel binaries inlined, as one ES module with no imports.
// `loadModel` there passes those kernels itself. Its size is printed and, with --json, written
// to dist/infer/size.json for the README.
import { build } from 'esbuild';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist', 'infer', 'graft-infer.js');
mkdirSync(dirname(outfile), { recursive: true });
await build({
  stdin: {
    contents: `
      import relaxed from './build/graft-relaxed-local.wasm';
      import simd from './build/graft-simd-local.wasm';
      import { loadModel as loadWith } from './src/infer/index.ts';
      export * from './src/infer/index.ts';
      /** Loads a model on the kernels inlined in this bundle (options.kernels overrides them). */
      export function loadModel(bytes, options = {}) {
        return loadWith(bytes, { ...options, kernels: options.kernels ?? { relaxed, simd } });
      }
      export const kernelBinaries = { relaxed, simd };
    `,
    resolveDir: root,
    sourcefile: 'graft-infer-entry.js',
    loader: 'js',
  },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  mainFields: ['module', 'main'],
  target: 'es2022',
  loader: { '.wasm': 'binary' },
  minify: true,
  // Class names survive minification: a GraftError reaches the page as GraftError, not a one-letter name.
  keepNames: true,
  legalComments: 'none',
  outfile,
  logLevel: 'warning',
});
const bytes = statSync(outfile).size;
const gzip = gzipSync(readFileSync(outfile)).length;
writeFileSync(
  join(root, 'dist', 'infer', 'size.json'),
  `${JSON.stringify({ file: 'dist/infer/graft-infer.js', bytes, gzip_bytes: gzip })}\n`,
);
console.log(
  `esbuild: dist/infer/graft-infer.js ${(bytes / 1024).toFixed(1)} KiB (${(gzip / 1024).toFixed(1)} KiB gzipped)`,
);
