// Dropout with a counter-based generator: element i keeps its value when
// hash(i; key0, key1) < threshold, with threshold = keep probability · 2^32. The mask depends on
// the element index and the key only, never on which thread draws it, and costs a few integer
// SIMD operations per four elements instead of a stateful generator's serial chain.
//
// hash = lowbias32(lowbias32(i + key0) ^ key1), lowbias32 being Wellons' 32-bit bijective
// integer mix (xor-shift-multiply, 16/15/16).

// @ts-ignore: decorator
@inline function mix4(x: v128): v128 {
  x = v128.xor(x, i32x4.shr_u(x, 16));
  x = i32x4.mul(x, i32x4.splat(0x7feb352d));
  x = v128.xor(x, i32x4.shr_u(x, 15));
  x = i32x4.mul(x, i32x4.splat(<i32>0x846ca68b));
  return v128.xor(x, i32x4.shr_u(x, 16));
}

// mask: u8 per element (1 kept, 0 dropped); y = x * scale where kept, else 0.
export function dropoutForward(
  x: usize, y: usize, mask: usize, key0: i32, key1: i32, threshold: u32, scaleBy: f32,
  e0: i32, e1: i32,
): void {
  const k0 = i32x4.splat(key0), k1 = i32x4.splat(key1);
  const thr = i32x4.splat(<i32>threshold);
  const s = f32x4.splat(scaleBy);
  const step = i32x4.splat(4);
  let idx = i32x4(e0, e0 + 1, e0 + 2, e0 + 3);
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const h = mix4(v128.xor(mix4(i32x4.add(idx, k0)), k1));
    const keep = i32x4.lt_u(h, thr);
    const o = <usize>i << 2;
    v128.store(y + o, v128.and(f32x4.mul(v128.load(x + o), s), keep));
    const m = <usize>i;
    store<u8>(mask + m, <u8>(i32x4.extract_lane(keep, 0) & 1));
    store<u8>(mask + m, <u8>(i32x4.extract_lane(keep, 1) & 1), 1);
    store<u8>(mask + m, <u8>(i32x4.extract_lane(keep, 2) & 1), 2);
    store<u8>(mask + m, <u8>(i32x4.extract_lane(keep, 3) & 1), 3);
    idx = i32x4.add(idx, step);
  }
  for (; i < e1; i++) {
    const h = i32x4.extract_lane(mix4(v128.xor(mix4(i32x4.splat(i + key0)), k1)), 0);
    const keep = <u32>h < threshold;
    const o = <usize>i << 2;
    store<f32>(y + o, keep ? load<f32>(x + o) * scaleBy : 0);
    store<u8>(mask + <usize>i, keep ? 1 : 0);
  }
}

export function dropoutBackward(gy: usize, mask: usize, gx: usize, scaleBy: f32, e0: i32, e1: i32): void {
  for (let i = e0; i < e1; i++) {
    const o = <usize>i << 2;
    store<f32>(gx + o, load<u8>(mask + <usize>i) ? load<f32>(gy + o) * scaleBy : 0);
  }
}
