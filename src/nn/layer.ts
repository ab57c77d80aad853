import type { Exec } from '../runtime/exec.js';
import type { Tensor } from '../memory/tensor.js';

/** A trainable tensor and its gradient (same shape, overwritten by each backward pass). */
export interface Parameter {
  name: string;
  value: Tensor;
  grad: Tensor;
  /** L2 weight decay applied to this parameter by the optimizer. */
  weightDecay: number;
}

/** What a forward/backward pass needs besides its input. */
export interface PassContext {
  exec: Exec;
  training: boolean;
  /** Seed and step give each dropout call its own counter-based key. */
  seed: number;
  step: number;
}

/**
 * A layer computes its own backward pass from what it saved in forward (a per-layer tape).
 * forward returns a tensor the caller owns (or its input unchanged); backward returns the
 * gradient with respect to the input, or null when `needInputGrad` is false.
 */
export interface Layer {
  readonly kind: string;
  /** The layer's trainable parameters (none for ReLU and Dropout), in a fixed order. */
  params(): Parameter[];
  /** Computes the layer's output for input x, saving what backward needs when `ctx.training` is set. */
  forward(ctx: PassContext, x: Tensor): Promise<Tensor>;
  /**
   * Adds the parameters' gradients from the output's gradient gy; returns the input's gradient, or null without `needInputGrad`.
   */
  backward(ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null>;
  /** Frees what forward saved (after an evaluation pass, which has no backward). */
  release(): void;
  /** Frees the parameters. */
  dispose(): void;
}
