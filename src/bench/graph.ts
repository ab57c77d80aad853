import type { Rng } from '../core/random.js';

/** Uniform random edges (round(n·d/2), made symmetric) plus self loops, normalized D^-1/2 (A+I) D^-1/2, in CSR. */
export function workloadGraph(
  n: number,
  avgDegree: number,
  rng: Rng,
  blocks = 1,
): { rowPtr: Int32Array; colIdx: Int32Array; vals: Float32Array; offsets: Int32Array } {
  const per = n / blocks;
  const src: number[] = [],
    dst: number[] = [];
  for (let b = 0; b < blocks; b++) {
    const m = Math.round((per * avgDegree) / 2);
    for (let e = 0; e < m; e++) {
      const a = b * per + Math.floor(rng.next() * per),
        c = b * per + Math.floor(rng.next() * per);
      src.push(a, c);
      dst.push(c, a);
    }
  }
  for (let i = 0; i < n; i++) {
    src.push(i);
    dst.push(i);
  }
  const rowPtr = new Int32Array(n + 1);
  for (const a of src) rowPtr[a + 1]!++;
  for (let i = 0; i < n; i++) rowPtr[i + 1]! += rowPtr[i]!;
  const fill = rowPtr.slice(0, n),
    colIdx = new Int32Array(src.length);
  for (let e = 0; e < src.length; e++) colIdx[fill[src[e]!]!++] = dst[e]!;
  // Sort each row's columns (determinism of the layout, and cache order for the gathers).
  for (let r = 0; r < n; r++) colIdx.subarray(rowPtr[r]!, rowPtr[r + 1]!).sort();
  const deg = new Float64Array(n);
  for (let r = 0; r < n; r++) deg[r] = rowPtr[r + 1]! - rowPtr[r]!; // duplicates count, as in A's sum
  const vals = new Float32Array(src.length);
  for (let r = 0; r < n; r++)
    for (let k = rowPtr[r]!; k < rowPtr[r + 1]!; k++) vals[k] = 1 / Math.sqrt(deg[r]! * deg[colIdx[k]!]!);
  const offsets = Int32Array.from({ length: blocks + 1 }, (_, b) => b * per);
  return { rowPtr, colIdx, vals, offsets };
}
