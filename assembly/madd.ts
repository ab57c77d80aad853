// Multiply-add used by every kernel. The relaxed build fuses it (one rounding, an FMA on
// x86/ARM); the SIMD128 build rounds twice. Which one runs is fixed per process, so all
// threads agree bit for bit.

// @ts-ignore: decorator
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// Scalar twin for remainder lanes; plain mul+add in both builds (V8 never fuses scalars).
// @ts-ignore: decorator
@inline
export function maddS(a: f32, b: f32, c: f32): f32 {
  return a * b + c;
}
