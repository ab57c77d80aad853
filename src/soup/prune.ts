import { GraftError } from '../core/errors.js';
import type { Weights } from './average.js';

// Global magnitude pruning of a soup's weight matrices (the sparse soups of Zimmer et al.,
// ICLR 2024, prune the average by magnitude): a keep-mask per pruned parameter.

/** Which values of a parameter stay (1) and which are pruned to zero (0). */
export type PruneMask = Map<string, Uint8Array>;

/**
 * The mask that prunes exactly round(sparsity × n) of the n values of the `prunable`
 * parameters (the weight matrices; biases are left whole), the smallest in magnitude over
 * all of them at once. Values a previous mask pruned are pruned first, so masks of later
 * rounds hold the earlier ones. Ties go to the earlier parameter (in `prunable`'s order) and
 * index, so the mask is the same on every machine.
 *
 * @example const mask = magnitudeMask(avg, ['gcn0.weight', 'gcn1.weight'], 0.5);
 */
export function magnitudeMask(
  weights: Weights,
  prunable: readonly string[],
  sparsity: number,
  previous?: PruneMask,
): PruneMask {
  if (!(sparsity >= 0 && sparsity < 1)) throw new GraftError(`sparsity must be in [0, 1), got ${sparsity}`);
  const params = prunable.map((name) => {
    const w = weights.get(name);
    if (!w) throw new GraftError(`magnitude pruning: no parameter ${name} in the weights`);
    return { name, w, before: previous?.get(name) };
  });
  const n = params.reduce((a, p) => a + p.w.length, 0);
  const k = Math.round(sparsity * n);
  // Every value as (parameter, index) with its magnitude; previously pruned ones as −1.
  const mags = new Float64Array(n),
    which = new Int32Array(n),
    at = new Int32Array(n);
  let j = 0;
  params.forEach((p, pi) => {
    for (let i = 0; i < p.w.length; i++, j++) {
      mags[j] = p.before && p.before[i] === 0 ? -1 : Math.abs(p.w[i]!);
      which[j] = pi;
      at[j] = i;
    }
  });
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => mags[a]! - mags[b]! || a - b);
  const mask: PruneMask = new Map(params.map((p) => [p.name, new Uint8Array(p.w.length).fill(1)]));
  for (let r = 0; r < k; r++) {
    const v = order[r]!;
    mask.get(params[which[v]!]!.name)![at[v]!] = 0;
  }
  return mask;
}

/** Sets the masked-out values of `weights` to zero, in place. */
export function applyMask(weights: Map<string, Float32Array>, mask: PruneMask): void {
  for (const [name, m] of mask) {
    const w = weights.get(name);
    if (!w) continue;
    for (let i = 0; i < m.length; i++) if (m[i] === 0) w[i] = 0;
  }
}

/** The fraction of a mask's values pruned (0 for an empty mask). */
export function maskSparsity(mask: PruneMask): number {
  let zero = 0,
    n = 0;
  for (const m of mask.values()) {
    n += m.length;
    for (let i = 0; i < m.length; i++) if (m[i] === 0) zero++;
  }
  return n === 0 ? 0 : zero / n;
}

/**
 * Bytes the weights would take stored sparse: each pruned parameter as a bitmap of which
 * values are nonzero (one bit a value) and the nonzero values (4 bytes each), the others dense
 * (4 bytes a value). At sparsity s that is (1/32 + 1 − s) of the dense bytes: 53% at s = 0.5,
 * where index + value pairs (8 bytes a nonzero) would save nothing. The weights' bytes in the
 * soup's model file, which stores them so (core/sparse-tensors.ts).
 */
export function sparseBytes(weights: Weights, mask: PruneMask): number {
  let bytes = 0;
  for (const [name, w] of weights) {
    if (!mask.has(name)) {
      bytes += 4 * w.length;
      continue;
    }
    let nnz = 0;
    for (let i = 0; i < w.length; i++) if (w[i] !== 0) nnz++;
    bytes += Math.ceil(w.length / 8) + 4 * nnz;
  }
  return bytes;
}
