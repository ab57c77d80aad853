// STREAM triad a = b + s·c in f32 over [e0, e1): the bandwidth probe SpMM is judged against.
export function streamTriad(a: usize, b: usize, c: usize, s: f32, e0: i32, e1: i32): void {
  const sv = f32x4.splat(s);
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const o = <usize>i << 2;
    v128.store(a + o, f32x4.add(v128.load(b + o), f32x4.mul(sv, v128.load(c + o))));
  }
  for (; i < e1; i++) {
    const o = <usize>i << 2;
    store<f32>(a + o, load<f32>(b + o) + s * load<f32>(c + o));
  }
}
