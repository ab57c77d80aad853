import { createHash } from 'node:crypto';
import { argRangeError } from '../core/errors.js';
import {
  latestGoodCheckpoint,
  loadCheckpoint,
  saveCheckpointKeepingPrevious,
  type Checkpoint,
  type ResumePoint,
} from './checkpoint.js';
import { loadTrainingState, trainingStateEntries, type TrainingState } from './training-state.js';

// The one checkpoint contract of the node, graph and genomic trainers. A run writes its
// training state (training-state.ts) with metadata naming what it is: the task, the config,
// a fingerprint of the data it trains on. Resume checks the task, compares the saved config
// with the current one key by key (epochs may differ), checks the fingerprint, puts the state
// back and continues with the next epoch; the run then ends with the bits of one never
// stopped. Each trainer's public options (a path, a callback and a resume point, a file
// resumed automatically) are only different ways of filling RunCheckpoints.

/** Where a run's checkpoints go and where it continues from. */
export interface RunCheckpoints {
  /** Write every this many epochs (0: only after the last), and after the last: finished, stopped early or interrupted. */
  every: number;
  write: (cp: Checkpoint) => void;
  /** Continue from this checkpoint (null or absent: from scratch). */
  resume?: ResumePoint | null;
}

/** A checkpoint is due after `epoch`: every `every` epochs, and after the last one. */
export function checkpointDue(c: RunCheckpoints, epoch: number, last: boolean): boolean {
  return last || (c.every > 0 && epoch % c.every === 0);
}

/** Checkpoints written to `file`, keeping the one each replaces as the previous (saveCheckpointKeepingPrevious). */
export function checkpointsToFile(file: string, every: number): RunCheckpoints {
  return { every, write: (cp) => saveCheckpointKeepingPrevious(file, cp) };
}

/**
 * Checkpoints to `file` that also resume from it when it is there (latestGoodCheckpoint: the
 * previous one when the latest is damaged): a fit that is simply run again continues.
 */
export function resumableFile(file: string, every: number): RunCheckpoints {
  return { ...checkpointsToFile(file, every), resume: latestGoodCheckpoint(file) };
}

/** A resume point from a file name (read now) or one already read. */
export function resumePointOf(from: string | ResumePoint): ResumePoint {
  return typeof from === 'string' ? { checkpoint: loadCheckpoint(from), file: from } : from;
}

/** The run's training state as a checkpoint, with `metadata` (task, config, epoch, fingerprint…) after the state's own. */
export function runCheckpoint(state: TrainingState, metadata: Record<string, string>): Checkpoint {
  const s = trainingStateEntries(state);
  return { tensors: s.tensors, metadata: { ...s.metadata, ...metadata } };
}

/** What a resumed checkpoint must match: the run's kind, its config and its data's fingerprint. */
export interface RunIdentity {
  /** The function named in errors. */
  fn: string;
  /** Refuses a checkpoint of another kind of run (another task, no training state); null: accepted. */
  refuse?: (metadata: Record<string, string>, file: string) => Error | null;
  /** The config, compared with metadata.config (see sameConfig). Absent: the fingerprint covers it. */
  config?: { current: object; keys?: Iterable<string>; value?: (c: Record<string, unknown>, key: string) => unknown };
  /** The fingerprint (runFingerprint) of what the run trains on, under metadata[key]. */
  fingerprint?: { key: string; value: string; arg: string; expected: (file: string) => string; actual: string };
}

/**
 * Checks that the checkpoint at `from` is of this run, puts its training state into `state`,
 * and returns the epoch to continue with and the checkpoint's metadata (the trainer's own
 * keys: history, step counters, RNG).
 */
export function resumeRun(
  from: ResumePoint,
  state: TrainingState,
  id: RunIdentity,
): { epoch: number; metadata: Record<string, string> } {
  const { checkpoint: cp, file } = from;
  const m = cp.metadata;
  const refused = id.refuse?.(m, file);
  if (refused) throw refused;
  if (id.config) sameConfig(id.fn, JSON.parse(m['config'] ?? '{}') as object, id.config, file);
  const fp = id.fingerprint;
  if (fp && m[fp.key] !== fp.value) throw argRangeError(id.fn, fp.arg, fp.expected(file), fp.actual);
  loadTrainingState(cp, state, file, id.fn);
  return { epoch: Number(m['epoch']) + 1, metadata: m };
}

/**
 * The one config comparison: every key (default: those of either config) but `epochs` must
 * have the same value in the saved config as in the current one, read through `value` (which
 * fills in a key's default); the first that differs is refused, naming the checkpoint.
 */
export function sameConfig(fn: string, saved: object, current: NonNullable<RunIdentity['config']>, file: string): void {
  const s = saved as Record<string, unknown>,
    c = current.current as Record<string, unknown>;
  const value = current.value ?? ((cfg, k) => cfg[k]);
  for (const k of current.keys ?? new Set([...Object.keys(s), ...Object.keys(c)])) {
    if (k === 'epochs') continue;
    if (JSON.stringify(value(s, k)) !== JSON.stringify(value(c, k)))
      throw argRangeError(fn, `config.${k}`, `${JSON.stringify(value(s, k))} as in the checkpoint ${file}`, c[k]);
  }
}

/**
 * The one run fingerprint: SHA-256 (hex) of the parts in order, a string as its UTF-8 bytes and
 * an array as its raw bytes. A caller that needs the boundaries between arrays to count puts
 * each array's length before it (framed).
 */
export function runFingerprint(parts: Iterable<string | ArrayBufferView>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return h.digest('hex');
}

/** An array as fingerprint parts with its byte length first (0xffffffff for an absent one), so boundaries count. */
export function framed(a: ArrayBufferView | null | undefined): ArrayBufferView[] {
  return a ? [Uint32Array.of(a.byteLength), a] : [Uint32Array.of(0xffffffff)];
}
