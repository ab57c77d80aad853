// The kernel table (src/kernels/registry.ts) against its three other descriptions: the WASM
// exports, the reference backend and the KernelBackend interface text. A kernel whose arity
// drifts in one place, or one exported without being registered, fails here by name.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';
import { KERNELS, kernelId, kernelName, type RunnableKernel } from '../src/kernels/registry.js';
import { createBackend, engineSupports, kernelModule } from '../src/kernels/wasm.js';
import { Heap } from '../src/memory/heap.js';
import { createReferenceBackend } from '../src/reference/index.js';

const DIAGNOSTIC = new Set(['noop', 'faultInject']);
/** Exported and declared in KernelBackend, called directly (not dispatched through the registry). */
const DIRECT_CALL = ['sumF32'];

const heap = new Heap({ initialBytes: 1 << 16, maxBytes: 1 << 20 });
afterAll(() => {
  expect(heap.stats().blocks).toBe(0);
});

const dispatched = KERNELS.filter((k) => !DIAGNOSTIC.has(k.name));

/** Counts the parameters of a parameter list: top-level commas + 1 (0 when empty). */
function countParams(list: string): number {
  const text = list.trim();
  if (text === '') return 0;
  let depth = 0,
    commas = 0;
  for (const ch of text) {
    if ('([{'.includes(ch)) depth++;
    else if (')]}'.includes(ch)) depth--;
    else if (ch === ',' && depth === 0) commas++;
  }
  // A trailing comma does not start another parameter.
  return commas + (text.endsWith(',') ? 0 : 1);
}

/** The methods the KernelBackend interface declares, with their parameter counts, parsed from the source. */
function interfaceMethods(): Map<string, number> {
  const src = readFileSync(join(packageRoot(), 'src', 'kernels', 'backend.ts'), 'utf8');
  const start = src.indexOf('export interface KernelBackend {');
  expect(start).toBeGreaterThanOrEqual(0);
  let depth = 0,
    end = -1;
  for (let i = src.indexOf('{', start); i < src.length; i++) {
    if (src[i] === '{') depth++;
    else if (src[i] === '}' && --depth === 0) {
      end = i;
      break;
    }
  }
  const body = src.slice(src.indexOf('{', start) + 1, end);
  const out = new Map<string, number>();
  for (const m of body.matchAll(/(\w+)\s*\(([^)]*)\)\s*:\s*[^;]+;/gs)) out.set(m[1]!, countParams(m[2]!));
  return out;
}

describe('kernel registry', () => {
  const iface = interfaceMethods();
  const simd = createBackend('simd', heap.memory) as unknown as Record<string, unknown>;
  const ref = createReferenceBackend(heap.memory) as unknown as Record<string, unknown>;
  const exportNames = WebAssembly.Module.exports(kernelModule('simd'))
    .filter((e) => e.kind === 'function')
    .map((e) => e.name);

  it('the interface parser sees every method (sanity: a known signature spanning two lines)', () => {
    expect(iface.get('spmmCsr')).toBe(11);
    expect(iface.get('sumF32')).toBe(2);
    expect(iface.has('kind')).toBe(false);
    expect(countParams('a: number, b: (x: number, y: number) => void, c: number')).toBe(3);
  });

  it('the table has unique names and only dispatchable arities', () => {
    expect(new Set(KERNELS.map((k) => k.name)).size).toBe(KERNELS.length);
    for (const k of dispatched) expect([2, 3, 4, 6, 7, 8, 9, 10, 11, 12]).toContain(k.arity);
  });

  describe.each(dispatched.map((k) => [k.name, k.arity] as const))('%s (arity %i)', (name, arity) => {
    it('the WASM export takes arity + 2 parameters', () => {
      const fn = simd[name];
      expect(typeof fn).toBe('function');
      expect((fn as (...a: number[]) => unknown).length).toBe(arity + 2);
    });

    it('the reference method takes arity + 2 parameters', () => {
      const fn = ref[name];
      expect(typeof fn).toBe('function');
      expect((fn as (...a: number[]) => unknown).length).toBe(arity + 2);
    });

    it('the KernelBackend interface declares arity + 2 parameters', () => {
      expect(iface.get(name)).toBe(arity + 2);
    });

    it('kernelId and kernelName round-trip', () => {
      const id = kernelId(name as RunnableKernel);
      expect(KERNELS[id]!.name).toBe(name);
      expect(kernelName(id)).toBe(name);
    });
  });

  it.skipIf(!engineSupports().relaxed)(
    'the relaxed build exports the same functions with the same parameter counts (skipped: engine without relaxed SIMD)',
    () => {
      const relaxed = createBackend('relaxed', heap.memory) as unknown as Record<string, unknown>;
      for (const name of exportNames) {
        expect((relaxed[name] as (...a: number[]) => unknown).length, name).toBe(
          (simd[name] as (...a: number[]) => unknown).length,
        );
      }
    },
  );

  it('the WASM module exports exactly the registered kernels plus the direct-call helpers', () => {
    const want = [...dispatched.map((k) => k.name), ...DIRECT_CALL].sort();
    expect([...exportNames].sort()).toEqual(want);
    expect(WebAssembly.Module.exports(kernelModule('simd')).every((e) => e.kind === 'function')).toBe(true);
  });

  it('the interface and the reference backend declare exactly those kernels too', () => {
    const want = [...dispatched.map((k) => k.name), ...DIRECT_CALL].sort();
    expect([...iface.keys()].sort()).toEqual(want);
    expect(
      Object.keys(ref)
        .filter((k) => k !== 'kind')
        .sort(),
    ).toEqual(want);
    for (const name of DIRECT_CALL) {
      expect((simd[name] as (...a: number[]) => unknown).length).toBe(iface.get(name));
      expect((ref[name] as (...a: number[]) => unknown).length).toBe(iface.get(name));
    }
  });

  it('diagnostic kernels are registered but never exported', () => {
    for (const name of DIAGNOSTIC) {
      expect(kernelName(kernelId(name as RunnableKernel))).toBe(name);
      expect(exportNames).not.toContain(name);
    }
  });

  it('unknown names and ids', () => {
    expect(() => kernelId('nope' as RunnableKernel)).toThrow(/^kernel registry: no kernel named "nope"$/);
    expect(() => kernelId('sumF32' as RunnableKernel)).toThrow(/^kernel registry: no kernel named "sumF32"$/);
    expect(kernelName(KERNELS.length)).toBe(`#${KERNELS.length}`);
    expect(kernelName(-1)).toBe('#-1');
  });
});
