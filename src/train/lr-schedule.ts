import { argRangeError } from '../core/errors.js';

// Learning-rate schedules of the graph trainer, as pure functions of the optimizer step, so a
// resumed run (which restores the step counter) continues on the same curve with no state of
// its own to save.

/** The learning-rate schedules GraphTrainConfig.lrSchedule names: a constant rate, or Chemprop's Noam. */
export const LR_SCHEDULES = ['constant', 'noam'] as const;
/** One of LR_SCHEDULES. */
export type LrScheduleKind = (typeof LR_SCHEDULES)[number];

/** Chemprop's Noam schedule in steps: linear warm-up from `initLr` to `maxLr`, then exponential decay to `finalLr`. */
export interface NoamSchedule {
  warmupSteps: number;
  totalSteps: number;
  initLr: number;
  maxLr: number;
  finalLr: number;
}

/**
 * Chemprop's NoamLR (chemprop/nn_utils.py) for a run of `epochs` epochs of `stepsPerEpoch`
 * steps peaking at `lr`: warm-up over 2 epochs from lr/10, decay to lr/10 at the last step
 * (Chemprop's defaults: init_lr 1e-4, max_lr 1e-3, final_lr 1e-4, warmup_epochs 2).
 */
export function chempropNoam(lr: number, epochs: number, stepsPerEpoch: number): NoamSchedule {
  const fn = 'chempropNoam';
  if (!(lr > 0 && Number.isFinite(lr))) throw argRangeError(fn, 'lr', 'a positive number', lr);
  for (const [k, v] of [
    ['epochs', epochs],
    ['stepsPerEpoch', stepsPerEpoch],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw argRangeError(fn, k, 'a positive integer', v);
  return {
    warmupSteps: Math.min(2, epochs) * stepsPerEpoch,
    totalSteps: epochs * stepsPerEpoch,
    initLr: lr / 10,
    maxLr: lr,
    finalLr: lr / 10,
  };
}

/**
 * The learning rate of optimizer step `step` (0 for the first) under a Noam schedule:
 * initLr + step·(maxLr − initLr)/warmupSteps up to warmupSteps, then
 * maxLr·γ^(step − warmupSteps) with γ = (finalLr/maxLr)^(1/(totalSteps − warmupSteps)),
 * and finalLr after totalSteps (Chemprop's NoamLR; its scheduler steps after each batch).
 */
export function noamLearningRate(s: NoamSchedule, step: number): number {
  if (step <= s.warmupSteps)
    return s.warmupSteps === 0 ? s.maxLr : s.initLr + (step * (s.maxLr - s.initLr)) / s.warmupSteps;
  if (step > s.totalSteps) return s.finalLr;
  const gamma = (s.finalLr / s.maxLr) ** (1 / (s.totalSteps - s.warmupSteps));
  return s.maxLr * gamma ** (step - s.warmupSteps);
}
