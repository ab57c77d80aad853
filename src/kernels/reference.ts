import type { KernelBackend } from './backend.js';

// The plain-TypeScript twin of every kernel in assembly/: the oracle the tests hold the WASM
// builds to, and the fallback where WebAssembly SIMD is missing. It follows the same
// summation orders; f32 arithmetic is reproduced with Math.fround (a product of two f32 is
// exact in f64, and rounding an f64 sum of two f32 to f32 equals the f32 sum), so on
// non-fused paths it matches the SIMD128 build bit for bit.

const f = Math.fround;

function mix(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b | 0);
  return (x ^ (x >>> 16)) >>> 0;
}

/** The dropout generator: keep element i when dropoutHash(i, key0, key1) < threshold. */
export function dropoutHash(i: number, key0: number, key1: number): number {
  return mix((mix((i + key0) | 0) ^ key1) | 0);
}

export function createReferenceBackend(memory: WebAssembly.Memory): KernelBackend {
  let F = new Float32Array(0), I = new Int32Array(0), U = new Uint8Array(0);
  // A grow replaces memory.buffer (memory only grows): remake the views when its size changed.
  const views = (): void => {
    const buf = memory.buffer;
    if (buf.byteLength !== U.byteLength) {
      F = new Float32Array(buf); I = new Int32Array(buf); U = new Uint8Array(buf);
    }
  };

  const ntDot = (a: number, b: number, k: number): number => {
    const k4 = k & ~3;
    const l = [0, 0, 0, 0];
    for (let p = 0; p < k4; p += 4) for (let q = 0; q < 4; q++) l[q] = f(l[q]! + f(F[a + p + q]! * F[b + p + q]!));
    let s = f(f(l[0]! + l[1]!) + f(l[2]! + l[3]!));
    for (let p = k4; p < k; p++) s = f(s + f(F[a + p]! * F[b + p]!));
    return s;
  };

  return {
    kind: 'js',
    spmmCsr(rowPtr, colIdx, vals, x, ldx, y, ldy, c0, c1, r0, r1) {
      views();
      const rp = rowPtr >> 2, ci = colIdx >> 2, vv = vals >> 2, xb = x >> 2, yb = y >> 2;
      for (let r = r0; r < r1; r++) {
        const kb = I[rp + r]!, ke = I[rp + r + 1]!;
        for (let c = c0; c < c1; c++) {
          let s = 0;
          for (let k = kb; k < ke; k++) s = f(s + f(F[vv + k]! * F[xb + I[ci + k]! * ldx + c]!));
          F[yb + r * ldy + c] = s;
        }
      }
    },
    gemmNN(a, lda, b, ldb, c, ldc, n, k, m0, m1) {
      views();
      const ab = a >> 2, bb = b >> 2, cb = c >> 2;
      for (let i = m0; i < m1; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s = f(s + f(F[ab + i * lda + p]! * F[bb + p * ldb + j]!));
          F[cb + i * ldc + j] = s;
        }
      }
    },
    gemmTN(a, lda, b, ldb, c, ldc, n, k, m0, m1) {
      views();
      const ab = a >> 2, bb = b >> 2, cb = c >> 2;
      for (let i = m0; i < m1; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s = f(s + f(F[ab + p * lda + i]! * F[bb + p * ldb + j]!));
          F[cb + i * ldc + j] = s;
        }
      }
    },
    gemmNT(a, lda, b, ldb, c, ldc, n, k, m0, m1) {
      views();
      const ab = a >> 2, bb = b >> 2, cb = c >> 2;
      for (let i = m0; i < m1; i++) for (let j = 0; j < n; j++) F[cb + i * ldc + j] = ntDot(ab + i * lda, bb + j * ldb, k);
    },
    biasAdd(y, ldy, bias, cols, r0, r1) {
      views();
      const yb = y >> 2, bb = bias >> 2;
      for (let r = r0; r < r1; r++) for (let c = 0; c < cols; c++) F[yb + r * ldy + c] = f(F[yb + r * ldy + c]! + F[bb + c]!);
    },
    colSum(g, ldg, out, rows, c0, c1) {
      views();
      const gb = g >> 2, ob = out >> 2;
      for (let c = c0; c < c1; c++) {
        let s = 0;
        for (let r = 0; r < rows; r++) s = f(s + F[gb + r * ldg + c]!);
        F[ob + c] = s;
      }
    },
    relu(x, y, e0, e1) {
      views();
      for (let i = e0; i < e1; i++) { const v = F[(x >> 2) + i]!; F[(y >> 2) + i] = v > 0 ? v : 0; }
    },
    reluBackward(y, gy, gx, e0, e1) {
      views();
      for (let i = e0; i < e1; i++) F[(gx >> 2) + i] = F[(y >> 2) + i]! > 0 ? F[(gy >> 2) + i]! : 0;
    },
    scale(x, alpha, y, e0, e1) {
      views();
      const al = f(alpha);
      for (let i = e0; i < e1; i++) F[(y >> 2) + i] = f(F[(x >> 2) + i]! * al);
    },
    axpy(alpha, x, y, e0, e1) {
      views();
      const al = f(alpha);
      for (let i = e0; i < e1; i++) F[(y >> 2) + i] = f(F[(y >> 2) + i]! + f(F[(x >> 2) + i]! * al));
    },
    addInto(x, y, e0, e1) {
      views();
      for (let i = e0; i < e1; i++) F[(y >> 2) + i] = f(F[(y >> 2) + i]! + F[(x >> 2) + i]!);
    },
    fillF32(p, value, e0, e1) {
      views();
      F.fill(value, (p >> 2) + e0, (p >> 2) + e1);
    },
    copyF32(src, dst, e0, e1) {
      views();
      if (e1 > e0) F.copyWithin((dst >> 2) + e0, (src >> 2) + e0, (src >> 2) + e1);
    },
    sumF32(p, n) {
      views();
      let s = 0;
      for (let i = 0; i < n; i++) s += F[(p >> 2) + i]!;
      return s;
    },
    dropoutForward(x, y, mask, key0, key1, threshold, scaleBy, e0, e1) {
      views();
      const sc = f(scaleBy), thr = threshold >>> 0;
      for (let i = e0; i < e1; i++) {
        const keep = dropoutHash(i, key0, key1) < thr;
        F[(y >> 2) + i] = keep ? f(F[(x >> 2) + i]! * sc) : 0;
        U[mask + i] = keep ? 1 : 0;
      }
    },
    dropoutBackward(gy, mask, gx, scaleBy, e0, e1) {
      views();
      const sc = f(scaleBy);
      for (let i = e0; i < e1; i++) F[(gx >> 2) + i] = U[mask + i] ? f(F[(gy >> 2) + i]! * sc) : 0;
    },
    softmaxCrossEntropy(logits, ld, labels, mask, classes, grad, ldg, lossRows, invCount, r0, r1) {
      views();
      for (let r = r0; r < r1; r++) {
        const x = (logits >> 2) + r * ld, g = (grad >> 2) + r * ldg;
        if (mask !== 0 && U[mask + r] === 0) {
          for (let c = 0; c < classes; c++) F[g + c] = 0;
          F[(lossRows >> 2) + r] = 0;
          continue;
        }
        let m = -Infinity;
        for (let c = 0; c < classes; c++) m = Math.max(m, F[x + c]!);
        let s = 0;
        for (let c = 0; c < classes; c++) s += Math.exp(F[x + c]! - m);
        const label = I[(labels >> 2) + r]!;
        F[(lossRows >> 2) + r] = m + Math.log(s) - F[x + label]!;
        for (let c = 0; c < classes; c++) F[g + c] = (Math.exp(F[x + c]! - m) / s - (c === label ? 1 : 0)) * invCount;
      }
    },
    mseLoss(pred, ldp, target, ldt, mask, cols, grad, ldg, lossRows, invCount, r0, r1) {
      views();
      for (let r = r0; r < r1; r++) {
        const on = mask === 0 || U[mask + r] !== 0;
        let s = 0;
        for (let c = 0; c < cols; c++) {
          const d = on ? F[(pred >> 2) + r * ldp + c]! - F[(target >> 2) + r * ldt + c]! : 0;
          s += d * d;
          F[(grad >> 2) + r * ldg + c] = 2 * d * invCount;
        }
        F[(lossRows >> 2) + r] = s;
      }
    },
    bceWithLogits(logits, ld, targets, ldt, labelMask, posWeight, cols, grad, ldg, lossRows, invCount, r0, r1) {
      views();
      for (let r = r0; r < r1; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) {
          const go = (grad >> 2) + r * ldg + c;
          if (labelMask !== 0 && U[labelMask + r * cols + c] === 0) { F[go] = 0; continue; }
          const v = F[(logits >> 2) + r * ld + c]!, y = F[(targets >> 2) + r * ldt + c]!;
          const pw = posWeight !== 0 ? F[(posWeight >> 2) + c]! : 1;
          const e = Math.exp(-Math.abs(v)), l = Math.log1p(e);
          s += pw * y * (Math.max(-v, 0) + l) + (1 - y) * (Math.max(v, 0) + l);
          const sig = v >= 0 ? 1 / (1 + e) : e / (1 + e);
          F[go] = (sig * (1 - y + pw * y) - pw * y) * invCount;
        }
        F[(lossRows >> 2) + r] = s;
      }
    },
    sgdStep(w, g, bufp, lr, momentum, dampening, weightDecay, nesterov, first, e0, e1) {
      views();
      const mu = f(momentum), wd = f(weightDecay), lrf = f(lr), damp = f(f(1) - f(dampening));
      for (let i = e0; i < e1; i++) {
        const wi = F[(w >> 2) + i]!;
        let d = f(F[(g >> 2) + i]! + f(wd * wi));
        if (mu !== 0) {
          const b = first ? d : f(f(mu * F[(bufp >> 2) + i]!) + f(damp * d));
          F[(bufp >> 2) + i] = b;
          d = nesterov ? f(d + f(mu * b)) : b;
        }
        F[(w >> 2) + i] = f(wi - f(lrf * d));
      }
    },
    adamStep(w, g, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, stepSize, sqrtBc2, e0, e1) {
      views();
      const b1 = f(beta1), b2 = f(beta2), c1 = f(1 - b1), c2 = f(1 - b2), wd = f(weightDecay);
      const ss = f(stepSize), bc = f(sqrtBc2), ep = f(eps), shrink = f(1 - f(f(lr) * wd));
      for (let i = e0; i < e1; i++) {
        let wi = F[(w >> 2) + i]!, gi = F[(g >> 2) + i]!;
        if (decoupled) wi = f(wi * shrink);
        else gi = f(gi + f(wd * wi));
        const mi = f(f(b1 * F[(m >> 2) + i]!) + f(c1 * gi));
        const vi = f(f(b2 * F[(v >> 2) + i]!) + f(f(c2 * gi) * gi));
        F[(m >> 2) + i] = mi;
        F[(v >> 2) + i] = vi;
        const den = f(f(f(Math.sqrt(vi)) / bc) + ep);
        F[(w >> 2) + i] = f(wi - f(f(ss * mi) / den));
      }
    },
    segmentPool(x, ldx, offsets, out, ldo, argmax, cols, mode, g0, g1) {
      views();
      for (let g = g0; g < g1; g++) {
        const beg = I[(offsets >> 2) + g]!, end = I[(offsets >> 2) + g + 1]!;
        for (let c = 0; c < cols; c++) {
          if (mode === 2) {
            let best = 0, at = -1;
            for (let r = beg; r < end; r++) { const v = F[(x >> 2) + r * ldx + c]!; if (at < 0 || v > best) { best = v; at = r; } }
            F[(out >> 2) + g * ldo + c] = best;
            I[(argmax >> 2) + g * cols + c] = at;
          } else {
            let s = 0;
            for (let r = beg; r < end; r++) s = f(s + F[(x >> 2) + r * ldx + c]!);
            if (mode === 1 && end > beg) s = f(s / (end - beg));
            F[(out >> 2) + g * ldo + c] = s;
          }
        }
      }
    },
    segmentPoolBackward(gOut, ldo, offsets, gx, ldx, argmax, cols, mode, g0, g1) {
      views();
      for (let g = g0; g < g1; g++) {
        const beg = I[(offsets >> 2) + g]!, end = I[(offsets >> 2) + g + 1]!;
        for (let r = beg; r < end; r++) {
          for (let c = 0; c < cols; c++) {
            let v = F[(gOut >> 2) + g * ldo + c]!;
            if (mode === 1) v = f(v / (end - beg));
            else if (mode === 2 && I[(argmax >> 2) + g * cols + c] !== r) v = 0;
            F[(gx >> 2) + r * ldx + c] = v;
          }
        }
      }
    },
    streamTriad(a, b, c, s, e0, e1) {
      views();
      const sf = f(s);
      for (let i = e0; i < e1; i++) F[(a >> 2) + i] = f(F[(b >> 2) + i]! + f(sf * F[(c >> 2) + i]!));
    },
  };
}
