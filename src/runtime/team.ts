import type { Piscina } from 'piscina';
import { WorkerError } from '../core/errors.js';
import type { KernelBackend } from '../kernels/backend.js';
import { invokeKernel, kernelId, kernelName, type RunnableKernel } from '../kernels/registry.js';
import type { Heap } from '../memory/heap.js';
import { plannedFault } from '../core/test-fault.js';
import * as C from './control.js';
import type { Exec } from './exec.js';
import type { ServeResult, WorkerTask } from './protocol.js';
import { absorbTrace, kernelCategory, traceNow, tracer } from './trace.js';

export interface TeamOptions {
  /** Microseconds a helper spins for the next op before it sleeps. */
  helperSpinMicros: number;
  /** Microseconds the leader spins for helpers before it waits asynchronously. */
  leaderSpinMicros: number;
  /** Keep ops under WAKE_GRAINS on the leader while every helper sleeps (spareWake; RuntimeOptions). */
  keepSmallOpsInline?: boolean;
}

/**
 * A leader (the thread that calls `run`) and the helpers serving its control block. The
 * leader runs part 0 itself unless `leaderComputes` is off (a forked branch, whose leader is
 * busy dispatching other branches); with no helpers every part runs on the leader.
 */
export class Team implements Exec {
  readonly control = new SharedArrayBuffer(C.CONTROL_BYTES);
  private readonly ctl = new Int32Array(this.control);
  private readonly args = new Float64Array(this.control, C.ARGS_OFFSET, C.MAX_ARGS);
  private serving: (Promise<ServeResult | undefined> | undefined)[] = [];
  private dead = new Map<number, Error>();
  private expectedJoins = 0;
  private exitsSeen = 0;
  private locked = false;
  private waiters: (() => void)[] = [];
  /** Small ops in a row kept on this thread rather than waking sleeping helpers (spareWake). */
  private wakesSpared = 0;
  /** Run part 0 on the leader (off for forked branches with helpers). */
  leaderComputes = true;
  /** Let the leader spin for helpers (off while forks run: the leader must keep dispatching). */
  spinLeader = true;
  /** Yield to the event loop after an op that ran inline (so forked branches keep moving). */
  yieldInline = false;

  constructor(
    readonly heap: Heap,
    readonly backend: KernelBackend,
    private readonly pool: Piscina | null,
    private readonly options: TeamOptions,
  ) {
    Atomics.store(this.ctl, C.kSpinMicros, options.helperSpinMicros);
  }

  get helpers(): number {
    return this.serving.length;
  }

  get threads(): number {
    return this.helpers + (this.leaderComputes || this.helpers === 0 ? 1 : 0);
  }

  /** Adds `n` helpers (ranks helpers .. helpers+n-1) and resolves once all have joined. */
  async addHelpers(n: number): Promise<void> {
    if (n <= 0) return;
    await this.lock();
    try {
      for (let i = 0; i < n; i++) this.startServe(this.serving.length);
      await this.awaitJoins();
    } finally {
      this.unlock();
    }
  }

  /** Sends helpers of rank >= `from` back to the pool; resolves when their tasks have ended. */
  async releaseFrom(from: number): Promise<void> {
    await this.lock();
    try {
      if (this.dead.size) await this.repair();
      if (from >= this.helpers) return;
      const ctl = this.ctl;
      // Published as an op is (the seqlock of runLocked): every helper reads RELEASE and the
      // rank it applies from together, or reads again. The lock guarantees no op is in flight.
      Atomics.add(ctl, C.kGeneration, 1);
      ctl[C.kKernel] = C.RELEASE;
      ctl[C.kReleaseFrom] = from;
      Atomics.add(ctl, C.kGeneration, 1);
      Atomics.notify(ctl, C.kGeneration);
      const leaving = this.serving.splice(from);
      // A helper hands back the trace it recorded when it leaves.
      for (const r of await Promise.allSettled(leaving)) if (r.status === 'fulfilled') absorbTrace(r.value?.trace);
    } finally {
      this.unlock();
    }
  }

  async run(name: RunnableKernel, args: readonly number[], bounds: readonly number[]): Promise<void> {
    const id = kernelId(name);
    if (bounds.length < 2) return;
    const parts = (): number => Math.min(bounds.length - 1, this.threads);
    const fault = plannedFault(name, parts, this.helpers);
    if (fault)
      return this.run(
        'faultInject',
        fault.args,
        Array.from({ length: fault.parts + 1 }, (_, i) => i),
      );
    await this.lock();
    try {
      this.noteExits();
      if (this.dead.size) await this.repair();
      await this.runLocked(id, args, bounds);
      this.noteExits();
    } finally {
      this.unlock();
    }
    if (this.yieldInline && someBranchReady()) {
      const tr = tracer,
        t0 = tr ? traceNow() : 0;
      await new Promise<void>((r) => setImmediate(r));
      tr?.span('wait-sleep', 'yield to the event loop (forks)', t0);
    }
  }

  private async runLocked(id: number, args: readonly number[], bounds0: readonly number[]): Promise<void> {
    const helpers = this.helpers;
    const lead = this.leaderComputes || helpers === 0 ? 1 : 0;
    // Threads may have left for a fork since the op cut its parts: merge neighbouring parts.
    const bounds = bounds0.length - 1 > helpers + lead ? mergeParts(bounds0, helpers + lead) : bounds0;
    const parts = bounds.length - 1;
    const tr = tracer;
    const size = tr?.takeOpWork();
    if (helpers === 0 || (parts === 1 && lead === 1)) {
      if (tr) {
        let t = traceNow();
        for (let p = 0; p < parts; p++) {
          invokeKernel(this.backend, id, args, bounds[p]!, bounds[p + 1]!);
          t = tr.span(kernelCategory(id), kernelName(id), t, undefined, size);
        }
      } else {
        for (let p = 0; p < parts; p++) invokeKernel(this.backend, id, args, bounds[p]!, bounds[p + 1]!);
      }
      return;
    }
    if (args.length > C.MAX_ARGS) throw new RangeError(`Team.run: ${args.length} arguments, at most ${C.MAX_ARGS}`);
    const ctl = this.ctl;
    let t = tr ? traceNow() : 0;
    Atomics.add(ctl, C.kGeneration, 1); // odd: writing
    ctl[C.kTrace] = tr ? 1 : 0;
    ctl[C.kKernel] = id;
    ctl[C.kParts] = parts;
    ctl[C.kLeaderParts] = lead;
    for (let p = 0; p <= parts; p++) ctl[C.kBounds + p] = bounds[p]!;
    for (let i = 0; i < args.length; i++) this.args[i] = args[i]!;
    ctl[C.kErrorRank] = 0;
    // kRemaining is set before the even generation, so a helper that sees the op sees the
    // count it will decrement.
    Atomics.store(ctl, C.kRemaining, parts - lead);
    Atomics.add(ctl, C.kGeneration, 1); // even: published
    // Publish, then read the sleeper count: the notify (a futex syscall) is skipped when no
    // helper sleeps, and no wake-up is lost. A helper adds itself to kSleepers, then waits on
    // kGeneration for a change from the generation it saw (worker.ts nextGeneration). All
    // four are sequentially consistent atomics, so in their one order either the helper's add
    // comes before this load (we see it and notify; if it has not slept yet, its wait finds
    // kGeneration already changed and returns at once) or after it, and then after the
    // publish too, so its wait again returns at once. Reading kSleepers before publishing
    // would lose a helper that went to sleep in between.
    const woke = Atomics.load(ctl, C.kSleepers) > 0;
    if (woke) Atomics.notify(ctl, C.kGeneration);
    if (tr) t = tr.span('dispatch', `publish ${kernelName(id)}`, t, undefined, { parts, woke, ...size });

    let leaderError: unknown;
    if (lead === 1) {
      try {
        invokeKernel(this.backend, id, this.args, bounds[0]!, bounds[1]!);
      } catch (err) {
        leaderError = err;
      }
      if (tr) t = tr.span(kernelCategory(id), kernelName(id), t);
    }
    // Helpers' parts take about as long as the leader's: spin a little on kRemaining before
    // paying for an asynchronous wait (a promise and an event-loop turn). Not while forks run
    // (spinLeader off): this thread then also dispatches the other branches' ops, and a spin
    // would hold them back.
    if (Atomics.load(ctl, C.kRemaining) !== 0 && this.spinLeader) {
      const deadline = performance.now() + this.options.leaderSpinMicros / 1000;
      for (let i = 1; Atomics.load(ctl, C.kRemaining) !== 0; i++) {
        if ((i & 1023) === 0 && performance.now() > deadline) break;
      }
      if (tr) t = tr.span('wait-spin', 'spin for helpers', t);
    }
    let deadInOp = 0;
    for (;;) {
      const remaining = Atomics.load(ctl, C.kRemaining);
      deadInOp = 0;
      for (const r of this.dead.keys()) if (r + lead < parts) deadInOp++;
      // Parts of dead helpers will never count down: their deaths (startServe) notify this wait.
      if (remaining <= deadInOp) break;
      // Say we wait, then wait on the count read before saying it: the last helper notifies
      // only when it sees kLeaderWaiting (worker.ts), sparing a syscall per op when the spin
      // caught it. If it counted down before seeing the flag, the count has moved from
      // `remaining` and waitAsync returns at once (not async); otherwise it sees the flag and
      // notifies. The same sequentially consistent order as the publish above.
      Atomics.store(ctl, C.kLeaderWaiting, 1);
      const w = Atomics.waitAsync(ctl, C.kRemaining, remaining);
      if (w.async) {
        const tw = tr ? traceNow() : 0;
        awaiting.add(this);
        try {
          await w.value;
        } finally {
          awaiting.delete(this);
        }
        tr?.span('wait-sleep', 'await helpers (event loop)', tw);
      }
      Atomics.store(ctl, C.kLeaderWaiting, 0);
    }
    if (leaderError !== undefined) throw leaderError;
    const errorRank = Atomics.load(ctl, C.kErrorRank);
    if (errorRank !== 0) {
      throw new WorkerError(
        `${kernelName(id)} failed on worker ${errorRank - 1}: ${C.readError(this.control)}`,
        kernelName(id),
        errorRank - 1,
      );
    }
    for (const [r, err] of this.dead) {
      if (r + lead < parts)
        throw new WorkerError(`${kernelName(id)}: worker ${r} died: ${err.message}`, kernelName(id), r);
    }
  }

  /** Every helper is asleep in Atomics.wait (worker.ts nextGeneration): the next op split over them pays a wake-up. */
  helpersAsleep(): boolean {
    const helpers = this.serving.length;
    return helpers > 0 && Atomics.load(this.ctl, C.kSleepers) >= helpers;
  }

  /**
   * Whether to keep an op too small to pay for a wake-up on this thread (partsFor asks): yes
   * while every helper sleeps, except for the WAKE_EVERY-th such op in a row, which is split
   * all the same, since a woken helper spins for the next op and the small ops after it then
   * split cheaply (helpers never woken would leave a stream of small ops on one thread).
   */
  spareWake(): boolean {
    if (!this.options.keepSmallOpsInline || !this.helpersAsleep()) {
      this.wakesSpared = 0;
      return false;
    }
    if (++this.wakesSpared < WAKE_EVERY) return true;
    this.wakesSpared = 0;
    return false;
  }

  /** No helper is still running a part of the current op (or one has died): a waiting leader can go on. */
  helpersDone(): boolean {
    return Atomics.load(this.ctl, C.kRemaining) === 0 || this.dead.size > 0;
  }

  /** Ends every helper's serve task (the pool itself stays). */
  async dissolve(): Promise<void> {
    await this.releaseFrom(0);
  }

  private startServe(rank: number): void {
    const pool = this.pool;
    if (!pool) throw new Error('Team: no worker pool to take helpers from');
    const task: WorkerTask = { type: 'serve', control: this.control, rank };
    this.expectedJoins++;
    const p = pool.run(task).then(
      (r) => r as ServeResult,
      (err: unknown) => {
        // The worker died (or the pool was destroyed). Piscina replaces the thread; the next
        // op re-forms this rank. Wake a leader that may be waiting on this helper.
        if (this.serving[rank] === p) {
          this.dead.set(rank, err instanceof Error ? err : new Error(String(err)));
          Atomics.notify(this.ctl, C.kRemaining);
          Atomics.notify(this.ctl, C.kJoined);
        }
        return undefined;
      },
    );
    this.serving[rank] = p;
  }

  private async awaitJoins(): Promise<void> {
    for (;;) {
      const joined = Atomics.load(this.ctl, C.kJoined);
      if (joined >= this.expectedJoins) return;
      if (this.dead.size) {
        // A helper died before joining: its join will never come.
        const [r, err] = this.dead.entries().next().value as [number, Error];
        throw new WorkerError(`worker ${r} died while joining: ${err.message}`, 'serve', r);
      }
      const w = Atomics.waitAsync(this.ctl, C.kJoined, joined);
      if (w.async) await w.value;
    }
  }

  /** Marks ranks whose thread exited (flagged by the worker itself) as dead. */
  private noteExits(): void {
    const exits = Atomics.load(this.ctl, C.kExits);
    if (exits === this.exitsSeen) return;
    this.exitsSeen = exits;
    for (let r = 0; r < this.serving.length; r++) {
      if (Atomics.exchange(this.ctl, C.kExited + r, 0) !== 0 && !this.dead.has(r)) {
        this.dead.set(r, new Error(`worker ${r} exited`));
      }
    }
  }

  private async repair(): Promise<void> {
    const ranks = [...this.dead.keys()];
    // Joins are cumulative and the dead will never join again: count from what has joined.
    this.expectedJoins = Atomics.load(this.ctl, C.kJoined);
    this.dead.clear();
    for (const r of ranks) this.startServe(r);
    await this.awaitJoins();
  }

  /**
   * An async mutex over the control block, which holds one op (or one release, or one join)
   * at a time. Forks on this thread's event loop interleave at every await, and run,
   * addHelpers and releaseFrom all await (helpers, joins, pool tasks) with the block in use:
   * without it a second caller would overwrite an op that helpers are still reading. Waiters
   * go in arrival order; unlock hands the lock straight to the next one (locked stays true),
   * so no caller arriving meanwhile can slip in before it.
   */
  private lock(): Promise<void> | void {
    if (!this.locked) {
      this.locked = true;
      return;
    }
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  private unlock(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.locked = false;
  }
}

/**
 * Of the small ops in a row that find every helper asleep, the one split anyway (spareWake):
 * one wake-up per 4 such ops instead of one per op.
 */
const WAKE_EVERY = 4;

/** Teams whose leader awaits its helpers on the event loop (this thread's). */
const awaiting = new Set<Team>();

/**
 * Whether yielding to the event loop after an op can move another branch on: some team
 * awaiting its helpers has them all done (or one dead), so its continuation is ready to run
 * and dispatch their next op. Otherwise a yield (one event-loop turn per op, about a hundred
 * a step in batch splitting) would only delay this branch: the trace showed them as 'yield
 * to the event loop' spans between nearly every op.
 */
function someBranchReady(): boolean {
  for (const t of awaiting) if (t.helpersDone()) return true;
  return false;
}

/** Cuts kept at every ⌈parts/n⌉-th boundary: at most n contiguous parts. */
export function mergeParts(bounds: readonly number[], n: number): number[] {
  const parts = bounds.length - 1;
  const out = [bounds[0]!];
  for (let p = 1; p < n; p++) out.push(bounds[Math.round((parts * p) / n)]!);
  out.push(bounds[parts]!);
  return out;
}
