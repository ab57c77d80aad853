// The kernel binaries must be safe to instantiate many times on one shared memory: they may
// import only that memory and must carry no data segment, global or start function (each
// instance would re-apply them, and AssemblyScript's own allocator would hand two workers
// the same address).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { chooseBackend, createBackend, engineSupports } from '../src/kernels/wasm.js';
import { Heap } from '../src/memory/heap.js';
import { packageRoot } from '../src/core/paths.js';

/** Section ids present in a wasm binary (1 type, 2 import, 6 global, 8 start, 11 data, ...). */
function sections(bytes: Uint8Array): Set<number> {
  const ids = new Set<number>();
  let at = 8;
  while (at < bytes.length) {
    const id = bytes[at++]!;
    let size = 0,
      shift = 0,
      b: number;
    do {
      b = bytes[at++]!;
      size |= (b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    ids.add(id);
    at += size;
  }
  return ids;
}

describe.each(['simd', 'relaxed'] as const)('build/graft-%s.wasm', (kind) => {
  const bytes = new Uint8Array(readFileSync(`${packageRoot()}/build/graft-${kind}.wasm`));

  it('has no data, global or start section', () => {
    const ids = sections(bytes);
    expect(ids.has(11)).toBe(false);
    expect(ids.has(6)).toBe(false);
    expect(ids.has(8)).toBe(false);
  });

  it('imports exactly one shared memory of up to 4 GiB and exports no memory', () => {
    if (kind === 'relaxed' && !engineSupports().relaxed) return; // cannot compile here
    const mod = new WebAssembly.Module(bytes);
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: 'env', name: 'memory', kind: 'memory' }]);
    expect(WebAssembly.Module.exports(mod).some((e) => e.kind === 'memory')).toBe(false);
  });
});

describe('backend choice', () => {
  it('prefers relaxed SIMD exactly when the engine validates it', () => {
    const s = engineSupports();
    expect(s.simd).toBe(true);
    expect(chooseBackend(undefined)).toBe(s.relaxed ? 'relaxed' : 'simd');
    expect(chooseBackend('js')).toBe('js');
    expect(chooseBackend('simd')).toBe('simd');
  });

  it('names the setting in its errors', () => {
    expect(() => chooseBackend('avx512')).toThrow(
      /backend \(GRAFT_BACKEND\)' must be 'relaxed', 'simd', 'js' or 'auto', got "avx512"/,
    );
    if (!engineSupports().relaxed) expect(() => chooseBackend('relaxed')).toThrow(/--experimental-wasm-relaxed-simd/);
  });

  it("two instances on one memory see each other's writes", () => {
    const heap = new Heap({ initialBytes: 1 << 20 });
    const a = createBackend('simd', heap.memory),
      b = createBackend('simd', heap.memory);
    const x = heap.alloc(64),
      y = heap.alloc(64);
    new Float32Array(heap.memory.buffer, x, 16).fill(-2);
    a.fillF32(y, 7, 0, 16);
    b.axpy(0.5, x, y, 0, 16);
    expect([...new Float32Array(heap.memory.buffer, y, 16)]).toEqual(new Array(16).fill(6));
  });
});
