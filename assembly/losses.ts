import { expD, logD } from './math';

// Losses with their gradients over a row range [r0, r1). Each writes its row's loss to
// lossRows (f32 per row; 0 for masked-out rows) and the gradient of
// invCount · sum(row losses) to grad. The runtime sums lossRows on one thread in row order,
// so the total is the same for any split. Rows are computed in f64 and stored as f32.

// Masked softmax cross-entropy. labels: i32 per row, in [0, classes) for rows in the mask
// (checked by the caller). mask: u8 per row, or 0 for every row.
export function softmaxCrossEntropy(
  logits: usize, ld: i32, labels: usize, mask: usize, classes: i32,
  grad: usize, ldg: i32, lossRows: usize, invCount: f64, r0: i32, r1: i32,
): void {
  for (let r = r0; r < r1; r++) {
    const x = logits + (<usize>r * <usize>ld << 2);
    const g = grad + (<usize>r * <usize>ldg << 2);
    if (mask != 0 && load<u8>(mask + <usize>r) == 0) {
      for (let c = 0; c < classes; c++) store<f32>(g + (<usize>c << 2), 0);
      store<f32>(lossRows + (<usize>r << 2), 0);
      continue;
    }
    let m: f64 = -Infinity;
    for (let c = 0; c < classes; c++) m = max(m, <f64>load<f32>(x + (<usize>c << 2)));
    let s: f64 = 0;
    for (let c = 0; c < classes; c++) s += expD(<f64>load<f32>(x + (<usize>c << 2)) - m);
    const label = load<i32>(labels + (<usize>r << 2));
    const lse = m + logD(s);
    store<f32>(lossRows + (<usize>r << 2), <f32>(lse - <f64>load<f32>(x + (<usize>label << 2))));
    const inv = 1.0 / s;
    for (let c = 0; c < classes; c++) {
      const p = expD(<f64>load<f32>(x + (<usize>c << 2)) - m) * inv;
      store<f32>(g + (<usize>c << 2), <f32>((p - (c == label ? 1.0 : 0.0)) * invCount));
    }
  }
}

// Mean squared error: row loss = sum_c (pred - target)^2; mask: u8 per row or 0.
export function mseLoss(
  pred: usize, ldp: i32, target: usize, ldt: i32, mask: usize, cols: i32,
  grad: usize, ldg: i32, lossRows: usize, invCount: f64, r0: i32, r1: i32,
): void {
  for (let r = r0; r < r1; r++) {
    const p = pred + (<usize>r * <usize>ldp << 2);
    const t = target + (<usize>r * <usize>ldt << 2);
    const g = grad + (<usize>r * <usize>ldg << 2);
    const on = mask == 0 || load<u8>(mask + <usize>r) != 0;
    let s: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const o = <usize>c << 2;
      const d = on ? <f64>load<f32>(p + o) - <f64>load<f32>(t + o) : 0.0;
      s += d * d;
      store<f32>(g + o, <f32>(2.0 * d * invCount));
    }
    store<f32>(lossRows + (<usize>r << 2), <f32>s);
  }
}

// Binary cross-entropy on logits, per element, with a missing-label mask (u8 per element,
// 0 = missing, or address 0 for none) and an optional positive weight per column (f32, or 0):
// loss = pw·y·softplus(-x) + (1-y)·softplus(x), the formula of torch's BCEWithLogitsLoss.
export function bceWithLogits(
  logits: usize, ld: i32, targets: usize, ldt: i32, labelMask: usize, posWeight: usize, cols: i32,
  grad: usize, ldg: i32, lossRows: usize, invCount: f64, r0: i32, r1: i32,
): void {
  for (let r = r0; r < r1; r++) {
    const x = logits + (<usize>r * <usize>ld << 2);
    const t = targets + (<usize>r * <usize>ldt << 2);
    const g = grad + (<usize>r * <usize>ldg << 2);
    let s: f64 = 0;
    for (let c = 0; c < cols; c++) {
      const o = <usize>c << 2;
      if (labelMask != 0 && load<u8>(labelMask + <usize>r * <usize>cols + <usize>c) == 0) {
        store<f32>(g + o, 0);
        continue;
      }
      const v = <f64>load<f32>(x + o);
      const y = <f64>load<f32>(t + o);
      const pw: f64 = posWeight != 0 ? <f64>load<f32>(posWeight + o) : 1.0;
      const e = expD(-abs(v));
      const l = logD(1.0 + e);
      const spPos = max(v, 0.0) + l; // softplus(x)
      const spNeg = max(-v, 0.0) + l; // softplus(-x)
      s += pw * y * spNeg + (1.0 - y) * spPos;
      const sig = v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
      store<f32>(g + o, <f32>((sig * (1.0 - y + pw * y) - pw * y) * invCount));
    }
    store<f32>(lossRows + (<usize>r << 2), <f32>s);
  }
}
