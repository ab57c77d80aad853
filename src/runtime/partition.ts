// How an op's range is cut into parts. Cuts may depend on the thread count; results may not,
// so every kernel sums each output element in an order fixed by the data alone.

import type { Exec } from './exec.js';

/**
 * Told each op's size while a trace records (runtime/trace.ts sets it; null otherwise). A
 * hook rather than an import: this module goes into the browser's inference bundle, the
 * tracer (Node only) does not.
 */
let workNoted: ((work: number, grain: number) => void) | null = null;

/** Sets (or with null clears) the hook told each op's size; runtime/trace.ts uses it. */
export function noteOpWorkWith(hook: ((work: number, grain: number) => void) | null): void {
  workNoted = hook;
}

/**
 * Grains (partsFor's unit of work) an op must hold before it is worth waking a sleeping
 * helper for. Split over two threads, an op ends when the woken helper has finished its
 * half, so the split pays only when half the op outlasts the wake-up: 2 × wake / (µs per
 * grain) grains. On the 2-core VM (bench/dispatch-cost.ts, 2026-12-07, issue 31, load 16) a
 * wake-up cost 42 µs and a grain of GEMM (2^17 multiply-adds) 5.4 µs: 15 grains
 * (GEMM_WAKE_GRAINS, 16); a grain of an elementwise op (2^15 elements) cost 1.3 times a
 * GEMM's in a second run: 12 grains. With RuntimeOptions.keepSmallOpsInline the founding
 * study's GEMMs (5 to 9 grains) then stay on the leader while the helper sleeps; any op is
 * split as before while it spins. Off by default: on a quiet machine the split paid (issue 31).
 */
export const WAKE_GRAINS = 12;
/** WAKE_GRAINS for a GEMM's grain of 2^17 multiply-adds (see WAKE_GRAINS). */
export const GEMM_WAKE_GRAINS = 16;

/**
 * Parts worth making for `work` units (≈ multiply-adds or bytes) so each part beats the
 * dispatch cost: at most one per thread, at least `grain` units each. Given the exec rather
 * than its thread count, an op under `wakeGrains` grains runs as one part, on the calling
 * thread, while every helper sleeps (mostly: Team.spareWake). Parts never change an op's bits, so neither does this.
 */
export function partsFor(exec: Exec | number, work: number, grain = 1 << 16, wakeGrains = WAKE_GRAINS): number {
  // Traced, the op's size goes on its spans (runtime/trace.ts takeOpWork): the timeline then
  // says which ops were too small to split, and by how much.
  if (workNoted) workNoted(work, grain);
  const threads = typeof exec === 'number' ? exec : exec.threads;
  const parts = Math.max(1, Math.min(threads, Math.floor(work / grain)));
  if (parts > 1 && work < wakeGrains * grain && typeof exec !== 'number' && exec.spareWake?.()) return 1;
  return parts;
}

/** [0, total) in `parts` nearly equal pieces whose inner cuts fall on multiples of `align`. */
export function splitEven(total: number, parts: number, align = 1): number[] {
  const bounds = [0];
  for (let p = 1; p < parts; p++) {
    const cut = Math.round((total * p) / parts / align) * align;
    bounds.push(Math.min(total, Math.max(bounds[p - 1]!, cut)));
  }
  bounds.push(total);
  return bounds;
}

/**
 * Rows [0, rows) cut so each part carries about the same cost, where the cost of rows [0, r)
 * is prefix[r] + perRow · r (prefix: a CSR row pointer, so parts balance nonzeros, not rows).
 */
export function splitByPrefix(prefix: ArrayLike<number>, rows: number, parts: number, perRow = 1): number[] {
  const cost = (r: number): number => prefix[r]! - prefix[0]! + perRow * r;
  const total = cost(rows);
  const bounds = [0];
  for (let p = 1; p < parts; p++) {
    const target = (total * p) / parts;
    let lo = bounds[p - 1]!,
      hi = rows;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cost(mid) < target) lo = mid + 1;
      else hi = mid;
    }
    bounds.push(lo);
  }
  bounds.push(rows);
  return bounds;
}
