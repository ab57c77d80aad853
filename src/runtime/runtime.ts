import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { argRangeError, argTypeError, checkPositiveInt } from '../core/errors.js';
import type { BackendKind, KernelBackend } from '../kernels/backend.js';
import { chooseBackend, createBackend, kernelModule } from '../kernels/wasm.js';
import { Heap, type HeapOptions } from '../memory/heap.js';
import { workerUrl } from '../core/worker-url.js';
import type { Exec } from './exec.js';
import { Future } from './future.js';
import type { PingResult, TracedCallResult, WorkerInit, WorkerTask } from './protocol.js';
import { absorbTrace, traceHeap, tracer } from './trace.js';
import { Team, type TeamOptions } from './team.js';

/** Options of Runtime.create: threads, kernel backend, shared-memory sizes and the threads' spin times. */
export interface RuntimeOptions {
  /** Threads that compute, the calling thread included; default: the machine's cores. */
  threads?: number;
  /** 'relaxed' | 'simd' | 'js' | 'auto' (default: GRAFT_BACKEND, else the best the engine accepts). */
  backend?: BackendKind | 'auto';
  /** Shared memory sizes. */
  memory?: HeapOptions;
  /** Microseconds an idle helper spins before sleeping (default 200). */
  helperSpinMicros?: number;
  /** Microseconds the leader spins for helpers before waiting asynchronously (default 2000). */
  leaderSpinMicros?: number;
  /**
   * Run an op too small to pay for a wake-up on the calling thread while every helper sleeps
   * (partition.ts WAKE_GRAINS; default off). It cut wake-ups 4× on the founding study's GCN
   * and won on a loaded machine, where a wake-up costs tens of µs or more, but lost on a quiet
   * one (docs/performance.md, issue 31), so it is a choice, not the default.
   */
  keepSmallOpsInline?: boolean;
}

/** Runs export `fn` of ES module `module` (file URL) on a worker thread with `payload`. */
export type WorkerCall = (module: string, fn: string, payload: unknown) => Promise<unknown>;

/** Options of a fork: how many of the caller's threads the branch takes. */
export interface ForkOptions {
  /** Worker threads for the branch (default: half of those the caller's team has, at least 1). */
  threads?: number;
}

/**
 * Graft's runtime: one shared memory holding every tensor, the kernels instantiated on it on
 * every thread, and a Piscina pool of `threads - 1` workers. The calling thread leads the main
 * team and computes part of each op; workers join teams through shared memory, so an op costs
 * no message round trip. Results are bitwise the same for any `threads`.
 *
 * @example
 *   const rt = await Runtime.create({ threads: 4 });
 *   const y = await matmul(rt.exec, x, w);
 *   await rt.close();
 */
export class Runtime {
  readonly heap: Heap;
  readonly backend: KernelBackend;
  readonly threads: number;
  private readonly pool: Piscina | null;
  private readonly main: Team;
  private readonly teamOptions: TeamOptions;
  private forks = 0;
  /** Groups of threads held by withForkGroups (the free ones, and forks running on the others), or null. */
  private heldBranches: { free: Team[]; running: Set<Promise<unknown>> } | null = null;
  private reconfig: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(threads: number, kind: BackendKind, options: RuntimeOptions) {
    this.threads = threads;
    this.heap = new Heap(options.memory);
    traceHeap(this.heap);
    const module = kind === 'js' ? null : kernelModule(kind);
    this.backend = createBackend(kind, this.heap.memory, module ?? undefined);
    this.teamOptions = {
      helperSpinMicros: options.helperSpinMicros ?? 200,
      leaderSpinMicros: options.leaderSpinMicros ?? 2000,
      keepSmallOpsInline: options.keepSmallOpsInline ?? false,
    };
    const workerData: WorkerInit = { memory: this.heap.memory, module, backend: kind };
    this.pool =
      threads > 1
        ? new Piscina({
            filename: workerUrl('runtime/worker'),
            minThreads: threads - 1,
            maxThreads: threads - 1,
            idleTimeout: 2 ** 31 - 1,
            workerData,
          })
        : null;
    this.main = new Team(this.heap, this.backend, this.pool, this.teamOptions);
  }

  /**
   * Starts a runtime: allocates the shared memory, picks the backend (GRAFT_BACKEND or the best
   * the engine accepts) and starts `threads - 1` worker threads. Close it when done.
   *
   * @example
   *   const rt = await Runtime.create({ threads: 2 });
   *   try {
   *     console.log(rt.threads, rt.backendKind); // 2 'relaxed'
   *   } finally {
   *     await rt.close();
   *   }
   */
  static async create(options: RuntimeOptions = {}): Promise<Runtime> {
    if (options === null || typeof options !== 'object')
      throw argTypeError('Runtime.create', 'options', 'an object', options);
    const threads =
      options.threads === undefined
        ? availableParallelism()
        : checkPositiveInt('Runtime.create', 'options.threads', options.threads);
    if (threads > 256) throw argRangeError('Runtime.create', 'options.threads', 'at most 256', threads);
    const kind = chooseBackend(options.backend);
    const rt = new Runtime(threads, kind, options);
    await rt.main.addHelpers(threads - 1);
    return rt;
  }

  /** The kernels this runtime runs: 'relaxed', 'simd' or 'js'. */
  get backendKind(): BackendKind {
    return this.backend.kind;
  }

  /** The main team: pass it to ops. */
  get exec(): Exec {
    return this.main;
  }

  /** Worker threads currently serving the main team. */
  get mainHelpers(): number {
    return this.main.helpers;
  }

  /**
   * Runs `fn` as an independent branch on its own group of worker threads and returns at
   * once, as torch.jit.fork does; `join()` the Future for its result. The threads come from
   * the main team and go back when the branch ends. While branches run, the calling thread
   * only dispatches (of its own team's ops too), so no branch waits for another's arithmetic.
   * With no worker to spare the branch runs on the calling thread, interleaved: same results.
   */
  fork<T>(fn: (exec: Exec) => Promise<T>, options: ForkOptions = {}): Future<T> {
    if (typeof fn !== 'function') throw argTypeError('Runtime.fork', 'fn', 'a function (exec) => Promise', fn);
    if (options.threads !== undefined) checkPositiveInt('Runtime.fork', 'options.threads', options.threads);
    this.checkOpen('fork');
    const pool = this.heldBranches;
    const held = pool?.free.pop();
    if (pool && held) {
      // A group formed ahead by withForkGroups: no threads change hands, so a fork costs
      // what an op costs, not a Piscina round trip.
      const done = (async () => {
        try {
          return await fn(held);
        } finally {
          pool.free.push(held);
        }
      })();
      pool.running.add(done);
      void done.then(
        () => pool.running.delete(done),
        () => pool.running.delete(done),
      );
      return new Future(done);
    }
    this.enterFork();
    const branch = this.acquireBranch(options.threads);
    const done = (async () => {
      const team = await branch;
      try {
        return await fn(team);
      } finally {
        await this.returnBranch(team);
        this.leaveFork();
      }
    })();
    return new Future(done);
  }

  /**
   * Batch splitting, as torch.nn.DataParallel: `fn(exec, shard)` runs for shard = 0 .. shards-1,
   * groups of threads taking shards at once (shard s on group s mod groups, in order). Each
   * shard writes its own gradient buffers; reduce them in shard order afterwards (see
   * reduceInOrder) and the result does not depend on the thread count.
   */
  async dataParallel(shards: number, fn: (exec: Exec, shard: number) => Promise<void>): Promise<void> {
    checkPositiveInt('Runtime.dataParallel', 'shards', shards);
    if (typeof fn !== 'function')
      throw argTypeError('Runtime.dataParallel', 'fn', 'a function (exec, shard) => Promise', fn);
    this.checkOpen('dataParallel');
    await this.withShardGroups(shards, (run) => run(shards, fn));
  }

  /**
   * Forks over many steps: `n` groups of threads are formed once for the whole of `body`,
   * and each fork() inside takes a free one (and gives it back at its end) instead of
   * borrowing threads from the main team through Piscina on every call. A model that forks
   * its branches in every forward and backward pass (the hybrids) holds them for an epoch.
   * With fewer workers than groups the last groups run on the calling thread, interleaved.
   */
  async withForkGroups<T>(n: number, body: () => Promise<T>): Promise<T> {
    checkPositiveInt('Runtime.withForkGroups', 'n', n);
    this.checkOpen('withForkGroups');
    if (this.heldBranches) return body(); // already held by an enclosing call
    const teams: Team[] = [];
    let held: { free: Team[]; running: Set<Promise<unknown>> } | null = null;
    const per = Math.max(1, Math.floor(this.main.helpers / n));
    try {
      for (let g = 0; g < n; g++) {
        this.enterFork();
        try {
          teams.push(await this.acquireBranch(g === n - 1 ? Number.MAX_SAFE_INTEGER : per));
        } catch (err) {
          this.leaveFork();
          throw err;
        }
      }
      held = { free: [...teams].reverse(), running: new Set() }; // pop() hands out the first group first
      this.heldBranches = held;
      return await body();
    } finally {
      // Forks still running on a held group (body failed early) end before it goes back.
      if (held) await Promise.allSettled([...held.running]);
      this.heldBranches = null;
      await this.returnGroups(teams);
    }
  }

  /**
   * Batch splitting over many steps: the groups of threads are formed once for the whole
   * `body` (an epoch of mini-batches, say) instead of once per dataParallel call, so a step
   * pays no Piscina round trip. `run(shards, fn)` inside behaves as dataParallel, shard s on
   * group s mod groups; ops on `exec` meanwhile run on the main team (its share of threads).
   */
  async withShardGroups<T>(
    shards: number,
    body: (run: (shards: number, fn: (exec: Exec, shard: number) => Promise<void>) => Promise<void>) => Promise<T>,
  ): Promise<T> {
    checkPositiveInt('Runtime.withShardGroups', 'shards', shards);
    this.checkOpen('withShardGroups');
    const groups = Math.min(shards, this.main.helpers + 1);
    const per = Math.max(1, Math.floor(this.threads / groups));
    const teams: Team[] = [];
    // With one group (no worker to spare) the shards run one after another on the main team.
    const run = async (n: number, fn: (exec: Exec, shard: number) => Promise<void>): Promise<void> => {
      checkPositiveInt('Runtime.withShardGroups run', 'shards', n);
      const execs: Exec[] = [this.main, ...teams];
      const used = Math.min(n, execs.length);
      const results = await Promise.allSettled(
        execs.slice(0, used).map(async (exec, g) => {
          for (let s = g; s < n; s += used) await fn(exec, s);
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    };
    try {
      // Inside the try, so a failed acquisition still gives back the groups already formed.
      for (let g = 1; g < groups; g++) {
        this.enterFork();
        try {
          teams.push(await this.acquireBranch(per));
        } catch (err) {
          this.leaveFork();
          throw err;
        }
      }
      return await body(run);
    } finally {
      await this.returnGroups(teams);
    }
  }

  /**
   * Lends up to `n` worker threads out of the main team for the whole of `body`, which may
   * `call(module, fn, payload)`: export `fn` of the ES module at file URL `module` runs on one
   * of them with the shared memory and that thread's kernels (a WorkerContext) and resolves
   * with its result. A whole step, JavaScript included, then runs on a worker while the
   * calling thread does another. A call whose worker throws or dies rejects with that error;
   * Piscina replaces the thread. `lent` says how many threads the calls can use at once.
   */
  async withWorkerCalls<T>(n: number, body: (call: WorkerCall, lent: number) => Promise<T>): Promise<T> {
    checkPositiveInt('Runtime.withWorkerCalls', 'n', n);
    this.checkOpen('withWorkerCalls');
    const pool = this.pool;
    const none: WorkerCall = () =>
      Promise.reject(new Error('Runtime.withWorkerCalls: no worker thread is free to lend'));
    if (!pool) return body(none, 0);
    return this.releasingHelpers(n, (lent) => {
      const call: WorkerCall = (module, fn, payload) =>
        tracer
          ? // Traced, the worker hands back its spans with the result.
            pool
              .run({ type: 'call', module, fn, payload, trace: true } satisfies WorkerTask)
              .then((r: TracedCallResult) => {
                absorbTrace(r.trace);
                return r.value;
              })
          : pool.run({ type: 'call', module, fn, payload } satisfies WorkerTask);
      return body(lent === 0 ? none : call, lent);
    });
  }

  /**
   * Runs `body` with up to `n` of the main team's helpers released (its last ones), passing
   * how many were; they come back after, also when `body` throws. The count is read where the
   * release runs, after any reconfiguration queued before it.
   */
  private async releasingHelpers<T>(n: number, body: (released: number) => Promise<T>): Promise<T> {
    const released = await this.serialize(async () => {
      const k = Math.min(n, this.main.helpers);
      await this.main.releaseFrom(this.main.helpers - k);
      return k;
    });
    try {
      return await body(released);
    } finally {
      if (released > 0) await this.serialize(() => this.main.addHelpers(released));
    }
  }

  /**
   * Runs `body` on the calling thread alone: the main team's helpers are released for its
   * whole length (as withWorkerCalls lends them), so every op runs here with no dispatch and
   * no wake-up, and a fork inside, finding no worker to spare, runs here too, interleaved.
   * The placement for work too small to pay for a second thread. The helpers come back
   * after, also when `body` throws. Same bits as at any thread count.
   *
   * @example
   *   const loss = await rt.onOneThread(() => trainStep(rt.exec)); // rt.mainHelpers is 0 inside
   */
  async onOneThread<T>(body: () => Promise<T>): Promise<T> {
    if (typeof body !== 'function') throw argTypeError('Runtime.onOneThread', 'body', 'a function () => Promise', body);
    this.checkOpen('onOneThread');
    return this.releasingHelpers(Number.POSITIVE_INFINITY, () => body());
  }

  /** Runs a task on a pooled worker through Piscina (the coarse path: no shared team). */
  async ping(): Promise<PingResult[]> {
    if (!this.pool) return [];
    // Helpers are busy serving; briefly release them so the pings reach every worker.
    const n = this.threads - 1;
    await this.serialize(() => this.main.releaseFrom(0));
    try {
      const pool = this.pool;
      return (await Promise.all(Array.from({ length: n }, () => pool.run({ type: 'ping' })))) as PingResult[];
    } finally {
      await this.serialize(() => this.main.addHelpers(n));
    }
  }

  /** Waits for running work, stops the worker threads and frees the shared memory; calling it again does nothing. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.reconfig;
    if (this.pool) {
      await this.main.dissolve().catch(() => undefined);
      await this.pool.destroy();
    }
  }

  private checkOpen(what: string): void {
    if (this.closed) throw new Error(`Runtime.${what}: the runtime is closed`);
  }

  /**
   * Runs the steps that move helpers between teams (acquireBranch, returnBranch, lending
   * workers, ping) one at a time, in call order. Each reads the main team's helper count and
   * then awaits releases and joins; two interleaved would both count the same spare helpers
   * and release more than there are. A step that fails does not stop the queue (the chain
   * keeps going on either outcome); its caller gets the failure.
   */
  private serialize<T>(step: () => Promise<T>): Promise<T> {
    const next = this.reconfig.then(step);
    this.reconfig = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /**
   * While any fork runs, this thread's event loop drives several branches: the main team's
   * leader must not spin for its helpers (spinLeader off) and yields after an inline op
   * (yieldInline), so the other branches' continuations run. Its leader computes a part only
   * when it has no helpers left (leaderComputes): otherwise its part would hold the thread
   * every branch dispatches from. Counted, so nested and overlapping forks restore the
   * settings only when the last one leaves.
   */
  private enterFork(): void {
    if (this.forks++ === 0) {
      this.main.spinLeader = false;
      this.main.yieldInline = true;
    }
    this.main.leaderComputes = this.main.helpers === 0;
  }

  /** The end of a fork (enterFork): the last one out gives the main team its spin, its part and no yields again. */
  private leaveFork(): void {
    if (--this.forks === 0) {
      this.main.spinLeader = true;
      this.main.yieldInline = false;
      this.main.leaderComputes = true;
    } else {
      this.main.leaderComputes = this.main.helpers === 0;
    }
  }

  private acquireBranch(threads: number | undefined): Promise<Team> {
    return this.serialize(async () => {
      const spare = this.main.helpers;
      const team = new Team(this.heap, this.backend, this.pool, this.teamOptions);
      team.spinLeader = false;
      team.yieldInline = true;
      if (spare === 0) return team; // inline on the calling thread
      const k = Math.min(spare, threads ?? Math.max(1, Math.ceil(spare / 2)));
      await this.main.releaseFrom(spare - k);
      this.main.leaderComputes = this.main.helpers === 0;
      team.leaderComputes = false;
      await team.addHelpers(k);
      return team;
    });
  }

  /** Gives every group back (each on its own, so one failure does not keep the others). */
  private async returnGroups(teams: readonly Team[]): Promise<void> {
    let first: unknown;
    for (const t of teams) {
      try {
        await this.returnBranch(t);
      } catch (err) {
        first ??= err;
      } finally {
        this.leaveFork();
      }
    }
    if (first !== undefined) throw first;
  }

  private returnBranch(team: Team): Promise<void> {
    return this.serialize(async () => {
      const k = team.helpers;
      if (k === 0) return;
      await team.dissolve();
      await this.main.addHelpers(k);
      if (this.forks > 1) this.main.leaderComputes = this.main.helpers === 0;
    });
  }
}
