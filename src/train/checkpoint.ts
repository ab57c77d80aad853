import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync } from 'node:fs';
import { writeFileAtomic } from '../core/atomic-write.js';
import { GraftError } from '../core/errors.js';
import { decodeSafetensors, encodeSafetensors, type Checkpoint, type Sha256 } from '../core/safetensors.js';

// Checkpoints in the safetensors layout (core/safetensors.ts) with Graft's two checksums,
// both verified on load: a flipped dtype or shape is refused as surely as a flipped weight.
// Writes go to a temporary file in the same folder, are fsynced, then renamed over the
// target, so a crash leaves the old file or the new one.

export type { Checkpoint, StoredArray, StoredTensor } from '../core/safetensors.js';

const sha256: Sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

export function encodeCheckpoint(cp: Checkpoint): Buffer {
  const bytes = encodeSafetensors(cp, sha256);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A Graft checkpoint from its bytes: both checksums must be there and hold. */
export function decodeCheckpoint(buf: Uint8Array, file = 'checkpoint'): Checkpoint {
  return decodeSafetensors(buf, file, sha256, { requireChecksums: true });
}

/** A safetensors file from elsewhere (a PyTorch state_dict): Graft's checksums are checked only when present. */
export function decodeForeignSafetensors(buf: Uint8Array, file: string): Checkpoint {
  return decodeSafetensors(buf, file, sha256);
}

/**
 * Writes a checkpoint as a safetensors file with Graft's two checksums, atomically: a crash
 * leaves the old file or the new one, never half of one.
 *
 * @example
 *   saveCheckpoint('model.safetensors', {
 *     tensors: new Map([['w', { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) }]]),
 *     metadata: { note: 'an example' },
 *   });
 *   const cp = loadCheckpoint('model.safetensors');
 *   cp.tensors.get('w')?.data; // Float32Array [1, 2, 3, 4]
 */
export function saveCheckpoint(file: string, cp: Checkpoint): void {
  writeFileAtomic(file, encodeCheckpoint(cp));
}

/**
 * Reads a checkpoint written by saveCheckpoint (or graft train), verifying both checksums;
 * a damaged or truncated file is a GraftError naming it.
 *
 * @example
 *   const cp = loadCheckpoint('runs/cora/checkpoint.safetensors');
 *   console.log([...cp.tensors.keys()], cp.metadata);
 */
export function loadCheckpoint(file: string): Checkpoint {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    throw new GraftError(
      `${file}: cannot read checkpoint: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  return decodeCheckpoint(buf, file);
}

/** Where the checkpoint before the latest is kept: `checkpoint.safetensors` → `checkpoint.prev.safetensors`. */
export function previousCheckpointPath(file: string): string {
  return file.replace(/(\.safetensors)?$/, '.prev.safetensors');
}

/**
 * Writes a checkpoint and keeps the one it replaces as the previous (previousCheckpointPath):
 * the new file is written and fsynced under a temporary name first, then the current file
 * becomes the previous, then the new one takes its name. A crash at any point leaves at
 * least one good checkpoint, and a damaged latest one still has a good one behind it.
 */
export function saveCheckpointKeepingPrevious(file: string, cp: Checkpoint): void {
  const prev = previousCheckpointPath(file);
  const staged = `${file}.next`;
  writeFileAtomic(staged, encodeCheckpoint(cp));
  if (existsSync(file)) renameSync(file, prev);
  renameSync(staged, file);
}

export interface ResumePoint {
  checkpoint: Checkpoint;
  file: string;
  /** The latest checkpoint, when it was damaged and the previous one was used: why. */
  skipped?: string;
}

/**
 * The checkpoint to resume from: `file`, or, when it is missing or damaged, the previous one
 * (saveCheckpointKeepingPrevious) if that one is good. Null when there is neither. A damaged
 * file with no good previous one throws its own error (what is wrong, and where).
 */
export function latestGoodCheckpoint(file: string): ResumePoint | null {
  const prev = previousCheckpointPath(file);
  let latestError: GraftError | null = null;
  if (existsSync(file)) {
    try {
      return { checkpoint: loadCheckpoint(file), file };
    } catch (err) {
      if (!(err instanceof GraftError)) throw err;
      latestError = err;
    }
  }
  if (!existsSync(prev)) {
    if (latestError) throw latestError;
    return null;
  }
  try {
    return {
      checkpoint: loadCheckpoint(prev),
      file: prev,
      ...(latestError ? { skipped: latestError.message } : { skipped: `${file} is missing` }),
    };
  } catch (err) {
    if (latestError && err instanceof GraftError)
      throw new GraftError(`${latestError.message}; and the previous one: ${err.message}`);
    throw err;
  }
}
