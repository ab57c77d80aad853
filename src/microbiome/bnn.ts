import { Rng } from '../core/random.js';
import { Tensor } from '../memory/tensor.js';
import { biasAdd } from '../ops/elementwise.js';
import { matmul } from '../ops/linalg.js';
import { adamStep, type AdamHyper } from '../ops/optim.js';
import type { Exec } from '../runtime/exec.js';
import {
  gaussianKl,
  layerSigmas,
  localReparamBackward,
  localReparamForward,
  normals,
  normalsInto,
  noiseSeed,
  softplus,
  softplusInverse,
  type BnnLayer,
  type LayerGrads,
  type LayerSigmas,
} from './bnn-layer.js';

// The microbiome study's Bayesian neural network: graft mb's MLP (taxa → hidden → classes or
// one value, ReLU) with a mean-field Gaussian posterior over every weight and bias, trained by
// Bayes by Backprop (Blundell et al. 2015): minimise the negative ELBO
//   E_q[−log p(y | x, w)] + KL(q ‖ prior)
// per training row (the KL divided by the training rows, so a mini-batch's loss is its mean
// NLL plus KL/N), the expectation estimated with one local-reparameterization draw per row
// (bnn-layer.ts). The prior is N(0, priorSd²) on every weight and bias, so the KL is in closed
// form. Regression learns one noise sd (a point estimate) on the standardized target.
//
// All noise is a pure function of keys: a training draw of (seed, epoch, batch, layer, row),
// the batch order of (seed, epoch), a predictive draw of (seed, sample, layer). The matrix
// products are the matmul op (fixed summation order), the rest loops in row order here, so a
// fit is the same bits at any thread count.

/** The BNN's settings beyond the width, epochs and patience (graft mb passes the MLP's width and epochs). */
export interface BnnSettings {
  /** Posterior samples S of a prediction (mean and sd over them). */
  samples: number;
  /** Rows per mini-batch. */
  batch: number;
  lr: number;
  /** The prior's sd: N(0, priorSd²) on every weight and bias. */
  priorSd: number;
  /** The posterior's initial sd (every σ starts there; μ starts at Glorot-uniform draws). */
  initSigma: number;
  /** Multiplies the KL term (1: the ELBO itself). */
  klWeight: number;
}

export const BNN_DEFAULTS: BnnSettings = {
  samples: 30,
  batch: 64,
  lr: 0.01,
  priorSd: 1,
  initSigma: 0.01,
  klWeight: 1,
};

/** A layer's fitted posterior: means and sds (float32, as trained), weights [fanIn, fanOut]. */
export interface BnnPosteriorLayer {
  fanIn: number;
  fanOut: number;
  muW: Float32Array;
  sigmaW: Float32Array;
  muB: Float32Array;
  sigmaB: Float32Array;
}

/**
 * A fitted BNN: the standardization of its inputs (the fitting rows' means and sds), the
 * posterior of its two layers, how many posterior samples a prediction averages and the seed
 * that draws them; a regression also its target's scale (prediction = output · sd + mean)
 * and its fitted noise sd on the standardized scale.
 */
export interface FittedBnn {
  model: 'bnn';
  classes: number;
  mean: Float64Array;
  sd: Float64Array;
  hidden: number;
  samples: number;
  seed: number;
  layers: BnnPosteriorLayer[];
  scale?: { mean: number; sd: number };
  noiseSd?: number;
}

/** The network being trained: heap tensors of the posterior's parameters, and regression's log noise sd. */
export interface BnnNet {
  layers: BnnLayer[];
  logNoise: Tensor | null;
}

/** One mini-batch: its rows' features [rows, p] (standardized), their labels or standardized targets, and their row numbers (the noise keys). */
export interface BnnBatch {
  x: Float32Array;
  labels: Int32Array | null;
  target: Float64Array | null;
  ids: ArrayLike<number>;
}

const SHUFFLE = 0x5348,
  PREDICT = 0x5052,
  VALIDATE = 0x5641;

/** A fresh posterior for p inputs, `hidden` units and `width` outputs: μ_W Glorot-uniform from the seed, μ_b 0, every σ initSigma. */
export function createBnnNet(
  exec: Exec,
  p: number,
  hidden: number,
  width: number,
  regression: boolean,
  s: Pick<BnnSettings, 'initSigma'>,
  seed: number,
): BnnNet {
  const rng = new Rng(seed);
  const rho0 = softplusInverse(s.initSigma);
  const layers = [
    [p, hidden],
    [hidden, width],
  ].map(([fanIn, fanOut]): BnnLayer => {
    const a = Math.sqrt(6 / (fanIn! + fanOut!));
    return {
      fanIn: fanIn!,
      fanOut: fanOut!,
      muW: Tensor.from(
        exec.heap,
        'float32',
        [fanIn!, fanOut!],
        Float32Array.from({ length: fanIn! * fanOut! }, () => (2 * rng.next() - 1) * a),
      ),
      rhoW: Tensor.from(exec.heap, 'float32', [fanIn!, fanOut!], new Float32Array(fanIn! * fanOut!).fill(rho0)),
      muB: Tensor.zeros(exec.heap, 'float32', [fanOut!]),
      rhoB: Tensor.from(exec.heap, 'float32', [fanOut!], new Float32Array(fanOut!).fill(rho0)),
    };
  });
  return { layers, logNoise: regression ? Tensor.zeros(exec.heap, 'float32', [1]) : null };
}

/** The net's parameter tensors in a fixed order: each layer's μ_W, ρ_W, μ_b, ρ_b, then the log noise sd. */
export function bnnParams(net: BnnNet): Tensor[] {
  return [...net.layers.flatMap((l) => [l.muW, l.rhoW, l.muB, l.rhoB]), ...(net.logNoise ? [net.logNoise] : [])];
}

export function freeBnnNet(net: BnnNet): void {
  for (const t of bnnParams(net)) t.free();
}

/** out[k] = v[k]² rounded to float32 (what Float32Array.map((v) => v * v) gives), with no new array. */
function squareInto(out: Float32Array, v: Float32Array): void {
  for (let k = 0; k < v.length; k++) out[k] = v[k]! * v[k]!;
}

/** The unit normals of a batch's layer, [rows, width]: row r's are the stream (key..., layer, ids[r]), as normals draws them. */
function rowNoise(
  rows: number,
  width: number,
  key: readonly number[],
  layer: number,
  ids: ArrayLike<number>,
): Float64Array {
  const e = new Float64Array(rows * width);
  for (let r = 0; r < rows; r++) normalsInto(e, r * width, width, noiseSeed(...key, layer, ids[r]!));
  return e;
}

/** The negative ELBO per training row of one mini-batch, and the gradients of bnnParams' tensors in their order (when asked). */
export interface ElboResult {
  loss: number;
  nll: number;
  kl: number;
  grads: Float64Array[] | null;
}

/**
 * The mini-batch's negative ELBO per training row: mean NLL over its rows under one
 * local-reparameterization draw, plus klWeight · KL(q ‖ prior) / trainRows; and its gradients
 * with `withGrads`. `key` (run seed, epoch, batch) and each row's id draw its noise, so the
 * same key gives the same loss (what a finite-difference check needs).
 */
export async function bnnElbo(
  exec: Exec,
  net: BnnNet,
  b: BnnBatch,
  trainRows: number,
  s: Pick<BnnSettings, 'priorSd' | 'klWeight'>,
  key: readonly number[],
  withGrads: boolean,
): Promise<ElboResult> {
  const heap = exec.heap;
  const [l0, l1] = net.layers as [BnnLayer, BnnLayer];
  const rows = b.ids.length,
    p = l0.fanIn,
    h = l0.fanOut,
    width = l1.fanOut;
  // σ and sigmoid(ρ) once per step: the forward passes, the KL and every gradient read them.
  const sig = net.layers.map((l) => layerSigmas(l)) as [LayerSigmas, LayerSigmas];
  const x = Tensor.from(heap, 'float32', [rows, p], b.x);
  const x2 = Tensor.empty(heap, 'float32', [rows, p]);
  squareInto(x2.data() as Float32Array, b.x);
  const pass0 = await localReparamForward(exec, l0, x, x2, rowNoise(rows, h, key, 0, b.ids), sig[0]);
  const hT = Tensor.empty(heap, 'float32', [rows, h]),
    h2T = Tensor.empty(heap, 'float32', [rows, h]);
  const hid = hT.data() as Float32Array;
  for (let k = 0; k < hid.length; k++) hid[k] = Math.max(pass0.out[k]!, 0);
  squareInto(h2T.data() as Float32Array, hid);
  const pass1 = await localReparamForward(exec, l1, hT, h2T, rowNoise(rows, width, key, 1, b.ids), sig[1]);
  const g = new Float64Array(rows * width);
  let nll = 0,
    gNoise = 0;
  if (b.labels) {
    for (let r = 0; r < rows; r++) {
      const z = pass1.out.subarray(r * width, r * width + width);
      const top = Math.max(...z);
      let sum = 0;
      for (const v of z) sum += Math.exp(v - top);
      const y = b.labels[r]!;
      nll += top + Math.log(sum) - z[y]!;
      for (let c = 0; c < width; c++) g[r * width + c] = (Math.exp(z[c]! - top) / sum - (c === y ? 1 : 0)) / rows;
    }
  } else {
    const tau = (net.logNoise!.data() as Float32Array)[0]!,
      prec = Math.exp(-2 * tau);
    for (let r = 0; r < rows; r++) {
      const d = pass1.out[r]! - b.target![r]!;
      nll += 0.5 * d * d * prec + tau + 0.5 * Math.log(2 * Math.PI);
      g[r] = (d * prec) / rows;
      gNoise += (1 - d * d * prec) / rows;
    }
  }
  nll /= rows;
  let kl = 0;
  net.layers.forEach((l, i) => {
    for (const [mu, sd] of [
      [l.muW, sig[i]!.sW],
      [l.muB, sig[i]!.sB],
    ] as const) {
      const md = mu.data() as Float32Array;
      for (let k = 0; k < md.length; k++) kl += gaussianKl(md[k]!, sd[k]!, s.priorSd);
    }
  });
  const klScale = s.klWeight / trainRows;
  let grads: Float64Array[] | null = null;
  if (withGrads) {
    const back1 = await localReparamBackward(exec, l1, hT, h2T, pass1, g, true, sig[1]);
    const gx = back1.gx!,
      g0 = new Float64Array(gx.length);
    for (let k = 0; k < gx.length; k++) g0[k] = pass0.out[k]! > 0 ? gx[k]! : 0;
    const back0 = await localReparamBackward(exec, l0, x, x2, pass0, g0, false, sig[0]);
    const layerGrads: LayerGrads[] = [back0.grads, back1.grads];
    grads = [];
    net.layers.forEach((l, i) => {
      const lg = layerGrads[i]!,
        sg = sig[i]!;
      for (const [mu, sd, dsd, gm, gr] of [
        [l.muW, sg.sW, sg.dW, lg.muW, lg.rhoW],
        [l.muB, sg.sB, sg.dB, lg.muB, lg.rhoB],
      ] as const) {
        const md = mu.data() as Float32Array,
          s2 = s.priorSd * s.priorSd;
        for (let k = 0; k < md.length; k++) {
          const sigma = sd[k]!;
          gm[k]! += (klScale * md[k]!) / s2;
          gr[k]! += klScale * (-1 / sigma + sigma / s2) * dsd[k]!;
        }
      }
      grads!.push(lg.muW, lg.rhoW, lg.muB, lg.rhoB);
    });
    if (net.logNoise) grads.push(Float64Array.of(gNoise));
  } else {
    pass0.s2W.free();
    pass1.s2W.free();
  }
  for (const t of [x, x2, hT, h2T]) t.free();
  return { loss: nll + klScale * kl, nll, kl, grads };
}

/** What trainBnn learns from: standardized features of every row, labels or targets, and which rows fit and which choose the epoch. */
export interface BnnTrainInput {
  z: Float32Array;
  n: number;
  p: number;
  labels: Int32Array | null;
  classes: number;
  target: Float64Array | null;
  fit: Int32Array;
  val: Int32Array;
}

/**
 * Bayes by Backprop with Adam (lr, no weight decay: the KL is the regularizer) over
 * mini-batches of the fit rows in an order drawn per epoch. With no validation rows (graft mb's
 * way) it keeps the last epoch; with some, the epoch of the lowest posterior-predictive NLL on
 * them (predictiveNll), with patience. Returns the posterior (σ = softplus(ρ)) and, for
 * regression, the target's scale and the noise sd.
 */
export async function trainBnn(
  exec: Exec,
  input: BnnTrainInput,
  s: BnnSettings & { hidden: number; epochs: number; patience: number },
  seed: number,
): Promise<Omit<FittedBnn, 'mean' | 'sd'> & { bestEpoch: number }> {
  const { z, p, labels, target, fit, val } = input;
  const cls = labels !== null,
    width = cls ? input.classes : 1;
  let scale: { mean: number; sd: number } | undefined;
  if (!cls) {
    let m = 0;
    for (const i of fit) m += target![i]! / fit.length;
    let v = 0;
    for (const i of fit) v += (target![i]! - m) ** 2;
    const sd = Math.sqrt(v / Math.max(1, fit.length - 1));
    scale = { mean: m, sd: sd > 0 ? sd : 1 };
  }
  const batchOf = (ids: ArrayLike<number>): BnnBatch => {
    const x = new Float32Array(ids.length * p);
    for (let r = 0; r < ids.length; r++) x.set(z.subarray(ids[r]! * p, ids[r]! * p + p), r * p);
    return {
      x,
      labels: cls ? Int32Array.from(ids, (i) => labels![i]!) : null,
      target: cls ? null : Float64Array.from(ids, (i) => (target![i]! - scale!.mean) / scale!.sd),
      ids,
    };
  };
  const net = createBnnNet(exec, p, s.hidden, width, !cls, s, seed);
  const params = bnnParams(net);
  const moments = params.map(
    (t) => [Tensor.zeros(exec.heap, 'float32', t.shape), Tensor.zeros(exec.heap, 'float32', t.shape)] as const,
  );
  const grads = params.map((t) => Tensor.zeros(exec.heap, 'float32', t.shape));
  const adam: AdamHyper = { lr: s.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
  const valBatch = val.length ? batchOf(val) : null;
  let best = { loss: Infinity, epoch: 0, values: params.map((t) => Float32Array.from(t.data() as Float32Array)) };
  let step = 0;
  try {
    for (let epoch = 1; epoch <= s.epochs; epoch++) {
      const order = Array.from(fit);
      new Rng(noiseSeed(seed, epoch, SHUFFLE)).shuffle(order);
      for (let b = 0, at = 0; at < order.length; b++, at += s.batch) {
        const r = await bnnElbo(
          exec,
          net,
          batchOf(order.slice(at, at + s.batch)),
          fit.length,
          s,
          [seed, epoch, b],
          true,
        );
        step++;
        for (let t = 0; t < params.length; t++) {
          (grads[t]!.data() as Float32Array).set(r.grads![t]!);
          await adamStep(exec, params[t]!, grads[t]!, moments[t]![0], moments[t]![1], step, adam);
        }
      }
      if (!valBatch) continue;
      const loss = await predictiveNll(exec, net, valBatch, s.samples, seed);
      if (loss < best.loss)
        best = { loss, epoch, values: params.map((t) => Float32Array.from(t.data() as Float32Array)) };
      else if (s.patience > 0 && epoch - best.epoch >= s.patience) break;
    }
    if (valBatch)
      params.forEach((t, i) => {
        (t.data() as Float32Array).set(best.values[i]!);
      });
    const sig = (t: Tensor): Float32Array => Float32Array.from(t.data() as Float32Array, softplus);
    return {
      model: 'bnn',
      classes: cls ? input.classes : 0,
      hidden: s.hidden,
      samples: s.samples,
      seed,
      layers: net.layers.map((l) => ({
        fanIn: l.fanIn,
        fanOut: l.fanOut,
        muW: Float32Array.from(l.muW.data() as Float32Array),
        sigmaW: sig(l.rhoW),
        muB: Float32Array.from(l.muB.data() as Float32Array),
        sigmaB: sig(l.rhoB),
      })),
      ...(scale ? { scale, noiseSd: Math.exp((net.logNoise!.data() as Float32Array)[0]!) } : {}),
      bestEpoch: valBatch ? best.epoch : s.epochs,
    };
  } finally {
    for (const [m, v] of moments) {
      m.free();
      v.free();
    }
    for (const g of grads) g.free();
    freeBnnNet(net);
  }
}

/**
 * The posterior predictive's NLL per row of a batch, from `samples` weight draws of the current
 * posterior (keyed by seed and draw, the same draws every epoch): −log of the mean over draws
 * of p(y | x, w), a mixture of the draws' softmax or Gaussian likelihoods. What picks the epoch.
 */
async function predictiveNll(exec: Exec, net: BnnNet, b: BnnBatch, samples: number, seed: number): Promise<number> {
  const rows = b.ids.length,
    width = net.layers[1]!.fanOut;
  const tau = net.logNoise ? (net.logNoise.data() as Float32Array)[0]! : 0;
  const logLik = Array.from({ length: samples }, () => new Float64Array(rows));
  for (let s = 0; s < samples; s++) {
    const weights = net.layers.map((l, i) =>
      drawWeights(
        exec,
        l.fanIn,
        l.fanOut,
        l.muW.data() as Float32Array,
        Float32Array.from(l.rhoW.data() as Float32Array, softplus),
        l.muB.data() as Float32Array,
        Float32Array.from(l.rhoB.data() as Float32Array, softplus),
        normals(l.fanIn * l.fanOut + l.fanOut, seed, VALIDATE, s, i),
      ),
    );
    const out = await networkForward(exec, weights, b.x, rows);
    freeWeights(weights);
    for (let r = 0; r < rows; r++) {
      if (b.labels) {
        const zr = out.subarray(r * width, r * width + width);
        const top = Math.max(...zr);
        let sum = 0;
        for (const v of zr) sum += Math.exp(v - top);
        logLik[s]![r] = zr[b.labels[r]!]! - top - Math.log(sum);
      } else
        logLik[s]![r] = -0.5 * (out[r]! - b.target![r]!) ** 2 * Math.exp(-2 * tau) - tau - 0.5 * Math.log(2 * Math.PI);
    }
  }
  let nll = 0;
  for (let r = 0; r < rows; r++) {
    let top = -Infinity;
    for (let s = 0; s < samples; s++) top = Math.max(top, logLik[s]![r]!);
    let sum = 0;
    for (let s = 0; s < samples; s++) sum += Math.exp(logLik[s]![r]! - top);
    nll -= top + Math.log(sum / samples);
  }
  return nll / rows;
}

/** One weight draw w = μ + σ·ε of a layer, as heap tensors (freeWeights frees them); e holds the weights' ε then the biases'. */
function drawWeights(
  exec: Exec,
  fanIn: number,
  fanOut: number,
  muW: Float32Array,
  sigmaW: Float32Array,
  muB: Float32Array,
  sigmaB: Float32Array,
  e: Float64Array,
): { w: Tensor; b: Tensor } {
  const k = muW.length;
  return {
    w: Tensor.from(
      exec.heap,
      'float32',
      [fanIn, fanOut],
      Float32Array.from(muW, (mu, j) => mu + sigmaW[j]! * e[j]!),
    ),
    b: Tensor.from(
      exec.heap,
      'float32',
      [fanOut],
      Float32Array.from(muB, (mu, j) => mu + sigmaB[j]! * e[k + j]!),
    ),
  };
}

function freeWeights(weights: { w: Tensor; b: Tensor }[]): void {
  for (const w of weights) {
    w.w.free();
    w.b.free();
  }
}

/**
 * The network with fixed weights over rows x [rows, p]: ReLU(x·W₀ + b₀)·W₁ + b₁, the raw
 * outputs [rows, width]. Each output row is a function of its input row alone (matmul sums
 * every element in the same order whatever the rows around it), so a sample's bits do not
 * depend on which samples it is scored with.
 */
async function networkForward(
  exec: Exec,
  weights: { w: Tensor; b: Tensor }[],
  x: Float32Array,
  rows: number,
): Promise<Float32Array> {
  const p = weights[0]!.w.shape[0]!;
  const xT = Tensor.from(exec.heap, 'float32', [rows, p], x);
  const h = await matmul(exec, xT, weights[0]!.w);
  await biasAdd(exec, h, weights[0]!.b, { relu: true });
  const o = await matmul(exec, h, weights[1]!.w);
  await biasAdd(exec, o, weights[1]!.b);
  const out = Float32Array.from(o.data() as Float32Array);
  for (const t of [xT, h, o]) t.free();
  return out;
}

/**
 * The posterior predictive over rows z [rows, p] (standardized): for s = 0 .. S−1 the weights
 * are drawn from q with the noise of (m.seed, s, layer), every row scored with them, and
 * probabilities (classification) or values on the target's scale (regression) averaged over
 * the S draws in draw order. Returns the mean [rows, width] and each draw's scores.
 */
export async function bnnPredict(
  exec: Exec,
  m: FittedBnn,
  z: Float32Array,
  rows: number,
): Promise<{ mean: Float64Array; draws: Float64Array[] }> {
  const width = Math.max(1, m.classes),
    draws: Float64Array[] = [];
  for (let s = 0; s < m.samples; s++) {
    const weights = m.layers.map((l, i) =>
      drawWeights(
        exec,
        l.fanIn,
        l.fanOut,
        l.muW,
        l.sigmaW,
        l.muB,
        l.sigmaB,
        normals(l.muW.length + l.muB.length, m.seed, PREDICT, s, i),
      ),
    );
    const raw = await networkForward(exec, weights, z, rows);
    freeWeights(weights);
    const out = new Float64Array(rows * width);
    if (m.classes > 0)
      for (let r = 0; r < rows; r++) {
        const zr = raw.subarray(r * width, r * width + width);
        const top = Math.max(...zr);
        let sum = 0;
        for (const v of zr) sum += Math.exp(v - top);
        for (let c = 0; c < width; c++) out[r * width + c] = Math.exp(zr[c]! - top) / sum;
      }
    else for (let r = 0; r < rows; r++) out[r] = raw[r]! * m.scale!.sd + m.scale!.mean;
    draws.push(out);
  }
  const mean = new Float64Array(rows * width);
  for (const d of draws) for (let k = 0; k < mean.length; k++) mean[k]! += d[k]! / draws.length;
  return { mean, draws };
}
