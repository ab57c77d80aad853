import { argRangeError } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitEven } from '../runtime/partition.js';
import { Tensor } from '../memory/tensor.js';
import { matrixArg, outArg, sameShape, tensorArg, sameMemory } from './check.js';

/** What every loss takes besides its inputs. */
export interface LossOptions {
  /** uint8 [n]: rows counted (all rows without one). */
  mask?: Tensor;
  /** Where to write the gradient (a new tensor without one). */
  gradOut?: Tensor;
  /**
   * The mean's denominator: the count of this call's rows (or labels), or a caller's total
   * when one batch is split into shards, so the shards' gradients add up to the batch's.
   */
  normalizer?: number;
}

/** A loss and its gradient with respect to the loss's input. */
export interface LossResult {
  /** Mean loss over the counted rows (or labels). */
  loss: number;
  /** d loss / d input, same shape as the input. */
  grad: Tensor;
  /** Rows (or labels, for BCE) the mean is over. */
  count: number;
}

async function finish(exec: Exec, rows: number, lossRows: Tensor, invCount: number): Promise<number> {
  // One thread, row order: the total is the same for any split.
  const total = exec.backend.sumF32(lossRows.ptr, rows);
  lossRows.free();
  return total * invCount;
}

function normalizerArg(fn: string, normalizer: number | undefined, count: number): number {
  if (normalizer === undefined) return count;
  if (!(normalizer > 0) || !Number.isFinite(normalizer))
    throw argRangeError(fn, 'options.normalizer', 'a positive number', normalizer);
  return normalizer;
}

function maskArg(fn: string, mask: Tensor | undefined, n: number): Tensor | undefined {
  if (mask === undefined) return undefined;
  tensorArg(fn, 'options.mask', mask, 'uint8', 1);
  if (mask.size !== n) throw argRangeError(fn, 'options.mask', `${n} entries (one per row)`, mask.size);
  return mask;
}

/**
 * Mean softmax cross-entropy over the rows in `mask` (all rows without one).
 * Shapes: logits [n, c], labels int32 [n] (each in [0, c) where masked in), mask uint8 [n].
 */
export async function softmaxCrossEntropy(
  exec: Exec,
  logits: Tensor,
  labels: Tensor,
  options: LossOptions = {},
): Promise<LossResult> {
  sameMemory('softmaxCrossEntropy', exec, {
    logits,
    labels,
    'options.mask': options.mask,
    'options.gradOut': options.gradOut,
  });
  const fn = 'softmaxCrossEntropy';
  const { mask, gradOut } = options;
  matrixArg(fn, 'logits', logits);
  tensorArg(fn, 'labels', labels, 'int32', 1);
  const [n, c] = logits.shape as [number, number];
  if (labels.size !== n) throw argRangeError(fn, 'labels', `${n} entries (one per row)`, labels.size);
  const m = maskArg(fn, mask, n);
  const lab = labels.data() as Int32Array,
    md = m?.data();
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (md && md[i] === 0) continue;
    count++;
    const l = lab[i]!;
    if (l < 0 || l >= c) throw argRangeError(fn, `labels[${i}]`, `a class in [0, ${c})`, l);
  }
  if (count === 0 && options.normalizer === undefined)
    throw argRangeError(fn, 'options.mask', 'at least one row selected', 'none');
  const inv = 1 / normalizerArg(fn, options.normalizer, count);
  const grad = outArg(fn, gradOut, logits, 'float32', logits.shape, 'options.gradOut');
  const lossRows = Tensor.empty(logits.heap, 'float32', [n], 'loss rows');
  const bounds = splitEven(n, partsFor(exec, n * c * 8, 1 << 15));
  await exec.run(fn, [logits.ptr, c, labels.ptr, m?.ptr ?? 0, c, grad.ptr, c, lossRows.ptr, inv], bounds);
  return { loss: await finish(exec, n, lossRows, inv), grad, count };
}

/**
 * Mean squared error averaged over the counted rows and all columns.
 * Shapes: pred [n, t], target [n, t], mask uint8 [n].
 */
export async function mseLoss(
  exec: Exec,
  pred: Tensor,
  target: Tensor,
  options: LossOptions = {},
): Promise<LossResult> {
  sameMemory('mseLoss', exec, { pred, target, 'options.mask': options.mask, 'options.gradOut': options.gradOut });
  const fn = 'mseLoss';
  const { mask, gradOut, normalizer } = options;
  matrixArg(fn, 'pred', pred);
  tensorArg(fn, 'target', target, 'float32');
  sameShape(fn, 'target', target, pred);
  const [n, t] = pred.shape as [number, number];
  const m = maskArg(fn, mask, n);
  let rows = n;
  if (m) rows = (m.data() as Uint8Array).reduce((s, v) => s + (v ? 1 : 0), 0);
  if (t === 0) throw argRangeError(fn, 'pred', 'at least one column', `${t} columns`);
  if (rows === 0 && normalizer === undefined)
    throw argRangeError(fn, 'options.mask', 'at least one row selected', 'none');
  const inv = 1 / normalizerArg(fn, normalizer, rows * t);
  const grad = outArg(fn, gradOut, pred, 'float32', pred.shape, 'options.gradOut');
  const lossRows = Tensor.empty(pred.heap, 'float32', [n], 'loss rows');
  await exec.run(
    fn,
    [pred.ptr, t, target.ptr, t, m?.ptr ?? 0, t, grad.ptr, t, lossRows.ptr, inv],
    splitEven(n, partsFor(exec, n * t * 4, 1 << 15)),
  );
  return { loss: await finish(exec, n, lossRows, inv), grad, count: rows };
}

/**
 * Mean binary cross-entropy on logits over the labels present (labelMask uint8 [n, t],
 * 0 = missing), with an optional positive weight per label (float32 [t]).
 */
export async function bceWithLogits(
  exec: Exec,
  logits: Tensor,
  targets: Tensor,
  options: Omit<LossOptions, 'mask'> & { labelMask?: Tensor; posWeight?: Tensor } = {},
): Promise<LossResult> {
  sameMemory('bceWithLogits', exec, {
    logits,
    targets,
    'options.labelMask': options.labelMask,
    'options.posWeight': options.posWeight,
    'options.gradOut': options.gradOut,
  });
  const fn = 'bceWithLogits';
  matrixArg(fn, 'logits', logits);
  tensorArg(fn, 'targets', targets, 'float32');
  sameShape(fn, 'targets', targets, logits);
  const [n, t] = logits.shape as [number, number];
  const lm = options.labelMask;
  let count = n * t;
  if (lm !== undefined) {
    tensorArg(fn, 'options.labelMask', lm, 'uint8');
    sameShape(fn, 'options.labelMask', lm, logits);
    count = (lm.data() as Uint8Array).reduce((s, v) => s + (v ? 1 : 0), 0);
  }
  if (count === 0 && options.normalizer === undefined)
    throw argRangeError(fn, 'options.labelMask', 'at least one label present', 'none');
  const inv = 1 / normalizerArg(fn, options.normalizer, count);
  const pw = options.posWeight;
  if (pw !== undefined) {
    tensorArg(fn, 'options.posWeight', pw, 'float32', 1);
    if (pw.size !== t) throw argRangeError(fn, 'options.posWeight', `${t} entries (one per label)`, pw.size);
  }
  const tg = targets.data() as Float32Array,
    md = lm?.data();
  for (let i = 0; i < n * t; i++) {
    if (md && md[i] === 0) continue;
    const v = tg[i]!;
    if (!(v >= 0 && v <= 1)) {
      throw argRangeError(fn, `targets[${Math.floor(i / t)}, ${i % t}]`, 'a value in [0, 1] (mask missing labels)', v);
    }
  }
  const grad = outArg(fn, options.gradOut, logits, 'float32', logits.shape, 'options.gradOut');
  const lossRows = Tensor.empty(logits.heap, 'float32', [n], 'loss rows');
  await exec.run(
    fn,
    [logits.ptr, t, targets.ptr, t, lm?.ptr ?? 0, pw?.ptr ?? 0, t, grad.ptr, t, lossRows.ptr, inv],
    splitEven(n, partsFor(exec, n * t * 8, 1 << 15)),
  );
  return { loss: await finish(exec, n, lossRows, inv), grad, count };
}
