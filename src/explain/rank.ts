// Rank statistics for comparing explanations (the randomized-model sanity check of Adebayo et
// al. 2018 compares attribution rankings by Spearman's ρ).

/** Ranks 1..n, ties sharing their average rank. */
export function ranks(v: ArrayLike<number>): Float64Array {
  const idx = Array.from({ length: v.length }, (_, i) => i).sort((a, b) => v[a]! - v[b]!);
  const r = new Float64Array(v.length);
  for (let k = 0; k < idx.length; ) {
    let e = k;
    while (e + 1 < idx.length && v[idx[e + 1]!] === v[idx[k]!]) e++;
    for (let q = k; q <= e; q++) r[idx[q]!] = (k + e) / 2 + 1;
    k = e + 1;
  }
  return r;
}

/** Spearman's rank correlation (Pearson's r of the ranks); NaN when either side is constant. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`spearman: ${a.length} values against ${b.length}`);
  const ra = ranks(a),
    rb = ranks(b),
    n = a.length;
  let ma = 0,
    mb = 0;
  for (let i = 0; i < n; i++) {
    ma += ra[i]! / n;
    mb += rb[i]! / n;
  }
  let sab = 0,
    saa = 0,
    sbb = 0;
  for (let i = 0; i < n; i++) {
    const x = ra[i]! - ma,
      y = rb[i]! - mb;
    sab += x * y;
    saa += x * x;
    sbb += y * y;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}
