import type { BackendKind, KernelBackend } from '../kernels/backend.js';
import type { TraceEvent } from './trace.js';

/** What every pooled worker receives once, as Piscina's workerData. */
export interface WorkerInit {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module | null;
  backend: BackendKind;
}

/** Coarse tasks the pool runs; each worker handles them in one switch (worker.ts). */
export type WorkerTask =
  | { type: 'serve'; control: SharedArrayBuffer; rank: number }
  | { type: 'ping' }
  | { type: 'call'; module: string; fn: string; payload: unknown; trace?: boolean };

/** What a function run by a 'call' task gets: the shared memory and this thread's kernels on it. */
export interface WorkerContext {
  memory: WebAssembly.Memory;
  backend: KernelBackend;
}

/** `trace`: what the helper recorded while the leader traced (runtime/trace.ts). */
export type ServeResult = { type: 'released'; rank: number; ops: number; trace?: TraceEvent[] };
/** What a traced 'call' task returns: the function's result and the thread's events. */
export type TracedCallResult = { type: 'traced'; value: unknown; trace: TraceEvent[] };
export type PingResult = { type: 'pong'; threadId: number; backend: BackendKind };
