import type { Tensor } from '../memory/tensor.js';
import type { Parameter, PassContext } from './layer.js';
import type { Sequential } from './sequential.js';
import type { BranchJoin } from './branch-join.js';

/**
 * What every trainer drives, whatever the model inside: parameters, a forward pass on the
 * trainer's input `I` (a tensor, a collated batch, or nothing for a transductive model that
 * holds its features), backward from the output's gradient, and cleanup. The model owns its
 * output until backward() or release().
 */
export interface Model<I = Tensor> {
  /** Every trainable parameter of the model, in a fixed order (the checkpoint's). */
  params(): Parameter[];
  /** Runs the model on `input` and returns its output, which the model owns until backward() or release(). */
  forward(ctx: PassContext, input: I): Promise<Tensor>;
  /**
   * Backward from the output's gradient into every parameter's grad. With `needInputGrads`,
   * also returns the gradient with respect to each input tensor, in input order (the
   * caller's to free): what attributions are made of. Else resolves to null.
   */
  backward(ctx: PassContext, gOut: Tensor, needInputGrads?: boolean): Promise<Tensor[] | null>;
  /** Ends a pass that has no backward (evaluation). */
  release(): void;
  /**
   * Runs `body` (many passes) with this model's branches placed: 'workers' lends each branch
   * but the first a worker of its own (whole passes there); 'inline' runs them one after
   * another with every op split over all threads. Absent: the model has no branches.
   */
  holdThreads?<T>(body: () => Promise<T>, placement?: 'workers' | 'inline'): Promise<T>;
  /** Frees the parameters too. */
  dispose(): void;
}

/** A Sequential fed by `input(i)`. */
export function sequentialModel<I>(seq: Sequential, input: (i: I) => Tensor): Model<I> {
  return {
    params: () => seq.params(),
    forward: (ctx, i) => seq.forward(ctx, input(i)),
    backward: async (ctx, g, needInputGrads = false) => {
      const gx = await seq.backward(ctx, g, needInputGrads);
      return gx ? [gx] : null;
    },
    release: () => seq.release(),
    dispose: () => seq.dispose(),
  };
}

/** A branch join fed by `inputs(i)`: one input per branch, in branch order. */
export function joinedModel<I>(join: BranchJoin, inputs: (i: I) => Tensor[]): Model<I> {
  return {
    params: () => join.params(),
    forward: (ctx, i) => join.forward(ctx, inputs(i)),
    backward: (ctx, g, needInputGrads = false) => join.backward(ctx, g, needInputGrads),
    release: () => join.release(),
    holdThreads: (body, placement = 'workers') =>
      placement === 'inline' ? join.holdingInline(body) : join.holdingWorkers(body),
    dispose: () => join.dispose(),
  };
}
