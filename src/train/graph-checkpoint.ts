import { argRangeError } from '../core/errors.js';
import type { GraphSample } from '../graph/batch.js';
import type { Checkpoint, ResumePoint } from './checkpoint.js';
import type { GraphTrainConfig } from './graph-model.js';
import { framed, resumeRun, runCheckpoint, runFingerprint } from './run-checkpoint.js';
import type { TrainingState } from './training-state.js';

// What a GraphTrainer's checkpoint holds beyond the training state (run-checkpoint.ts): the
// config, the feature and target counts (a run's model is rebuilt from them alone), the step
// counter and shuffling RNG, the history, and the training set's fingerprint.

/** SHA-256 of a training set as the trainer sees it (each sample's arrays, in order): the run's fingerprint. */
export function sampleSetHash(samples: readonly GraphSample[]): string {
  return runFingerprint(
    samples.flatMap((g) => [Int32Array.of(g.nodes), g.x, g.src, g.dst, g.w, g.descriptors, g.y].flatMap(framed)),
  );
}

/** A graph run between epochs: the training state and the trainer's own counters. */
export interface GraphRunState extends TrainingState {
  config: GraphTrainConfig;
  features: number;
  targets: number;
  step: number;
  rng: Uint32Array;
  history: readonly unknown[];
}

/** The run's state after `epoch` as a checkpoint (see GraphFitOptions.checkpoint). */
export function graphCheckpoint(s: GraphRunState, epoch: number, trainHash: string): Checkpoint {
  return runCheckpoint(s, {
    task: 'graph',
    config: JSON.stringify(s.config),
    features: String(s.features),
    targets: String(s.targets),
    epoch: String(epoch),
    step: String(s.step),
    rng: Array.from(s.rng).join(','),
    history: JSON.stringify(s.history),
    train_sha256: trainHash,
  });
}

/**
 * Puts a graph run's checkpoint back into `state` (refusing another task's, another config's
 * or another training set's); returns the epoch to continue with and the trainer's counters.
 */
export function resumeGraphRun(
  from: ResumePoint,
  state: TrainingState,
  config: GraphTrainConfig,
  trainHash: string,
): { epoch: number; step: number; rng: Uint32Array; history: unknown[] } {
  const fn = 'GraphTrainer.fit';
  const { epoch, metadata: m } = resumeRun(from, state, {
    fn,
    refuse: (m, file) =>
      m['task'] !== 'graph' || m['epoch'] === undefined || m['rng'] === undefined
        ? argRangeError(
            fn,
            'options.resume',
            `a graph-training checkpoint with its training state (${file} has ${m['task'] ?? 'no'} task${m['rng'] === undefined ? ', no training state' : ''})`,
            m['task'] ?? 'none',
          )
        : null,
    config: { current: config },
    fingerprint: {
      key: 'train_sha256',
      value: trainHash,
      arg: 'train',
      expected: (file) =>
        `the training set the checkpoint ${file} was trained on (its samples or oversampled clones differ: another data file, split or seed)`,
      actual: 'a different set',
    },
  });
  return {
    epoch,
    step: Number(m['step']),
    rng: Uint32Array.from(m['rng']!.split(',').map(Number)),
    history: JSON.parse(m['history'] ?? '[]') as unknown[],
  };
}
