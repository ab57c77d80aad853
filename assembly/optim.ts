// Optimizer steps over an element range of one parameter tensor, with PyTorch's update rules.
// Plain mul/add (no fusion) so the vector body and the scalar tail agree bit for bit.

// SGD: d = g + wd·w; with momentum, buf = first ? d : mu·buf + (1-dampening)·d and
// d = nesterov ? d + mu·buf : buf; then w -= lr·d.
export function sgdStep(
  w: usize, g: usize, buf: usize, lr: f32, momentum: f32, dampening: f32, weightDecay: f32,
  nesterov: i32, first: i32, e0: i32, e1: i32,
): void {
  for (let i = e0; i < e1; i++) {
    const o = <usize>i << 2;
    const wi = load<f32>(w + o);
    let d = load<f32>(g + o) + weightDecay * wi;
    if (momentum != 0) {
      const b = first ? d : momentum * load<f32>(buf + o) + (1 - dampening) * d;
      store<f32>(buf + o, b);
      d = nesterov ? d + momentum * b : b;
    }
    store<f32>(w + o, wi - lr * d);
  }
}

// Adam (decoupled = 0: L2 added to the gradient) and AdamW (decoupled = 1: w *= 1 - lr·wd).
// m = b1·m + (1-b1)·g; v = b2·v + (1-b2)·g²; w -= stepSize · m / (sqrt(v)/sqrtBc2 + eps),
// stepSize = lr / (1 - b1^t), sqrtBc2 = sqrt(1 - b2^t), both computed by the caller.
export function adamStep(
  w: usize, g: usize, m: usize, v: usize, lr: f32, beta1: f32, beta2: f32, eps: f32,
  weightDecay: f32, decoupled: i32, stepSize: f32, sqrtBc2: f32, e0: i32, e1: i32,
): void {
  const b1 = f32x4.splat(beta1), b2 = f32x4.splat(beta2);
  const c1 = f32x4.splat(1 - beta1), c2 = f32x4.splat(1 - beta2);
  const wdv = f32x4.splat(weightDecay), ssv = f32x4.splat(stepSize);
  const bcv = f32x4.splat(sqrtBc2), epsv = f32x4.splat(eps);
  const shrink: f32 = 1 - lr * weightDecay;
  const shv = f32x4.splat(shrink);
  let i = e0;
  for (; i + 4 <= e1; i += 4) {
    const o = <usize>i << 2;
    let wi = v128.load(w + o);
    let gi = v128.load(g + o);
    if (decoupled) wi = f32x4.mul(wi, shv);
    else gi = f32x4.add(gi, f32x4.mul(wdv, wi));
    const mi = f32x4.add(f32x4.mul(b1, v128.load(m + o)), f32x4.mul(c1, gi));
    const vi = f32x4.add(f32x4.mul(b2, v128.load(v + o)), f32x4.mul(f32x4.mul(c2, gi), gi));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const den = f32x4.add(f32x4.div(f32x4.sqrt(vi), bcv), epsv);
    v128.store(w + o, f32x4.sub(wi, f32x4.div(f32x4.mul(ssv, mi), den)));
  }
  for (; i < e1; i++) {
    const o = <usize>i << 2;
    let wi = load<f32>(w + o);
    let gi = load<f32>(g + o);
    if (decoupled) wi = wi * shrink;
    else gi = gi + weightDecay * wi;
    const mi = beta1 * load<f32>(m + o) + (1 - beta1) * gi;
    const vi = beta2 * load<f32>(v + o) + (1 - beta2) * gi * gi;
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const den = sqrt<f32>(vi) / sqrtBc2 + eps;
    store<f32>(w + o, wi - (stepSize * mi) / den);
  }
}
