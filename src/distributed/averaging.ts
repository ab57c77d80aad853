import { argRangeError } from '../core/errors.js';
import type { Tensor } from '../memory/tensor.js';
import type { StepSync } from '../train/step.js';
import type { MpiBinding } from './mpi.js';

// Data-parallel training across MPI ranks, each on its shard of the data, in the studies'
// four ways:
// - sync: every step the ranks' gradients are averaged before the update (synchronous SGD, as
//   DistributedDataParallel does).
// - kavg: K-step averaging (K-AVG, Zhou & Cong 2018): K local steps, then the parameters are
//   averaged.
// - hieravg: hierarchical averaging (Hier-AVG, Zhou & Cong 2019): every K1 steps among the
//   ranks of one node, every K2 steps over all of them. A step due for both takes the global
//   average only (the local one would be overwritten), so with K1 = K2 it is K-AVG exactly.
// - bmuf: blockwise model-update filtering (Chen & Huo 2016): every K steps the averaged
//   parameters give a block update G = avg − w_g; Δ ← μ·Δ + η·G; w_g ← w_g + Δ; with
//   Nesterov momentum the ranks continue from w_g + μ·Δ.
// Every average is a sum over ranks in rank order (allreduceOrdered) divided by the rank
// count in float32: the same bits on every rank, and for a fixed rank count every run.
// Every mode averages once more before each validation, so all ranks validate, stop early
// and checkpoint the same parameters.

export type DistributedMode = 'sync' | 'kavg' | 'hieravg' | 'bmuf';

export interface DistributedOptions {
  mode: DistributedMode;
  /** kavg and bmuf: steps between averages. */
  k: number;
  /** hieravg: steps between node-local averages (K1) and global ones (K2, a multiple of K1). */
  localK: number;
  globalK: number;
  /** bmuf: block momentum μ (0: plain block averaging) and block learning rate η. */
  blockMomentum: number;
  blockLr: number;
  nesterov: boolean;
}

export interface DistributedStats {
  mode: DistributedMode;
  ranks: number;
  /** Ranks sharing a node (the Hier-AVG local group). */
  ranksPerNode: number;
  globalAverages: number;
  localAverages: number;
  /** Bytes this rank sent in collectives (allgather: its buffer to each other rank of the group). */
  bytesSent: number;
}

export class RankAveraging implements StepSync {
  private steps = 0;
  private sinceGlobal = 0;
  private readonly size: number;
  private readonly localSize: number;
  private blockStart: Float32Array | null = null;
  private blockDelta: Float32Array | null = null;
  readonly stats: DistributedStats;

  /** `local`: the communicator of this rank's node (Hier-AVG). */
  constructor(
    private readonly mpi: MpiBinding,
    private readonly o: DistributedOptions,
    private readonly local: number,
  ) {
    const fn = 'RankAveraging';
    for (const [k, v] of [
      ['k', o.k],
      ['localK', o.localK],
      ['globalK', o.globalK],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw argRangeError(fn, `options.${k}`, 'a positive integer', v);
    }
    if (o.mode === 'hieravg' && o.globalK % o.localK !== 0)
      throw argRangeError(fn, 'options.globalK', `a multiple of localK (${o.localK})`, o.globalK);
    if (!(o.blockMomentum >= 0 && o.blockMomentum < 1))
      throw argRangeError(fn, 'options.blockMomentum', 'in [0, 1)', o.blockMomentum);
    this.size = mpi.size();
    this.localSize = mpi.size(local);
    this.stats = {
      mode: o.mode,
      ranks: this.size,
      ranksPerNode: this.localSize,
      globalAverages: 0,
      localAverages: 0,
      bytesSent: 0,
    };
  }

  /**
   * Steps between the global averages this mode makes anyway (sync: every step, kavg and bmuf:
   * K, hieravg: K2). A trainer whose step is a whole epoch (full-batch node tasks) validates
   * that often: validating averages globally, so validating every step would make every mode sync.
   */
  get validationPeriod(): number {
    return this.o.mode === 'sync' ? 1 : this.o.mode === 'hieravg' ? this.o.globalK : this.o.k;
  }

  get averagesGradients(): boolean {
    return this.o.mode === 'sync';
  }

  async gradients(grads: Tensor[], params: Tensor[]): Promise<void> {
    if (this.o.mode === 'sync') this.average(grads, 0);
    // BMUF's first block starts from the parameters before any step: the same on every rank (one seed).
    if (this.o.mode === 'bmuf' && !this.blockStart) {
      this.blockStart = flatten(params);
      this.blockDelta = new Float32Array(this.blockStart.length);
    }
  }

  async afterStep(params: Tensor[]): Promise<void> {
    this.steps++;
    this.sinceGlobal++;
    const o = this.o;
    if (o.mode === 'kavg' && this.steps % o.k === 0) this.global(params);
    else if (o.mode === 'bmuf' && this.steps % o.k === 0) this.blockUpdate(params);
    else if (o.mode === 'hieravg') {
      if (this.steps % o.globalK === 0) this.global(params);
      else if (this.steps % o.localK === 0) {
        this.average(params, this.local);
        this.stats.localAverages++;
      }
    }
  }

  async beforeValidation(params: Tensor[]): Promise<void> {
    // sync keeps the ranks' parameters equal at every step; the others agree here too.
    if (this.o.mode !== 'sync' && this.sinceGlobal > 0) {
      if (this.o.mode === 'bmuf') this.blockUpdate(params);
      else this.global(params);
    }
  }

  private global(params: Tensor[]): void {
    this.average(params, 0);
    this.stats.globalAverages++;
    this.sinceGlobal = 0;
  }

  /** The BMUF block step on the averaged parameters. */
  private blockUpdate(params: Tensor[]): void {
    const flat = flatten(params);
    if (!this.blockStart) throw new Error('RankAveraging: a BMUF block ended before its first step');
    this.reduce(flat, 0, this.size);
    const wg = this.blockStart,
      d = this.blockDelta!,
      mu = Math.fround(this.o.blockMomentum),
      eta = Math.fround(this.o.blockLr);
    for (let i = 0; i < flat.length; i++) {
      const g = Math.fround(flat[i]! - wg[i]!);
      d[i] = Math.fround(Math.fround(mu * d[i]!) + Math.fround(eta * g));
      wg[i] = Math.fround(wg[i]! + d[i]!);
      flat[i] = this.o.nesterov ? Math.fround(wg[i]! + Math.fround(mu * d[i]!)) : wg[i]!;
    }
    unflatten(flat, params);
    this.stats.globalAverages++;
    this.sinceGlobal = 0;
  }

  /** Tensors ← their mean over the ranks of `comm`, summed in rank order. */
  private average(tensors: Tensor[], comm: number): void {
    const flat = flatten(tensors);
    this.reduce(flat, comm, comm === 0 ? this.size : this.localSize);
    unflatten(flat, tensors);
  }

  private reduce(flat: Float32Array, comm: number, size: number): void {
    this.mpi.allreduceOrdered(flat, comm);
    this.stats.bytesSent += flat.byteLength * (size - 1);
    for (let i = 0; i < flat.length; i++) flat[i] = Math.fround(flat[i]! / size);
  }
}

/** The tensors' values end to end in one array (the order of `ts`). */
export function flatten(ts: Tensor[]): Float32Array {
  const n = ts.reduce((a, t) => a + t.size, 0);
  const out = new Float32Array(n);
  let at = 0;
  for (const t of ts) {
    out.set(t.data() as Float32Array, at);
    at += t.size;
  }
  return out;
}

/** Writes `flat` back into the tensors, in the order flatten read them. */
export function unflatten(flat: Float32Array, ts: Tensor[]): void {
  let at = 0;
  for (const t of ts) {
    (t.data() as Float32Array).set(flat.subarray(at, at + t.size));
    at += t.size;
  }
}
