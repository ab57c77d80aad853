import type { Parameter } from '../nn/layer.js';

/**
 * A host copy of parameter values: taken when validation improves, put back at the end
 * (early stopping's "restore best"). The copies are plain arrays, so checkpoints can hold them.
 */
export class ParamSnapshot {
  readonly values: Float32Array[];

  constructor(private readonly params: Parameter[]) {
    this.values = params.map((p) => (p.value.data() as Float32Array).slice());
  }

  /** Copies the parameters' current values in. */
  take(): void {
    this.params.forEach((p, i) => {
      this.values[i]!.set(p.value.data() as Float32Array);
    });
  }

  /** Writes the copies back into the parameters. */
  restore(): void {
    this.params.forEach((p, i) => {
      (p.value.data() as Float32Array).set(this.values[i]!);
    });
  }
}
