// How an op's range is cut into parts. Cuts may depend on the thread count; results may not,
// so every kernel sums each output element in an order fixed by the data alone.

/** Parts worth making for `work` units (≈ multiply-adds or bytes) so each part beats the dispatch cost. */
export function partsFor(threads: number, work: number, grain = 1 << 16): number {
  return Math.max(1, Math.min(threads, Math.floor(work / grain)));
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
