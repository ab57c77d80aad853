/** Softmax of each row of `logits` [n, c] and its argmax: a node classifier's class scores. */
export function classScores(logits: Float32Array, n: number, c: number): { probs: Float32Array; pred: Int32Array } {
  const probs = new Float32Array(n * c),
    pred = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let m = -Infinity,
      s = 0,
      best = 0;
    for (let j = 0; j < c; j++) {
      const v = logits[i * c + j]!;
      if (v > m) {
        m = v;
        best = j;
      }
    }
    for (let j = 0; j < c; j++) s += Math.exp(logits[i * c + j]! - m);
    for (let j = 0; j < c; j++) probs[i * c + j] = Math.exp(logits[i * c + j]! - m) / s;
    pred[i] = best;
  }
  return { probs, pred };
}
