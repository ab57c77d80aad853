import type { Tensor } from '../memory/tensor.js';
import type { PassContext } from '../nn/layer.js';
import type { Model } from '../nn/model.js';
import type { LossResult } from '../ops/losses.js';

// One training pass, written once for every trainer (node, graph, genomic) and the shard
// worker: forward, loss, backward, and every temporary released on every path. The model owns
// its activations until backward() or release(); the loss's gradient is the caller's. A pass
// that fails midway (a worker fault, a bad label) must leave neither behind, or the heap
// leaks a pass's worth of tensors on each retry of a rolled-back epoch.

/** What a training pass gives back: the loss, and what `read` took from the output before backward. */
export interface PassResult<R> {
  loss: number;
  read: R;
}

/**
 * Forward on `input`, `loss` of the output, backward from the loss's gradient into the
 * parameters' grads. `read` sees the output after the loss and before backward (the node
 * trainer's training accuracy). The loss's gradient is freed and the model released whether
 * the pass succeeds or throws.
 */
export async function trainingPass<I, R = undefined>(
  model: Model<I>,
  ctx: PassContext,
  input: I,
  loss: (out: Tensor) => Promise<LossResult>,
  read?: (out: Tensor) => R,
): Promise<PassResult<R>> {
  try {
    const out = await model.forward(ctx, input);
    const l = await loss(out);
    try {
      const seen = read ? read(out) : (undefined as R);
      await model.backward(ctx, l.grad);
      return { loss: l.loss, read: seen };
    } finally {
      l.grad.free();
    }
  } finally {
    model.release(); // frees the pass's activations if it failed midway (a no-op after backward)
  }
}

/** An evaluation pass: forward on `input` (training off), `use` of the output, then the model released on every path. */
export async function evaluationPass<I, T>(
  model: Model<I>,
  ctx: PassContext,
  input: I,
  use: (out: Tensor) => Promise<T> | T,
): Promise<T> {
  try {
    return await use(await model.forward(ctx, input));
  } finally {
    model.release();
  }
}

/** What distributed training does around a trainer's steps (distributed/averaging.ts implements it). */
export interface StepSync {
  /** Before the optimizer update: the gradients of this process's batch (sync SGD averages them) and the parameters they apply to. */
  gradients(grads: Tensor[], params: Tensor[]): Promise<void>;
  /** After each step: the parameters (K-step, hierarchical and block-momentum averaging). */
  afterStep(params: Tensor[]): Promise<void>;
  /** Before each validation pass: every process ends the epoch with the same parameters. */
  beforeValidation(params: Tensor[]): Promise<void>;
  /**
   * True where every process applies the processes' mean gradient (sync SGD): a process with
   * no batch of its own must still take the optimizer step with it. Otherwise (the averaging
   * modes) each process steps on its own gradient, and one without a batch keeps its
   * parameters and optimizer state, taking part in the exchange only.
   */
  readonly averagesGradients?: boolean;
}
