import { argRangeError, checkFinite } from '../core/errors.js';
import { adamStep } from '../ops/optim.js';
import type { Exec } from '../runtime/exec.js';
import { Tensor } from '../memory/tensor.js';
import type { Parameter } from '../nn/layer.js';

/** Adam's learning rate, betas (default 0.9, 0.999), epsilon (default 1e-8) and whether its weight decay is AdamW's. */
export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** AdamW: decay weights directly instead of adding L2 to the gradient. */
  decoupled?: boolean;
}

/** Adam / AdamW over a list of parameters; each parameter carries its own weight decay. */
export class Adam {
  step = 0;
  readonly m: Tensor[];
  readonly v: Tensor[];
  /** The learning rate of the next update; a schedule (train/lr-schedule.ts) may change it between steps. */
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly decoupled: boolean;

  constructor(
    readonly params: Parameter[],
    options: AdamOptions,
  ) {
    this.lr = checkFinite('Adam', 'options.lr', options.lr);
    if (this.lr <= 0) throw argRangeError('Adam', 'options.lr', 'a positive number', this.lr);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.decoupled = options.decoupled ?? false;
    for (const [k, v] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(v >= 0 && v < 1)) throw argRangeError('Adam', `options.${k}`, 'in [0, 1)', v);
    }
    this.m = params.map((p) => Tensor.zeros(p.value.heap, 'float32', p.value.shape, `${p.name}.adam_m`));
    this.v = params.map((p) => Tensor.zeros(p.value.heap, 'float32', p.value.shape, `${p.name}.adam_v`));
  }

  /** One optimizer step: every parameter moves by its gradient (already computed), and the step count grows by one. */
  async update(exec: Exec): Promise<void> {
    this.step++;
    for (let i = 0; i < this.params.length; i++) {
      const p = this.params[i]!;
      await adamStep(exec, p.value, p.grad, this.m[i]!, this.v[i]!, this.step, {
        lr: this.lr,
        beta1: this.beta1,
        beta2: this.beta2,
        eps: this.eps,
        weightDecay: p.weightDecay,
        decoupled: this.decoupled,
      });
    }
  }

  /** Frees the moment tensors (the parameters belong to the model). */
  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.free();
  }
}
