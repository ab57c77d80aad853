// Multi-label classification metrics per label and averaged, on the labels present (NaN
// truth = missing, skipped). Ranking metrics (ROC-AUC, PR-AUC as average precision) need
// both classes among a label's present values, else that label's value is NaN and averages
// skip it.

/** Area under the ROC curve by the rank statistic (ties get the average rank). */
export function rocAuc(truth: ArrayLike<number>, score: ArrayLike<number>): number {
  const idx: number[] = [];
  for (let i = 0; i < truth.length; i++) if (!Number.isNaN(truth[i]!)) idx.push(i);
  idx.sort((a, b) => score[a]! - score[b]!);
  let pos = 0,
    neg = 0,
    rankSum = 0;
  for (let r = 0; r < idx.length; ) {
    let e = r;
    while (e + 1 < idx.length && score[idx[e + 1]!] === score[idx[r]!]) e++;
    const avg = (r + e) / 2 + 1;
    for (let k = r; k <= e; k++)
      if (truth[idx[k]!] === 1) {
        pos++;
        rankSum += avg;
      } else neg++;
    r = e + 1;
  }
  if (pos === 0 || neg === 0) return NaN;
  return (rankSum - (pos * (pos + 1)) / 2) / (pos * neg);
}

/** Average precision (area under the precision–recall curve, step-wise as scikit-learn). */
export function prAuc(truth: ArrayLike<number>, score: ArrayLike<number>): number {
  const idx: number[] = [];
  for (let i = 0; i < truth.length; i++) if (!Number.isNaN(truth[i]!)) idx.push(i);
  idx.sort((a, b) => score[b]! - score[a]!);
  const pos = idx.filter((i) => truth[i] === 1).length;
  if (pos === 0 || pos === idx.length) return NaN;
  let tp = 0,
    fp = 0,
    ap = 0,
    prevRecall = 0;
  for (let r = 0; r < idx.length; ) {
    let e = r;
    while (e + 1 < idx.length && score[idx[e + 1]!] === score[idx[r]!]) e++;
    for (let k = r; k <= e; k++)
      if (truth[idx[k]!] === 1) tp++;
      else fp++;
    const recall = tp / pos,
      precision = tp / (tp + fp);
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
    r = e + 1;
  }
  return ap;
}

export interface LabelCounts {
  tp: number;
  fp: number;
  fn: number;
  support: number;
}

/**
 * A multi-label report: per label ROC-AUC, PR-AUC, precision, recall, F1, support and threshold, and their averages.
 */
export interface MultilabelReport {
  perLabel: {
    label: string;
    roc_auc: number;
    pr_auc: number;
    precision: number;
    recall: number;
    f1: number;
    support: number;
    threshold: number;
  }[];
  roc_auc: number;
  pr_auc: number;
  precision: { micro: number; macro: number; weighted: number };
  recall: { micro: number; macro: number; weighted: number };
  f1: { micro: number; macro: number; weighted: number };
}

const div = (a: number, b: number): number => (b > 0 ? a / b : 0);
const nanMean = (xs: number[]): number => {
  const v = xs.filter((x) => !Number.isNaN(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};

/**
 * Per-label decision thresholds that maximize F1 on a validation set (scores are
 * probabilities); 0.5 where a label has no positive there.
 */
export function chooseThresholds(truth: Float32Array, prob: Float32Array, labels: number): Float32Array {
  const n = truth.length / labels,
    out = new Float32Array(labels).fill(0.5);
  for (let t = 0; t < labels; t++) {
    const rows: number[] = [];
    for (let i = 0; i < n; i++) if (!Number.isNaN(truth[i * labels + t]!)) rows.push(i);
    const pos = rows.filter((i) => truth[i * labels + t] === 1).length;
    if (pos === 0) continue;
    rows.sort((a, b) => prob[b * labels + t]! - prob[a * labels + t]!);
    let tp = 0,
      fp = 0,
      best = -1;
    for (let r = 0; r < rows.length; r++) {
      if (truth[rows[r]! * labels + t] === 1) tp++;
      else fp++;
      const here = prob[rows[r]! * labels + t]!,
        next = r + 1 < rows.length ? prob[rows[r + 1]! * labels + t]! : -Infinity;
      if (here === next) continue;
      const f1 = div(2 * tp, 2 * tp + fp + (pos - tp));
      if (f1 > best) {
        best = f1;
        out[t] = Number.isFinite(next) ? (here + next) / 2 : here;
      }
    }
  }
  return out;
}

/** The report for probabilities `prob` [n, labels] against `truth` (0/1/NaN) at the given thresholds. */
/** Label t's column of a row-major [n, L] matrix. */
function column(m: Float32Array, L: number, t: number): Float32Array {
  const n = m.length / L,
    out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = m[i * L + t]!;
  return out;
}

/** Mean ROC-AUC over labels (those with both classes present): multilabelReport's roc_auc alone. */
export function meanRocAuc(truth: Float32Array, prob: Float32Array, labels: number): number {
  return nanMean(Array.from({ length: labels }, (_, t) => rocAuc(column(truth, labels, t), column(prob, labels, t))));
}

/**
 * The multi-label report of probabilities `prob` against 0/1 `truth` (both [samples, labels] row-major), with one threshold per label.
 */
export function multilabelReport(
  truth: Float32Array,
  prob: Float32Array,
  names: string[],
  thresholds: Float32Array,
): MultilabelReport {
  const L = names.length,
    n = truth.length / L;
  const counts: LabelCounts[] = [];
  const perLabel = names.map((label, t) => {
    const s = column(prob, L, t),
      y = column(truth, L, t);
    const c: LabelCounts = { tp: 0, fp: 0, fn: 0, support: 0 };
    for (let i = 0; i < n; i++) {
      if (Number.isNaN(y[i]!)) continue;
      const p = s[i]! >= thresholds[t]!;
      if (y[i] === 1) {
        c.support++;
        if (p) c.tp++;
        else c.fn++;
      } else if (p) c.fp++;
    }
    counts.push(c);
    const precision = div(c.tp, c.tp + c.fp),
      recall = div(c.tp, c.tp + c.fn);
    return {
      label,
      roc_auc: rocAuc(y, s),
      pr_auc: prAuc(y, s),
      precision,
      recall,
      f1: div(2 * precision * recall, precision + recall),
      support: c.support,
      threshold: thresholds[t]!,
    };
  });
  const sum = (k: keyof LabelCounts): number => counts.reduce((a, c) => a + c[k], 0);
  const tp = sum('tp'),
    fp = sum('fp'),
    fn = sum('fn'),
    support = sum('support');
  const microP = div(tp, tp + fp),
    microR = div(tp, tp + fn);
  const weighted = (k: 'precision' | 'recall' | 'f1'): number =>
    div(
      perLabel.reduce((a, l) => a + l[k] * l.support, 0),
      support,
    );
  const macro = (k: 'precision' | 'recall' | 'f1'): number => perLabel.reduce((a, l) => a + l[k], 0) / Math.max(1, L);
  return {
    perLabel,
    roc_auc: nanMean(perLabel.map((l) => l.roc_auc)),
    pr_auc: nanMean(perLabel.map((l) => l.pr_auc)),
    precision: { micro: microP, macro: macro('precision'), weighted: weighted('precision') },
    recall: { micro: microR, macro: macro('recall'), weighted: weighted('recall') },
    f1: { micro: div(2 * microP * microR, microP + microR), macro: macro('f1'), weighted: weighted('f1') },
  };
}
