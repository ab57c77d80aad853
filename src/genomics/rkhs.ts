import { GraftError } from '../core/errors.js';
import { cachedBasis, fitKernelReml, type KernelBasis, type KernelFit } from './kernel-reml.js';

// Reproducing-kernel Hilbert-space regression (Gianola & van Kaam 2008; Crossa et al. 2010):
// the GBLUP mixed model with a Gaussian kernel of marker distances instead of the linear
// relationship, so it captures epistatic similarity. Same REML-by-eigendecomposition path as
// GBLUP (kernel-reml.ts), so one fit costs about what a GBLUP fit costs.

/** Bandwidths θ (relative to the median squared distance) tried for the single-kernel model, chosen by REML. */
export const RKHS_BANDWIDTHS = [0.5, 1, 2] as const;
/** The multi-kernel average's three bandwidths (de los Campos et al. 2010: a narrow, a middle and a wide kernel). */
export const KERNEL_AVERAGE_BANDWIDTHS = [0.2, 1, 5] as const;

/**
 * K_ij = exp(−d²_ij / (θ · median d²)), with d²_ij = G_ii + G_jj − 2 G_ij the squared distance
 * between samples i and j in the space of the centred markers behind the relationship G
 * (for VanRaden's G, ‖z_i − z_j‖² / (2 Σ p(1 − p))), and the median over pairs i < j.
 */
export function gaussianKernel(grm: Float64Array, n: number, theta: number): Float64Array {
  if (!(theta > 0)) throw new GraftError(`gaussianKernel: the bandwidth must be positive, got ${theta}`);
  const { d2, median } = squaredDistances(grm, n);
  const scale = theta * (median > 0 ? median : 1);
  const k = new Float64Array(n * n);
  for (let t = 0; t < k.length; t++) k[t] = Math.exp(-d2[t]! / scale);
  return k;
}

/**
 * d²_ij of a relationship and their median over pairs i < j, computed once per relationship
 * (every bandwidth of RKHS and of the kernel average scales the same distances).
 */
const distances = new WeakMap<Float64Array, { n: number; d2: Float64Array; median: number }>();
function squaredDistances(grm: Float64Array, n: number): { d2: Float64Array; median: number } {
  const hit = distances.get(grm);
  if (hit && hit.n === n) return hit;
  const d2 = new Float64Array(n * n),
    pairs = new Float64Array((n * (n - 1)) / 2);
  let p = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const v = Math.max(0, grm[i * n + i]! + grm[j * n + j]! - 2 * grm[i * n + j]!);
      d2[i * n + j] = v;
      d2[j * n + i] = v;
      pairs[p++] = v;
    }
  }
  pairs.sort();
  const m = pairs.length,
    median = m === 0 ? 1 : m % 2 ? pairs[(m - 1) / 2]! : (pairs[m / 2 - 1]! + pairs[m / 2]!) / 2;
  const made = { n, d2, median };
  distances.set(grm, made);
  return made;
}

/** The median squared distance over pairs of samples of a relationship (the Gaussian kernels' scale). */
export function squaredDistanceMedian(grm: Float64Array, n: number): number {
  return squaredDistances(grm, n).median;
}

export interface KernelChoice {
  fit: KernelFit;
  /** The kernel the fit used, full n×n (the prediction needs its rows of test samples). */
  kernel: Float64Array;
  /** Single kernel: the chosen θ; average: the weights on KERNEL_AVERAGE_BANDWIDTHS. */
  theta?: number;
  weights?: number[];
  /** The REML log-likelihood of every candidate, in order. */
  candidates: number[];
}

/** The REML fit of the candidate with the highest restricted likelihood (first wins a tie). */
function bestOf(
  candidates: Float64Array[],
  nFull: number,
  train: Int32Array,
  ys: Float64Array,
  bases?: Map<Float64Array, KernelBasis>,
): { at: number; fit: KernelFit; lls: number[] } {
  let at = -1,
    fit: KernelFit | null = null;
  const lls: number[] = [];
  candidates.forEach((k, c) => {
    const f = fitKernelReml(cachedBasis(k, nFull, train, bases), ys);
    lls.push(f.logLik);
    if (!fit || f.logLik > fit.logLik) {
      fit = f;
      at = c;
    }
  });
  return { at, fit: fit!, lls };
}

/**
 * Single-kernel RKHS: the bandwidth among `kernels` (Gaussian kernels at RKHS_BANDWIDTHS)
 * whose REML fit has the highest restricted likelihood. `bases` caches decompositions of
 * training blocks between traits that share a training set.
 */
export function fitRkhs(
  kernels: Float64Array[],
  thetas: readonly number[],
  nFull: number,
  train: Int32Array,
  y: Float64Array,
  bases?: Map<Float64Array, KernelBasis>,
): KernelChoice {
  const { at, fit, lls } = bestOf(kernels, nFull, train, y, bases);
  return { fit, kernel: kernels[at]!, theta: thetas[at]!, candidates: lls };
}

/** Weight vectors on the simplex of three kernels: the vertices, the edge midpoints and the centroid. */
export const KERNEL_AVERAGE_WEIGHTS: readonly number[][] = [
  [1, 0, 0],
  [0, 1, 0],
  [0, 0, 1],
  [0.5, 0.5, 0],
  [0.5, 0, 0.5],
  [0, 0.5, 0.5],
  [1 / 3, 1 / 3, 1 / 3],
];

/**
 * The multi-kernel average (de los Campos et al. 2010): y = 1μ + Σ_k g_k + e with
 * g_k ~ N(0, σ_k² K_k). Its covariance Σ σ_k² K_k + σe² I equals σg² K_w + σe² I with
 * K_w = Σ w_k K_k, w on the simplex and σ_k² = w_k σg², so REML over (w, δ) fits the variance
 * components: δ exactly by the eigen path, w over KERNEL_AVERAGE_WEIGHTS.
 */
export function fitKernelAverage(
  kernels: Float64Array[],
  nFull: number,
  train: Int32Array,
  y: Float64Array,
  cache?: Map<string, Float64Array>,
  bases?: Map<Float64Array, KernelBasis>,
): KernelChoice & { sigma2: number[] } {
  if (kernels.length !== 3) throw new GraftError(`fitKernelAverage: three kernels, got ${kernels.length}`);
  const mixes = KERNEL_AVERAGE_WEIGHTS.map((w) => {
    const key = w.join(',');
    let k = cache?.get(key);
    if (!k) {
      k = new Float64Array(nFull * nFull);
      for (let t = 0; t < k.length; t++)
        k[t] = w[0]! * kernels[0]![t]! + w[1]! * kernels[1]![t]! + w[2]! * kernels[2]![t]!;
      cache?.set(key, k);
    }
    return k;
  });
  const { at, fit, lls } = bestOf(mixes, nFull, train, y, bases);
  const weights = KERNEL_AVERAGE_WEIGHTS[at]!;
  return {
    fit,
    kernel: mixes[at]!,
    weights: [...weights],
    sigma2: weights.map((w) => w * fit.sigmaG2),
    candidates: lls,
  };
}
