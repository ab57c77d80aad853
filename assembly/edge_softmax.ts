import { expD } from './math';

// The softmax over each destination's incoming edges (GAT's attention normalization), and its
// backward, for rows (destinations) r in [r0, r1) of a CSR pattern, each of `heads` heads.
//
// Layout: rowPtr i32[rows+1]; scores, attention and their gradients f32 [heads, ld], head-major
// (head h's value for nonzero e at h·ld + e, ld ≥ nnz), so each head's row of values is what a
// CSR's vals array is and the SpMM that aggregates with it reads it as is. A row with no
// nonzeros writes nothing. Each row's max, sum and dot run in f64 over its nonzeros in
// storage order, whatever the row range, so any partition gives the same bits.

// a[h, e] = exp(s[h, e] − m) / Σ_e' exp(s[h, e'] − m), m the row's max (no overflow); the
// exponential is taken twice rather than stored in f32 between the passes, so each output is
// one rounding of the f64 quotient.
export function edgeSoftmax(rowPtr: usize, s: usize, lds: i32, out: usize, ldo: i32, heads: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const kBeg = load<i32>(rowPtr + (<usize>r << 2));
    const kEnd = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    if (kBeg == kEnd) continue;
    for (let h = 0; h < heads; h++) {
      const sh = s + (<usize>h * <usize>lds << 2), oh = out + (<usize>h * <usize>ldo << 2);
      let m: f64 = -Infinity;
      for (let k = kBeg; k < kEnd; k++) m = max(m, <f64>load<f32>(sh + (<usize>k << 2)));
      let z: f64 = 0;
      for (let k = kBeg; k < kEnd; k++) z += expD(<f64>load<f32>(sh + (<usize>k << 2)) - m);
      for (let k = kBeg; k < kEnd; k++) store<f32>(oh + (<usize>k << 2), <f32>(expD(<f64>load<f32>(sh + (<usize>k << 2)) - m) / z));
    }
  }
}

// gs[h, e] = a[h, e] · (ga[h, e] − Σ_e' a[h, e'] · ga[h, e']) over e' in e's row: the
// softmax's Jacobian-vector product, given its output a and the gradient ga of that output.
// a, ga and gs share the leading dimension ld; gs may be ga (each row reads ga before writing).
export function edgeSoftmaxBackward(rowPtr: usize, a: usize, ga: usize, gs: usize, ld: i32, heads: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const kBeg = load<i32>(rowPtr + (<usize>r << 2));
    const kEnd = load<i32>(rowPtr + (<usize>(r + 1) << 2));
    for (let h = 0; h < heads; h++) {
      const o = <usize>h * <usize>ld << 2;
      let dot: f64 = 0;
      for (let k = kBeg; k < kEnd; k++) {
        const p = o + (<usize>k << 2);
        dot += <f64>load<f32>(a + p) * <f64>load<f32>(ga + p);
      }
      for (let k = kBeg; k < kEnd; k++) {
        const p = o + (<usize>k << 2);
        store<f32>(gs + p, <f32>(<f64>load<f32>(a + p) * (<f64>load<f32>(ga + p) - dot)));
      }
    }
  }
}
