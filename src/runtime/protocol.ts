import type { BackendKind } from '../kernels/backend.js';

/** What every pooled worker receives once, as Piscina's workerData. */
export interface WorkerInit {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module | null;
  backend: BackendKind;
}

/** Coarse tasks the pool runs; each worker handles them in one switch (worker.ts). */
export type WorkerTask =
  | { type: 'serve'; control: SharedArrayBuffer; rank: number }
  | { type: 'ping' };

export type ServeResult = { type: 'released'; rank: number; ops: number };
export type PingResult = { type: 'pong'; threadId: number; backend: BackendKind };
