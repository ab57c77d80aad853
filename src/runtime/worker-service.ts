// A worker service (shard-services.ts, nn/branch-calls.ts): one worker call that serves
// requests over flags in shared memory for as long as its caller holds the worker. It ends
// only by its call settling (STOP, or a request that threw), so the caller's waits race that
// settling and never sleep on flags no worker will write again.

/** A worker call serving requests over shared flags: whether it ended, and with what error. */
export class WorkerService {
  ended = false;
  error: unknown = undefined;
  /** Resolves when the call settles, either way. */
  readonly settled: Promise<void>;

  constructor(readonly call: Promise<unknown>) {
    this.settled = call.then(
      () => {
        this.ended = true;
      },
      (err: unknown) => {
        this.ended = true;
        this.error = err;
      },
    );
  }

  /** The error the call ended with, or one saying its worker stopped serving. */
  get failure(): Error {
    return (this.error as Error | undefined) ?? new Error('its worker stopped serving');
  }

  /**
   * Sleeps until `flags[index]` is no longer `value` (at once if it already is not) or the
   * call ends: a dead worker never notifies.
   */
  async waitChange(flags: Int32Array, index: number, value: number): Promise<void> {
    const w = Atomics.waitAsync(flags, index, value);
    if (w.async) await Promise.race([w.value, this.settled]);
  }
}
