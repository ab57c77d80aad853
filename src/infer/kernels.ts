import { GraftError } from '../core/errors.js';
import type { BackendKind, KernelBackend } from '../kernels/backend.js';
import { RELAXED_PROBE, SIMD_PROBE } from '../kernels/probes.js';
import { createReferenceBackend } from '../reference/index.js';

// The kernels of the inference entry: the same AssemblyScript sources as the Node runtime's,
// built for a plain (unshared) memory (build/graft-*-local.wasm), since a page that is not
// cross-origin isolated cannot make a shared one. Relaxed SIMD where the engine accepts it,
// else SIMD128, else the plain-TypeScript reference: the same choice the runtime makes.

/** The unshared kernel binaries, as bytes (the bundle carries them; a caller may pass its own). */
export interface KernelBinaries {
  relaxed?: Uint8Array | ArrayBuffer;
  simd?: Uint8Array | ArrayBuffer;
}

const bytesOf = (b: Uint8Array | ArrayBuffer): Uint8Array => (b instanceof Uint8Array ? b : new Uint8Array(b));

/** The best backend the engine accepts among those whose binary is there, or the one asked for. */
export function chooseLocalBackend(binaries: KernelBinaries, requested?: BackendKind): BackendKind {
  const wasm = typeof WebAssembly === 'object';
  const has = {
    relaxed: wasm && binaries.relaxed !== undefined && WebAssembly.validate(RELAXED_PROBE),
    simd: wasm && binaries.simd !== undefined && WebAssembly.validate(SIMD_PROBE),
  };
  if (requested === 'relaxed' && !has.relaxed)
    throw new GraftError(
      "backend 'relaxed' asked for, but this engine does not accept relaxed SIMD (or no relaxed kernels were given)",
    );
  if (requested === 'simd' && !has.simd)
    throw new GraftError(
      "backend 'simd' asked for, but this engine has no WebAssembly SIMD (or no SIMD kernels were given)",
    );
  if (requested) return requested;
  return has.relaxed ? 'relaxed' : has.simd ? 'simd' : 'js';
}

/** Compiles and instantiates the kernels of `kind` on `memory` (unshared). */
export async function localKernels(
  kind: BackendKind,
  binaries: KernelBinaries,
  memory: WebAssembly.Memory,
): Promise<KernelBackend> {
  if (kind === 'js') return createReferenceBackend(memory);
  const bytes = binaries[kind];
  if (!bytes) throw new GraftError(`no ${kind} kernel binary given`);
  const module = await WebAssembly.compile(bytesOf(bytes) as BufferSource);
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return Object.assign(Object.create(null), instance.exports, { kind }) as KernelBackend;
}
