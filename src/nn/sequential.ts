import type { Tensor } from '../memory/tensor.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { GCNConv, ReLU } from './layers.js';

/**
 * Layers applied in order. The model owns every activation it makes (the output included)
 * until backward() or release(): call one of them once per forward.
 */
export class Sequential {
  private acts: Tensor[] = [];

  constructor(readonly layers: Layer[]) {}

  /** Every layer's parameters, in layer order. */
  params(): Parameter[] {
    return this.layers.flatMap((l) => l.params());
  }

  /** Runs the layers in order on x, keeping each activation for backward. */
  async forward(ctx: PassContext, x: Tensor): Promise<Tensor> {
    if (this.acts.length) this.release();
    this.acts = [x];
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i]!,
        next = this.layers[i + 1];
      if (layer instanceof GCNConv && next instanceof ReLU) {
        // GCN then ReLU: the GCN applies the ReLU in its epilogue and the ReLU layer takes
        // that output as its own, so backward runs both layers as before.
        h = next.adopt(await layer.forward(ctx, h, { relu: true }));
        this.acts.push(h, h);
        i++;
        continue;
      }
      h = await layer.forward(ctx, h);
      this.acts.push(h);
    }
    return h;
  }

  /**
   * Backpropagates gOut (owned by the caller) into every parameter's grad; frees the
   * activations. With `needInputGrad`, returns the gradient with respect to the input (the
   * caller's to free); else null, and the first layer skips computing it.
   */
  async backward(ctx: PassContext, gOut: Tensor, needInputGrad = false): Promise<Tensor | null> {
    if (this.acts.length !== this.layers.length + 1)
      throw new Error('Sequential.backward: no forward pass to differentiate');
    let g: Tensor | null = gOut;
    try {
      for (let i = this.layers.length - 1; i >= 0 && g !== null; i--) {
        const layer = this.layers[i]!,
          before = this.layers[i - 1];
        let next: Tensor | null;
        if (layer instanceof ReLU && before instanceof GCNConv) {
          // The pair forward fused: the GCN runs the ReLU's backward with its bias gradient.
          next = await before.backward(ctx, g, i - 1 > 0 || needInputGrad, { reluOutput: layer.takeOutput() });
          i--;
        } else {
          next = await layer.backward(ctx, g, i > 0 || needInputGrad);
        }
        if (g !== gOut && g !== next) g.free();
        g = next;
      }
    } catch (err) {
      if (g !== null && g !== gOut) g.free(); // the gradient in flight when a layer failed
      throw err;
    } finally {
      this.freeActs();
    }
    return needInputGrad ? g : null;
  }

  /** Ends a pass that has no backward (evaluation). */
  release(): void {
    for (const l of this.layers) l.release();
    this.freeActs();
  }

  /** Frees the saved activations and every layer's parameters. */
  dispose(): void {
    this.release();
    for (const l of this.layers) l.dispose();
  }

  private freeActs(): void {
    const input = this.acts[0];
    const seen = new Set<Tensor>();
    for (const t of this.acts.slice(1)) {
      if (t !== input && !seen.has(t)) {
        seen.add(t);
        t.free();
      }
    }
    this.acts = [];
  }
}
