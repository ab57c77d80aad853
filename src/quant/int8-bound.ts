import type { Int8WeightValues } from '../ops/int8.js';

// How far an int8 stack of GCN layers can land from its float model, from the quantization
// steps alone (graft quantize --int8 on a gp GCN reports it). Per linear map y = x·W with
// input x inside its calibrated range (|x| ≤ M), the int8 map computes Q(x')·Ŵ with
// Ŵ_ij = s_j·q_ij, where x' is the input the int8 layers below produced (|x' − x| ≤ e):
//   |Q(x')·Ŵ − x·W| ≤ |Q(x') − x|·|Ŵ| + |x|·|Ŵ − W|
//                   ≤ (e + a/2)·max_j Σ_i |Ŵ_ij| + M·max_j k·s_j/2
// (clipping to the calibrated range moves x' no farther from x, which lies in it; rounding
// moves it at most half the input step a; a weight moves at most half its column's step s_j).
// Between maps, Â (the normalized adjacency) multiplies an error by at most its largest row
// sum ‖Â‖∞ (taken as at least 1, so a map with no propagation after it is covered too), a
// bias adds none and ReLU is 1-Lipschitz. The int32 accumulation is exact; float32 rescaling
// adds a relative 2⁻²³ or so per value, below what is stated here.

/** One linear map as calibrated: its int8 values and the range its input took on the float model. */
export interface CalibratedLinear {
  values: Int8WeightValues;
  range: { min: number; max: number };
}

/**
 * The largest |int8 − float| of a stack's output (in the model's units, before any rescaling
 * to the trait), the linear maps given in the order they run, each followed by at most one
 * propagation by an adjacency of row-sum norm `adjacencyNorm`.
 *
 * @example const b = int8StackBound(linears, 1.4) * scale.sd; // in trait units
 */
export function int8StackBound(linears: readonly CalibratedLinear[], adjacencyNorm: number): number {
  const gain = Math.max(1, adjacencyNorm);
  let e = 0;
  for (const { values: v, range } of linears) {
    const m = Math.max(Math.abs(range.min), Math.abs(range.max));
    let colSum = 0,
      step = 0;
    for (let j = 0; j < v.out; j++) {
      let s = 0;
      for (let i = 0; i < v.k; i++) s += Math.abs(v.q[j * v.k + i]!);
      colSum = Math.max(colSum, s * v.weightScale[j]!);
      step = Math.max(step, v.weightScale[j]!);
    }
    e = gain * ((e + v.inputScale / 2) * colSum + (m * v.k * step) / 2);
  }
  return e;
}
