import type { Parameter } from '../nn/layer.js';
import { ParamSnapshot } from './param-snapshot.js';

/** What a checkpoint stores of early stopping (JSON: Infinity travels as null). */
export interface EarlyStoppingState {
  bestLoss: number | null;
  bestEpoch: number;
  bad: number;
}

/**
 * Early stopping on a validation criterion (lower is better), with the best epoch's weights
 * kept in a host snapshot when parameters are given. One helper for every trainer, so the
 * rules are the same everywhere:
 *  - an epoch improves when its criterion is below the best so far;
 *  - an epoch with no validation at all (`null`) neither improves nor counts against
 *    patience, so training on an empty validation set runs its full epochs;
 *  - a NaN criterion (diverged, or no label to score) counts as a bad epoch;
 *  - `patience` 0 never stops.
 */
export class EarlyStopping {
  best = Infinity;
  bestEpoch = 0;
  bad = 0;
  private readonly snapshot: ParamSnapshot | null;

  constructor(
    readonly patience: number,
    params?: Parameter[],
  ) {
    this.snapshot = params ? new ParamSnapshot(params) : null;
  }

  /** Records one epoch's criterion; true when it is the new best (the snapshot was taken). */
  observe(epoch: number, criterion: number | null): boolean {
    if (criterion === null) return false;
    if (criterion < this.best) {
      this.best = criterion;
      this.bestEpoch = epoch;
      this.bad = 0;
      this.snapshot?.take();
      return true;
    }
    this.bad++;
    return false;
  }

  get shouldStop(): boolean {
    return this.patience > 0 && this.bad >= this.patience;
  }

  /** The best epoch's weights as host copies, in parameter order (null without a snapshot). */
  get bestValues(): Float32Array[] | null {
    return this.snapshot?.values ?? null;
  }

  /** Puts the best epoch's weights back; false (and nothing changes) before any best epoch. */
  restoreBest(): boolean {
    if (!this.snapshot || this.bestEpoch === 0) return false;
    this.snapshot.restore();
    return true;
  }

  state(): EarlyStoppingState {
    return { bestLoss: Number.isFinite(this.best) ? this.best : null, bestEpoch: this.bestEpoch, bad: this.bad };
  }

  load(s: EarlyStoppingState): void {
    this.best = s.bestLoss ?? Infinity;
    this.bestEpoch = s.bestEpoch;
    this.bad = s.bad;
  }
}
