import { GraftError } from '../core/errors.js';
import { symmetricEigen, type SymmetricEigen } from './symmetric-eigen.js';

/**
 * The mixed model y = 1μ + g + e, g ~ N(0, σg² K), e ~ N(0, σe² I), fitted by REML the EMMA
 * way (Kang et al. 2008): one eigendecomposition K = Q·Λ·Qᵀ of the training block, after
 * which the restricted likelihood of δ = σe²/σg² costs O(n) per evaluation:
 *
 *   −2 l_R(δ) = Σ log(λ_k + δ) + log(1ᵀV⁻¹1) + (n−1) log(yᵀPy) + const,   V = K + δI.
 *
 * δ is found on a log grid and refined by golden-section search. Predictions of any sample s
 * are μ̂ + K_s,train · α with α = V⁻¹ (y − 1μ̂), the BLUP.
 */
export interface KernelFit {
  delta: number;
  sigmaG2: number;
  sigmaE2: number;
  /** σg² / (σg² + σe²) with K on its own scale (mean diagonal 1 for a GRM). */
  h2: number;
  mu: number;
  /** V⁻¹ (y − 1μ̂), one weight per training sample. */
  alpha: Float64Array;
  logLik: number;
}

/** The training block's decomposition, reusable for every trait with the same training set. */
export interface KernelBasis {
  n: number;
  eig: SymmetricEigen;
  /** Qᵀ1. */
  q1: Float64Array;
}

/**
 * `fixed`: the one fixed-effect column X (default 1, the intercept); a weighted model passes
 * D·1 (multi-env.ts), and q1 then holds Qᵀ·X, which is all the likelihood needs of X.
 */
export function kernelBasis(kTrain: Float64Array, n: number, fixed?: Float64Array): KernelBasis {
  const eig = symmetricEigen(kTrain, n);
  const q1 = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += eig.vectors[k * n + i]! * (fixed ? fixed[i]! : 1);
    q1[k] = s;
  }
  for (let k = 0; k < n; k++) if (eig.values[k]! < 0) eig.values[k] = 0; // round-off below zero
  return { n, eig, q1 };
}

/**
 * Fits y = 1μ + g + e with g ~ N(0, σg²·K) by REML on the training block's eigendecomposition
 * (a grid, then golden section, over δ = σe²/σg², as rrBLUP's mixed.solve): the variance
 * components, h², μ̂ and the weights α that predictKernel applies to new samples.
 */
export function fitKernelReml(b: KernelBasis, y: Float64Array): KernelFit {
  const { n, eig, q1 } = b;
  if (y.length !== n) throw new GraftError(`fitKernelReml: ${y.length} phenotypes for a training block of ${n}`);
  if (n < 3) throw new GraftError(`fitKernelReml: ${n} training samples; REML needs at least 3`);
  const lam = eig.values;
  const qy = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += eig.vectors[k * n + i]! * y[i]!;
    qy[k] = s;
  }
  const parts = (delta: number): { ll: number; mu: number; ypy: number } => {
    let logdet = 0,
      xvx = 0,
      xvy = 0,
      yvy = 0;
    for (let k = 0; k < n; k++) {
      const w = 1 / (lam[k]! + delta);
      logdet += Math.log(lam[k]! + delta);
      xvx += q1[k]! * q1[k]! * w;
      xvy += q1[k]! * qy[k]! * w;
      yvy += qy[k]! * qy[k]! * w;
    }
    const mu = xvy / xvx,
      ypy = Math.max(1e-300, yvy - xvy * mu);
    return { ll: -0.5 * (logdet + Math.log(xvx) + (n - 1) * Math.log(ypy)), mu, ypy };
  };
  // Grid over log10 δ in [-5, 5], then golden section around the best point.
  let bestT = 0,
    bestLl = -Infinity;
  for (let t = -5; t <= 5 + 1e-9; t += 0.1) {
    const ll = parts(10 ** t).ll;
    if (ll > bestLl) {
      bestLl = ll;
      bestT = t;
    }
  }
  let lo = bestT - 0.1,
    hi = bestT + 0.1;
  const g = (Math.sqrt(5) - 1) / 2;
  let c = hi - g * (hi - lo),
    d = lo + g * (hi - lo);
  let fc = parts(10 ** c).ll,
    fd = parts(10 ** d).ll;
  for (let it = 0; it < 60; it++) {
    if (fc > fd) {
      hi = d;
      d = c;
      fd = fc;
      c = hi - g * (hi - lo);
      fc = parts(10 ** c).ll;
    } else {
      lo = c;
      c = d;
      fc = fd;
      d = lo + g * (hi - lo);
      fd = parts(10 ** d).ll;
    }
  }
  const delta = 10 ** ((lo + hi) / 2);
  const { ll, mu, ypy } = parts(delta);
  const sigmaG2 = ypy / (n - 1),
    sigmaE2 = delta * sigmaG2;
  // α = Q (Λ + δ)⁻¹ Qᵀ (y − 1μ)
  const t = new Float64Array(n);
  for (let k = 0; k < n; k++) t[k] = (qy[k]! - mu * q1[k]!) / (lam[k]! + delta);
  const alpha = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    const tk = t[k]!,
      row = k * n;
    for (let i = 0; i < n; i++) alpha[i]! += eig.vectors[row + i]! * tk;
  }
  let meanDiag = 0;
  for (let k = 0; k < n; k++) meanDiag += lam[k]!;
  meanDiag /= n; // trace(K)/n
  return { delta, sigmaG2, sigmaE2, h2: (sigmaG2 * meanDiag) / (sigmaG2 * meanDiag + sigmaE2), mu, alpha, logLik: ll };
}

/** μ̂ + K[s, train]·α for each sample s of `rows`, from the full n×n kernel. */
export function predictKernel(
  fit: KernelFit,
  kFull: Float64Array,
  nFull: number,
  train: Int32Array,
  rows: Int32Array,
): Float64Array {
  const out = new Float64Array(rows.length);
  rows.forEach((s, r) => {
    let acc = fit.mu;
    const base = s * nFull;
    for (let t = 0; t < train.length; t++) acc += kFull[base + train[t]!]! * fit.alpha[t]!;
    out[r] = acc;
  });
  return out;
}

/** The training block K[train, train] of a full kernel. */
export function trainBlock(kFull: Float64Array, nFull: number, train: Int32Array): Float64Array {
  const n = train.length,
    out = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    const base = train[a]! * nFull;
    for (let b = 0; b < n; b++) out[a * n + b] = kFull[base + train[b]!]!;
  }
  return out;
}

/**
 * The decomposition of K[train, train], from `cache` when this kernel's block for the same
 * training set was decomposed before (traits with the same training set share it).
 */
export function cachedBasis(
  kFull: Float64Array,
  nFull: number,
  train: Int32Array,
  cache?: Map<Float64Array, KernelBasis>,
): KernelBasis {
  let basis = cache?.get(kFull);
  if (!basis) {
    basis = kernelBasis(trainBlock(kFull, nFull, train), train.length);
    cache?.set(kFull, basis);
  }
  return basis;
}
