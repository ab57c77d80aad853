// Metrics over index sets, in f64. Classification: accuracy and precision/recall/F1 averaged
// micro (global counts), macro (unweighted mean over classes present in truth or prediction)
// and weighted (by support). Regression: MSE, RMSE, Pearson r, R².

export function argmaxRows(logits: Float32Array, rows: number, cols: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (logits[r * cols + c]! > logits[r * cols + best]!) best = c;
    out[r] = best;
  }
  return out;
}

/** The fraction of the nodes in `idx` whose prediction equals the truth (NaN for no nodes). */
export function accuracy(truth: ArrayLike<number>, pred: ArrayLike<number>, idx: ArrayLike<number>): number {
  if (idx.length === 0) return NaN;
  let ok = 0;
  for (let i = 0; i < idx.length; i++) if (pred[idx[i]!] === truth[idx[i]!]) ok++;
  return ok / idx.length;
}

/**
 * Precision, recall and F1, each micro-, macro- and support-weighted averaged over classes, and per class (scikit-learn's definitions).
 */
export interface F1Report {
  precision: { micro: number; macro: number; weighted: number };
  recall: { micro: number; macro: number; weighted: number };
  f1: { micro: number; macro: number; weighted: number };
  perClass: { precision: number; recall: number; f1: number; support: number }[];
}

/** Precision, recall and F1 of the predictions on the nodes in `idx` over `classes` classes. */
export function classificationReport(
  truth: ArrayLike<number>,
  pred: ArrayLike<number>,
  idx: ArrayLike<number>,
  classes: number,
): F1Report {
  const tp = new Float64Array(classes),
    fp = new Float64Array(classes),
    fn = new Float64Array(classes);
  for (let i = 0; i < idx.length; i++) {
    const p = pred[idx[i]!]!,
      t = truth[idx[i]!]!;
    if (p === t) tp[t]!++;
    else {
      fp[p]!++;
      fn[t]!++;
    }
  }
  const div = (a: number, b: number): number => (b === 0 ? 0 : a / b);
  const perClass = Array.from({ length: classes }, (_, c) => {
    const precision = div(tp[c]!, tp[c]! + fp[c]!),
      recall = div(tp[c]!, tp[c]! + fn[c]!);
    return { precision, recall, f1: div(2 * precision * recall, precision + recall), support: tp[c]! + fn[c]! };
  });
  const present = perClass.map((_, c) => tp[c]! + fp[c]! + fn[c]! > 0);
  const nPresent = present.filter(Boolean).length;
  const total = perClass.reduce((s, c) => s + c.support, 0);
  const avg = (key: 'precision' | 'recall' | 'f1'): { micro: number; macro: number; weighted: number } => {
    const sTp = tp.reduce((a, b) => a + b, 0),
      sFp = fp.reduce((a, b) => a + b, 0),
      sFn = fn.reduce((a, b) => a + b, 0);
    const mp = div(sTp, sTp + sFp),
      mr = div(sTp, sTp + sFn);
    const micro = key === 'precision' ? mp : key === 'recall' ? mr : div(2 * mp * mr, mp + mr);
    const macro = div(
      perClass.reduce((s, c, i) => s + (present[i] ? c[key] : 0), 0),
      nPresent,
    );
    const weighted = div(
      perClass.reduce((s, c) => s + c[key] * c.support, 0),
      total,
    );
    return { micro, macro, weighted };
  };
  return { precision: avg('precision'), recall: avg('recall'), f1: avg('f1'), perClass };
}

/** Mean squared error, its root, Pearson's r and R² (1 − SSE/SST) of predictions against truth. */
export interface RegressionReport {
  mse: number;
  rmse: number;
  pearson: number;
  r2: number;
}

/** MSE, RMSE, Pearson's r and R² of `pred` against `truth`, element by element. */
export function regressionReport(truth: ArrayLike<number>, pred: ArrayLike<number>): RegressionReport {
  const n = pred.length;
  let mp = 0,
    mt = 0;
  for (let i = 0; i < n; i++) {
    mp += pred[i]!;
    mt += truth[i]!;
  }
  mp /= n;
  mt /= n;
  let sse = 0,
    sst = 0,
    spp = 0,
    spt = 0;
  for (let i = 0; i < n; i++) {
    const p = pred[i]!,
      t = truth[i]!;
    sse += (p - t) ** 2;
    sst += (t - mt) ** 2;
    spp += (p - mp) ** 2;
    spt += (p - mp) * (t - mt);
  }
  const mse = sse / n;
  return {
    mse,
    rmse: Math.sqrt(mse),
    pearson: spp > 0 && sst > 0 ? spt / Math.sqrt(spp * sst) : NaN,
    r2: sst > 0 ? 1 - sse / sst : NaN,
  };
}

/** Regression metrics per target on the samples with a label there (pred row-major [samples, targets]). */
export function regressionByTarget(
  samples: readonly { y: Float32Array }[],
  pred: Float32Array,
  targets: number,
): RegressionReport[] {
  return Array.from({ length: targets }, (_, t) => {
    const p: number[] = [],
      y: number[] = [];
    samples.forEach((g, i) => {
      if (!Number.isNaN(g.y[t]!)) {
        p.push(pred[i * targets + t]!);
        y.push(g.y[t]!);
      }
    });
    return regressionReport(y, p);
  });
}
