import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { argTypeError, GraftError } from '../core/errors.js';
import { packageRoot } from '../core/paths.js';
import type { BackendKind, KernelBackend } from './backend.js';
import { createReferenceBackend } from '../reference/index.js';
import { RELAXED_PROBE, SIMD_PROBE } from './probes.js';

let relaxedTried = false;

/**
 * Turns relaxed SIMD on where the engine has it behind a flag: Node 20's V8 ships it as
 * --experimental-wasm-relaxed-simd, which v8.setFlagsFromString accepts at run time as long
 * as no module has been compiled with the old setting. V8's flags are per process, so one
 * call serves the main thread and every worker; workers call it too, before their first
 * compile, in case they start first. Node 22+ has relaxed SIMD on and prints an error for
 * the flag, so it is only set when the probe fails on an older Node. Whether it took is
 * decided by the probe afterwards, never assumed.
 */
export function enableRelaxedSimd(): void {
  if (relaxedTried) return;
  relaxedTried = true;
  if (WebAssembly.validate(RELAXED_PROBE)) return;
  const major = Number(process.versions.node.split('.')[0]);
  if (major >= 22) return;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
}

/** Which WebAssembly kernel builds this JavaScript engine accepts: SIMD128 and relaxed SIMD. */
export function engineSupports(): { simd: boolean; relaxed: boolean } {
  enableRelaxedSimd();
  return { simd: WebAssembly.validate(SIMD_PROBE), relaxed: WebAssembly.validate(RELAXED_PROBE) };
}

/**
 * The backend this process uses: GRAFT_BACKEND (relaxed | simd | js) when set, else the
 * relaxed-SIMD build where the engine accepts it (Node 22+, and Node 20 once
 * enableRelaxedSimd has set its flag), else SIMD128, else the plain-TypeScript reference.
 */
export function chooseBackend(requested: string | undefined = process.env['GRAFT_BACKEND']): BackendKind {
  const has = engineSupports();
  if (requested !== undefined && requested !== '' && requested !== 'auto') {
    if (requested !== 'relaxed' && requested !== 'simd' && requested !== 'js') {
      throw argTypeError('chooseBackend', 'backend (GRAFT_BACKEND)', "'relaxed', 'simd', 'js' or 'auto'", requested);
    }
    if (requested === 'relaxed' && !has.relaxed) {
      throw new GraftError("backend 'relaxed' asked for, but this engine does not accept relaxed SIMD");
    }
    if (requested === 'simd' && !has.simd)
      throw new GraftError("backend 'simd' asked for, but this engine has no WebAssembly SIMD");
    return requested;
  }
  return has.relaxed ? 'relaxed' : has.simd ? 'simd' : 'js';
}

const modules = new Map<BackendKind, WebAssembly.Module>();

/** The compiled kernel module for a WASM backend (compiled once per thread, then cached). */
export function kernelModule(kind: 'relaxed' | 'simd'): WebAssembly.Module {
  let m = modules.get(kind);
  if (!m) {
    const file = `${packageRoot()}/build/graft-${kind}.wasm`;
    let bytes: Buffer;
    try {
      bytes = readFileSync(file);
    } catch (err) {
      throw new GraftError(`cannot read the kernel binary ${file} (run 'npm run build'): ${(err as Error).message}`);
    }
    if (kind === 'relaxed') enableRelaxedSimd();
    m = new WebAssembly.Module(new Uint8Array(bytes));
    modules.set(kind, m);
  }
  return m;
}

/** Instantiates the kernels of `kind` on `memory`; any number of instances may share it. */
export function createBackend(
  kind: BackendKind,
  memory: WebAssembly.Memory,
  module?: WebAssembly.Module,
): KernelBackend {
  if (kind === 'js') return createReferenceBackend(memory);
  const instance = new WebAssembly.Instance(module ?? kernelModule(kind), { env: { memory } });
  return Object.assign(Object.create(null), instance.exports, { kind }) as KernelBackend;
}
