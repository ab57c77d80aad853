// How well data values find planted bad rows (flipped labels): the ROC-AUC of ranking by value,
// lowest first. `graft value --flip` reports it; the valuation tests check it on known answers.

/** ROC-AUC of "a low value flags the row": P(value of a flagged row < value of another), ties half. */
export function lowValueAuc(values: ArrayLike<number>, flagged: readonly boolean[]): number {
  const idx = Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  // rank-sum with mid-ranks for ties
  let pos = 0,
    rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && values[idx[j + 1]!] === values[idx[i]!]) j++;
    const mid = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++)
      if (flagged[idx[k]!]) {
        pos++;
        rankSum += mid;
      }
    i = j + 1;
  }
  const neg = idx.length - pos;
  if (pos === 0 || neg === 0) return NaN;
  // AUC of "higher rank = flagged" is (rankSum - pos(pos+1)/2) / (pos·neg); low values flag, so 1 minus it
  return 1 - (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}
