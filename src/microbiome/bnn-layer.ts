import { Rng } from '../core/random.js';
import { Tensor } from '../memory/tensor.js';
import { matmul } from '../ops/linalg.js';
import type { Exec } from '../runtime/exec.js';

// One mean-field Gaussian layer of the Bayesian network (Blundell et al. 2015, "Weight
// Uncertainty in Neural Networks"): every weight and bias is N(μ, σ²) with σ = softplus(ρ),
// independent of the others. Training samples pre-activations, not weights (the local
// reparameterization trick, Kingma, Salimans & Welling 2015): with W ~ q, the pre-activation
// b = x·W + c of row x is Gaussian with mean x·μ_W + μ_c and variance (x²)·σ_W² + σ_c², so it
// is drawn as mean + sd · ε with one ε per row and unit. Each row then gets its own weight
// draw (lower-variance gradients) at the cost of two matrix products instead of one.
//
// The four products (x·μ, x²·σ², and their transposes backward) run on the matmul op, whose
// every element is one sum in a fixed order, so the bits do not depend on the thread count;
// the elementwise steps are loops here on the heap's views, in row order.

/** A layer's posterior: weights [fanIn, fanOut] row-major, biases [fanOut], as float32 heap tensors. */
export interface BnnLayer {
  fanIn: number;
  fanOut: number;
  muW: Tensor;
  rhoW: Tensor;
  muB: Tensor;
  rhoB: Tensor;
}

/** softplus(ρ) = log(1 + e^ρ), without overflow: the posterior sd. */
export function softplus(rho: number): number {
  return rho > 20 ? rho : Math.log1p(Math.exp(rho));
}

/** The inverse of softplus (for the initial ρ of a chosen σ). */
export function softplusInverse(sigma: number): number {
  return sigma > 20 ? sigma : Math.log(Math.expm1(sigma));
}

/** dσ/dρ = sigmoid(ρ). */
function sigmoid(rho: number): number {
  return 1 / (1 + Math.exp(-rho));
}

/**
 * KL(N(μ, σ²) ‖ N(0, s²)) of one weight in closed form: log(s/σ) + (σ² + μ²) / (2s²) − 1/2.
 * Summed over independent weights, it is the KL of the mean-field posterior to the prior.
 */
export function gaussianKl(mu: number, sigma: number, priorSd: number): number {
  return Math.log(priorSd / sigma) + (sigma * sigma + mu * mu) / (2 * priorSd * priorSd) - 0.5;
}

/**
 * A seed for one stream of noise, from integers such as (run seed, epoch, batch, layer, row):
 * splitmix-style mixing of each part in turn, so nearby keys give unrelated streams.
 */
export function noiseSeed(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) {
    h = (h ^ (p | 0)) >>> 0;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
    h = (h + 0x9e3779b9) >>> 0;
  }
  return h;
}

/** `count` standard normals of the stream noiseSeed(...parts). */
export function normals(count: number, ...parts: number[]): Float64Array {
  const out = new Float64Array(count);
  normalsInto(out, 0, count, noiseSeed(...parts));
  return out;
}

/** normals' values of the stream `seed` (a noiseSeed) written into out[at .. at + count), with no allocation but the generator. */
export function normalsInto(out: Float64Array, at: number, count: number, seed: number): void {
  const rng = new Rng(seed);
  for (let k = 0; k < count; k++) out[at + k] = rng.normal();
}

/**
 * σ = softplus(ρ) and dσ/dρ = sigmoid(ρ) of every weight and bias of a layer, computed once per
 * step: the forward pass (σ²), the KL, its gradient and the backward pass all read them, and
 * each is the double softplus and sigmoid give, so the bits are those of computing them anew.
 */
export interface LayerSigmas {
  sW: Float64Array;
  dW: Float64Array;
  sB: Float64Array;
  dB: Float64Array;
}

/** The layer's σ and sigmoid(ρ), into `into` when given (buffers of the layer's sizes, reused step after step). */
export function layerSigmas(l: BnnLayer, into?: LayerSigmas): LayerSigmas {
  const rw = l.rhoW.data() as Float32Array,
    rb = l.rhoB.data() as Float32Array;
  const o = into ?? {
    sW: new Float64Array(rw.length),
    dW: new Float64Array(rw.length),
    sB: new Float64Array(rb.length),
    dB: new Float64Array(rb.length),
  };
  for (let i = 0; i < rw.length; i++) {
    o.sW[i] = softplus(rw[i]!);
    o.dW[i] = sigmoid(rw[i]!);
  }
  for (let i = 0; i < rb.length; i++) {
    o.sB[i] = softplus(rb[i]!);
    o.dB[i] = sigmoid(rb[i]!);
  }
  return o;
}

/** σ² of every weight [fanIn, fanOut] as a heap tensor (the caller frees it), and of every bias. */
export function layerVariances(
  exec: Exec,
  l: BnnLayer,
  sig: LayerSigmas = layerSigmas(l),
): { s2W: Tensor; s2B: Float64Array } {
  const s2W = Tensor.empty(exec.heap, 'float32', [l.fanIn, l.fanOut]);
  const s2 = s2W.data() as Float32Array;
  for (let i = 0; i < s2.length; i++) s2[i] = sig.sW[i]! ** 2;
  const s2B = new Float64Array(l.fanOut);
  for (let j = 0; j < s2B.length; j++) s2B[j] = sig.sB[j]! ** 2;
  return { s2W, s2B };
}

/** What a layer's forward pass keeps for its backward pass. */
export interface LayerPass {
  /** Sampled pre-activations [rows, fanOut] (float64: the loss reads them at full precision). */
  out: Float64Array;
  /** Their means and variances (Kingma et al.'s Gaussian of b), [rows, fanOut]. */
  mean: Float64Array;
  variance: Float64Array;
  /** The unit normals drawn, [rows, fanOut]. */
  eps: Float64Array;
  s2W: Tensor;
}

/**
 * The local reparameterization forward pass of one layer: x [rows, fanIn] and x² (float32 heap
 * tensors), one unit normal per row and unit from `eps(row)` (fanOut values each), so the
 * caller decides whose key draws which row. Returns b = mean + √variance · ε and what the
 * backward pass needs; frees nothing the caller passed.
 */
export async function localReparamForward(
  exec: Exec,
  l: BnnLayer,
  x: Tensor,
  x2: Tensor,
  eps: ((row: number) => ArrayLike<number>) | Float64Array,
  sig?: LayerSigmas,
): Promise<LayerPass> {
  const rows = x.shape[0]!,
    n = l.fanOut;
  const { s2W, s2B } = layerVariances(exec, l, sig);
  const m = await matmul(exec, x, l.muW);
  const v = await matmul(exec, x2, s2W);
  const md = m.data() as Float32Array,
    vd = v.data() as Float32Array,
    mb = l.muB.data() as Float32Array;
  const mean = new Float64Array(rows * n),
    variance = new Float64Array(rows * n),
    out = new Float64Array(rows * n);
  // ε as one [rows, fanOut] array (taken as is), or row by row from the caller's function.
  let e: Float64Array;
  if (typeof eps === 'function') {
    e = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) {
      const er = eps(r);
      for (let j = 0; j < n; j++) e[r * n + j] = er[j]!;
    }
  } else e = eps;
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) {
      const k = r * n + j;
      const mk = md[k]! + mb[j]!,
        vk = vd[k]! + s2B[j]!;
      mean[k] = mk;
      variance[k] = vk;
      out[k] = mk + Math.sqrt(vk) * e[k]!;
    }
  m.free();
  v.free();
  return { out, mean, variance, eps: e, s2W };
}

/** Gradients of one layer's posterior parameters (float64, the shapes of μ_W, ρ_W, μ_b, ρ_b). */
export interface LayerGrads {
  muW: Float64Array;
  rhoW: Float64Array;
  muB: Float64Array;
  rhoB: Float64Array;
}

/**
 * The backward pass of localReparamForward: from g = ∂L/∂b [rows, fanOut] to the gradients of
 * μ and ρ (through b = mean + √v·ε: ∂b/∂mean = 1, ∂b/∂v = ε / (2√v)), and, when `needInput`,
 * ∂L/∂x = g·μ_Wᵀ + 2x ⊙ ((∂L/∂v)·σ_W²ᵀ). Frees pass.s2W.
 */
export async function localReparamBackward(
  exec: Exec,
  l: BnnLayer,
  x: Tensor,
  x2: Tensor,
  pass: LayerPass,
  g: Float64Array,
  needInput: boolean,
  sig: LayerSigmas = layerSigmas(l),
): Promise<{ grads: LayerGrads; gx: Float64Array | null }> {
  const rows = x.shape[0]!,
    n = l.fanOut,
    heap = exec.heap;
  const gv = new Float64Array(rows * n);
  for (let k = 0; k < gv.length; k++) gv[k] = (g[k]! * pass.eps[k]!) / (2 * Math.sqrt(pass.variance[k]!));
  const gT = Tensor.from(heap, 'float32', [rows, n], g),
    gvT = Tensor.from(heap, 'float32', [rows, n], gv);
  const dMuW = await matmul(exec, x, gT, undefined, { transA: true });
  const dS2W = await matmul(exec, x2, gvT, undefined, { transA: true });
  const grads: LayerGrads = {
    muW: Float64Array.from(dMuW.data() as Float32Array),
    rhoW: new Float64Array(sig.sW.length),
    muB: new Float64Array(n),
    rhoB: new Float64Array(n),
  };
  // ∂σ²/∂ρ = 2σ · sigmoid(ρ).
  const ds = dS2W.data() as Float32Array;
  for (let i = 0; i < ds.length; i++) grads.rhoW[i] = ds[i]! * 2 * sig.sW[i]! * sig.dW[i]!;
  for (let r = 0; r < rows; r++)
    for (let j = 0; j < n; j++) {
      grads.muB[j]! += g[r * n + j]!;
      grads.rhoB[j]! += gv[r * n + j]!;
    }
  for (let j = 0; j < n; j++) grads.rhoB[j] = grads.rhoB[j]! * 2 * sig.sB[j]! * sig.dB[j]!;
  dMuW.free();
  dS2W.free();
  let gx: Float64Array | null = null;
  if (needInput) {
    const a = await matmul(exec, gT, l.muW, undefined, { transB: true });
    const b = await matmul(exec, gvT, pass.s2W, undefined, { transB: true });
    const ad = a.data() as Float32Array,
      bd = b.data() as Float32Array,
      xd = x.data() as Float32Array;
    gx = new Float64Array(ad.length);
    for (let k = 0; k < ad.length; k++) gx[k] = ad[k]! + 2 * xd[k]! * bd[k]!;
    a.free();
    b.free();
  }
  gT.free();
  gvT.free();
  pass.s2W.free();
  return { grads, gx };
}
