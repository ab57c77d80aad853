import { threadId } from 'node:worker_threads';
import { workerData } from 'piscina';
import type { KernelBackend } from '../kernels/backend.js';
import { invokeKernel, kernelName } from '../kernels/registry.js';
import { createBackend, enableRelaxedSimd } from '../kernels/wasm.js';
import * as C from './control.js';
import type { PingResult, ServeResult, TracedCallResult, WorkerContext, WorkerInit, WorkerTask } from './protocol.js';
import { kernelCategory, startTrace, stopTrace, traceNow, type Tracer } from './trace.js';

// A pooled worker. Piscina owns its life (start, replacement after a death, shutdown) and
// hands it coarse tasks; the fine-grained ops of a team arrive through shared memory while
// a 'serve' task runs, so an op costs no message round trip.

const init = workerData as WorkerInit;
// Before anything compiles on this thread (see enableRelaxedSimd).
enableRelaxedSimd();
let backend: KernelBackend | undefined;
function kernels(): KernelBackend {
  backend ??= createBackend(init.backend, init.memory, init.module ?? undefined);
  return backend;
}

// The team this thread serves and the part it is running, so a process.exit() inside a
// kernel still reports to the leader instead of leaving it waiting for a decrement.
let serving: { control: SharedArrayBuffer; rank: number } | null = null;
let runningKernel = -1;
process.on('exit', (code) => {
  if (!serving) return;
  const { control, rank } = serving;
  const ctl = new Int32Array(control);
  Atomics.store(ctl, C.kExited + rank, 1);
  Atomics.add(ctl, C.kExits, 1);
  if (runningKernel >= 0) {
    C.recordError(control, rank, `worker exited with code ${code} while running ${kernelName(runningKernel)}`);
    runningKernel = -1;
    if (Atomics.sub(ctl, C.kRemaining, 1) === 1) Atomics.notify(ctl, C.kRemaining);
  }
});

export default function handle(task: WorkerTask): ServeResult | PingResult | Promise<unknown> {
  switch (task.type) {
    case 'serve':
      return serve(task.control, task.rank);
    case 'ping':
      return { type: 'pong', threadId, backend: kernels().kind };
    case 'call':
      return task.trace
        ? tracedCall(task.module, task.fn, task.payload)
        : callExport(task.module, task.fn, task.payload);
    default:
      throw new TypeError(`graft worker: unknown task ${JSON.stringify(task)}`);
  }
}

/**
 * Runs export `fn` of ES module `module` (a file URL) with this thread's context: a whole
 * piece of work (a training shard's step, say) computed here, not only its kernels. What it
 * returns, or throws, goes back to the caller through Piscina.
 */
async function callExport(module: string, fn: string, payload: unknown): Promise<unknown> {
  const m = (await import(module)) as Record<string, unknown>;
  const f = m[fn];
  if (typeof f !== 'function') throw new TypeError(`graft worker: ${module} exports no function ${JSON.stringify(fn)}`);
  const context: WorkerContext = { memory: init.memory, backend: kernels() };
  return (f as (c: WorkerContext, p: unknown) => unknown)(context, payload);
}

/** A whole call (a shard's step) traced: the thread's spans come back with the result. */
async function tracedCall(module: string, fn: string, payload: unknown): Promise<TracedCallResult> {
  const tr = startTrace();
  tr.resetCursor(); // the time before this call was idle, not JavaScript between ops
  const t0 = traceNow();
  let value: unknown;
  try {
    value = await callExport(module, fn, payload);
  } catch (err) {
    stopTrace();
    throw err;
  }
  tr.spanOn(tr.trackOf(0, `${tr.threadName}: calls`), 'step', fn, t0, traceNow());
  return { type: 'traced', value, trace: stopTrace() };
}

/**
 * How long this helper spins before it sleeps (µs), adapted to the waits it sees, up to the
 * team's kSpinMicros: a wait longer than that ends in sleep anyway, so the spin before it was
 * pure loss, and the spin halves; a wait the full spin would have covered doubles it again.
 * The timeline showed why it matters: with more runnable threads than free cores (a loaded
 * machine) about half the waits between ops spun the full 200 µs and then slept, and those
 * 200 µs were taken from the leader, which needed the core to dispatch the next op.
 */
let spin = -1;

/**
 * Waits for a published generation other than `seen`: spins while ops come fast, then sleeps.
 * With a tracer, the spinning and the sleeping go on the timeline.
 */
function nextGeneration(ctl: Int32Array, seen: number, tr: Tracer | null): number {
  const max = Atomics.load(ctl, C.kSpinMicros);
  if (spin < 0 || spin > max) spin = max;
  const start = performance.now();
  let deadline = start + spin / 1000;
  let t = tr ? traceNow() : 0;
  for (let i = 1; ; i++) {
    const g = Atomics.load(ctl, C.kGeneration);
    if (g !== seen) {
      if ((g & 1) === 0) {
        tr?.span('wait-spin', 'spin for the next op', t);
        const waited = (performance.now() - start) * 1000;
        spin = waited <= max ? Math.min(max, Math.max(2 * spin, 16)) : spin < 16 ? 0 : spin / 2;
        return g;
      }
      continue; // the leader is writing this very moment
    }
    if ((i & 255) === 0 && performance.now() > deadline) {
      if (tr) t = tr.span('wait-spin', 'spin for the next op', t);
      Atomics.add(ctl, C.kSleepers, 1);
      Atomics.wait(ctl, C.kGeneration, seen);
      Atomics.sub(ctl, C.kSleepers, 1);
      if (tr) t = tr.span('wait-sleep', 'asleep (Atomics.wait)', t);
      deadline = performance.now() + spin / 1000;
    }
  }
}

function serve(control: SharedArrayBuffer, rank: number): ServeResult {
  const k = kernels();
  const ctl = new Int32Array(control);
  const args = new Float64Array(control, C.ARGS_OFFSET, C.MAX_ARGS);
  // Read the generation before announcing the join: the leader publishes nothing for this
  // rank until it has seen the join, so every op meant for it comes after `seen`.
  let seen = Atomics.load(ctl, C.kGeneration);
  serving = { control, rank };
  Atomics.add(ctl, C.kJoined, 1);
  Atomics.notify(ctl, C.kJoined);
  let ops = 0;
  // Traced while the leader says so (kTrace, read with each op); the events go back on release.
  let tr: Tracer | null = ctl[C.kTrace] !== 0 ? startTrace() : null;
  tr?.resetCursor();
  for (;;) {
    const g = nextGeneration(ctl, seen, tr);
    const kernel = ctl[C.kKernel]!;
    const parts = ctl[C.kParts]!;
    const part = rank + ctl[C.kLeaderParts]!;
    const releaseFrom = ctl[C.kReleaseFrom]!;
    const start = ctl[C.kBounds + part]!;
    const end = ctl[C.kBounds + part + 1]!;
    if (Atomics.load(ctl, C.kGeneration) !== g) continue; // torn read: the leader moved on
    seen = g;
    if (kernel === C.RELEASE) {
      if (rank >= releaseFrom) {
        serving = null;
        const trace = stopTrace();
        return trace.length ? { type: 'released', rank, ops, trace } : { type: 'released', rank, ops };
      }
      continue;
    }
    if (part >= parts) continue;
    // The leader started or stopped a trace mid-serve (a stopped one's events are not wanted).
    if ((ctl[C.kTrace] !== 0) !== (tr !== null)) {
      if (tr) {
        stopTrace();
        tr = null;
      } else tr = startTrace();
    }
    runningKernel = kernel;
    let t = tr ? traceNow() : 0;
    try {
      invokeKernel(k, kernel, args, start, end);
    } catch (err) {
      const e = err as Error;
      C.recordError(control, rank, `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`);
    }
    if (tr) t = tr.span(kernelCategory(kernel), kernelName(kernel), t);
    runningKernel = -1;
    ops++;
    let woke = false;
    if (Atomics.sub(ctl, C.kRemaining, 1) === 1 && Atomics.load(ctl, C.kLeaderWaiting) !== 0) {
      Atomics.notify(ctl, C.kRemaining);
      woke = true;
    }
    tr?.span('dispatch', woke ? 'part done, wake the leader' : 'part done', t);
  }
}
