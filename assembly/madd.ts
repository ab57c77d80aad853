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

// The first r lanes (r = 1, 2 or 3, a compile-time constant after inlining) of a vector at p,
// the others zero, reading only those r floats; and their store, writing only those r floats.
// Remainder columns use them with mulAdd below, so they round as the scalar code they replace.
// @ts-ignore: decorator
@inline
export function loadPart(p: usize, r: i32): v128 {
  if (r == 1) return v128.load32_zero(p);
  if (r == 2) return v128.load64_zero(p);
  return v128.load32_lane(p, v128.load64_zero(p), 2, 8);
}

// @ts-ignore: decorator
@inline
export function storePart(p: usize, v: v128, r: i32): void {
  if (r == 1) { v128.store32_lane(p, v, 0); return; }
  v128.store64_lane(p, v, 0);
  if (r == 3) v128.store32_lane(p, v, 2, 8);
}

// Lane-wise maddS: a rounded product, then a rounded add, in both builds.
// @ts-ignore: decorator
@inline
export function mulAdd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}
