import { fileURLToPath, pathToFileURL } from 'node:url';
import { packageRoot } from './paths.js';

// Where a worker thread's (or a child process's) module is: every module the engine starts on
// another thread or process is named here by its place under src/ ('folder/file', no
// extension), so the architecture test (test/layers.test.ts) reads each such call as an import
// of that module and holds it to the same layering as a static import. Workers run the
// compiled JavaScript under dist/ (a worker cannot load TypeScript), whether the caller runs
// from dist/ or, under the test runner, from src/.

/**
 * The file URL of the compiled module `module` under dist/src/ (`module` is its path under
 * src/ without extension): what Piscina's `filename`, `import()` and the runtime's worker
 * calls take.
 *
 * @example const url = workerUrl('train/shard-worker'); // file:///…/dist/src/train/shard-worker.js
 */
export function workerUrl(module: string): string {
  return pathToFileURL(`${packageRoot()}/dist/src/${module}.js`).href;
}

/** The same module as a file path: for a child process's entry, or to check the file is there. */
export function workerPath(module: string): string {
  return fileURLToPath(workerUrl(module));
}
