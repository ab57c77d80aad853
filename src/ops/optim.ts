import { argRangeError, checkFinite } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitEven } from '../runtime/partition.js';
import type { Tensor } from '../memory/tensor.js';
import { sameShape, sameShapePair, tensorArg, sameMemory } from './check.js';

function bounds(exec: Exec, n: number): number[] {
  return splitEven(n, partsFor(exec, n * 4, 1 << 15), 16);
}

/** Adam's hyperparameters (PyTorch's names), with Adam with L2 or AdamW chosen by `decoupled`. */
export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW (decoupled weight decay) when true, Adam with L2 otherwise. */
  decoupled: boolean;
}

/** One Adam/AdamW step on w with gradient g and moments m, v; `step` counts from 1. */
export async function adamStep(
  exec: Exec,
  w: Tensor,
  g: Tensor,
  m: Tensor,
  v: Tensor,
  step: number,
  h: AdamHyper,
): Promise<void> {
  sameMemory('adamStep', exec, { w, g, m, v });
  const fn = 'adamStep';
  for (const [name, t] of [
    ['w', w],
    ['g', g],
    ['m', m],
    ['v', v],
  ] as const)
    tensorArg(fn, name, t, 'float32');
  sameShape(fn, 'g', g, w);
  sameShape(fn, 'm', m, w);
  sameShape(fn, 'v', v, w);
  if (!Number.isInteger(step) || step < 1) throw argRangeError(fn, 'step', 'an integer >= 1', step);
  for (const k of ['lr', 'beta1', 'beta2', 'eps', 'weightDecay'] as const) checkFinite(fn, `h.${k}`, h[k]);
  const bc1 = 1 - h.beta1 ** step,
    bc2 = 1 - h.beta2 ** step;
  await exec.run(
    fn,
    [
      w.ptr,
      g.ptr,
      m.ptr,
      v.ptr,
      h.lr,
      h.beta1,
      h.beta2,
      h.eps,
      h.weightDecay,
      h.decoupled ? 1 : 0,
      h.lr / bc1,
      Math.sqrt(bc2),
    ],
    bounds(exec, w.size),
  );
}

/** SGD's hyperparameters for one step (PyTorch's names: momentum, dampening, Nesterov, weight decay). */
export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** One SGD step (PyTorch's rule); `first` marks the step that initializes the momentum buffer. */
export async function sgdStep(
  exec: Exec,
  w: Tensor,
  g: Tensor,
  buf: Tensor | null,
  first: boolean,
  h: SgdHyper,
): Promise<void> {
  sameMemory('sgdStep', exec, { w, g, buf });
  const fn = 'sgdStep';
  sameShapePair(fn, 'w', w, 'g', g);
  for (const k of ['lr', 'momentum', 'dampening', 'weightDecay'] as const) checkFinite(fn, `h.${k}`, h[k]);
  if (h.momentum !== 0) {
    if (buf === null) throw argRangeError(fn, 'buf', 'a momentum buffer when momentum != 0', buf);
    tensorArg(fn, 'buf', buf, 'float32');
    sameShape(fn, 'buf', buf, w);
  }
  await exec.run(
    fn,
    [w.ptr, g.ptr, buf?.ptr ?? 0, h.lr, h.momentum, h.dampening, h.weightDecay, h.nesterov ? 1 : 0, first ? 1 : 0],
    bounds(exec, w.size),
  );
}
