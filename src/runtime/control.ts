// Layout of a team's control block: one SharedArrayBuffer, apart from the tensor memory so a
// kernel's stray write can never corrupt the protocol. Int32 fields by index; op arguments as
// f64 (exact for every i32, u32 and f32 an op passes); the first failing helper's message as
// UTF-8 bytes.
//
// Protocol (leader = the thread that owns the team; helpers = workers serving it):
//   1. The leader makes kGeneration odd, writes kKernel, kParts, kLeaderParts, the bounds and
//      the arguments, sets kRemaining to the helpers' part count, and makes kGeneration even
//      again (a seqlock: a helper that saw an odd value, or a different value after reading,
//      reads again). It wakes sleeping helpers only when kSleepers says there are some.
//   2. Helper of rank r runs part r + kLeaderParts when that part exists, then decrements
//      kRemaining; the one that reaches 0 wakes the leader if kLeaderWaiting is set.
//   3. A helper whose thread exits sets kExited + rank and bumps kExits (and, if it was
//      running a part, records the error and decrements kRemaining), so the leader re-forms
//      that rank before its next op.
//   4. The leader runs part 0 itself when kLeaderParts is 1, then spins on kRemaining for a
//      short while and falls back to Atomics.waitAsync, so a worker's death (seen only on the
//      leader's event loop) can still end the wait.
// The leader never rewrites an op before every helper that runs a part of it has finished,
// so a participating helper always reads a stable op.

export const kGeneration = 0;
export const kRemaining = 1;
export const kKernel = 2;
export const kParts = 3;
export const kLeaderParts = 4;
export const kErrorRank = 5;
export const kErrorLength = 6;
export const kSleepers = 7;
export const kLeaderWaiting = 8;
export const kJoined = 9;
export const kReleaseFrom = 10;
export const kSpinMicros = 11;
export const kExits = 12;
/** Non-zero while the leader records a trace: helpers then record theirs (runtime/trace.ts). */
export const kTrace = 13;
export const kBounds = 16;

export const MAX_PARTS = 256;
/** kExited + rank: set by a helper's exit handler (the thread is gone; re-form that rank). */
export const kExited = kBounds + MAX_PARTS + 1;
export const ARGS_OFFSET = 2048;
export const MAX_ARGS = 32;
export const ERROR_OFFSET = 4096;
export const ERROR_CAPACITY = 4096;
export const CONTROL_BYTES = 8192;

/** kKernel value that sends helpers of rank >= kReleaseFrom back to the pool. */
export const RELEASE = -1;

/** Records the first failure of an op: rank, then its message. Later failures keep the first. */
export function recordError(control: SharedArrayBuffer, rank: number, message: string): void {
  const ctl = new Int32Array(control);
  if (Atomics.compareExchange(ctl, kErrorRank, 0, rank + 1) !== 0) return;
  const { written } = new TextEncoder().encodeInto(message, new Uint8Array(control, ERROR_OFFSET, ERROR_CAPACITY));
  Atomics.store(ctl, kErrorLength, written ?? 0);
}

export function readError(control: SharedArrayBuffer): string {
  const n = Atomics.load(new Int32Array(control), kErrorLength);
  // TextDecoder refuses views of shared memory: copy first.
  return new TextDecoder().decode(new Uint8Array(control, ERROR_OFFSET, n).slice());
}
