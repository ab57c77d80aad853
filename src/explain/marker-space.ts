import { matmul } from '../ops/linalg.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor } from '../memory/tensor.js';
import type { StudyData, StudyMarkers } from '../genomics/study-data.js';
import type { FeatureSpace } from './attribution.js';

// Attributions on the markers of a genomic GCN whose features are principal-component
// scores. With more markers than samples, a block's features are F = U·S for W = U·S·Vᵀ (its
// standardized markers), so F = W·V with V = Wᵀ·F·S⁻² (S² = FᵀF, diagonal). The model is then
// a function of W through a linear map, and ∂φ/∂W = ∂φ/∂F · Vᵀ exactly. V is never stored
// ([markers, samples] can be gigabytes): F = (a·Wᵀ)·(F S⁻²) and ∂φ/∂W = (G·S⁻²·Fᵀ)·W, four GEMMs.
// A block whose features are its markers themselves (fewer markers than samples) maps by identity.

interface Block {
  /** Marker columns [m0, m1) and feature columns [f0, f1). */
  m0: number;
  m1: number;
  f0: number;
  f1: number;
  /** Scores path: W_b and F_b·S⁻² as tensors; identity: null. */
  w: Tensor | null;
  fs: Tensor | null;
}

/** (x·Aᵀ)·B on the engine's GEMM, for x [n, w] on the host, A [n, w] and B [n, k] in the heap: [n, k] on the host. */
async function throughSamples(rt: Runtime, x: Float32Array, a: Tensor, b: Tensor): Promise<Float32Array> {
  const xt = Tensor.from(rt.heap, 'float32', [a.shape[0]!, a.shape[1]!], x);
  let xa: Tensor | null = null,
    r: Tensor | null = null;
  try {
    xa = await matmul(rt.exec, xt, a, undefined, { transB: true }); // [n, n]
    r = await matmul(rt.exec, xa, b);
    return (r.data() as Float32Array).slice();
  } finally {
    xt.free();
    xa?.free();
    r?.free();
  }
}

function columns(src: Float32Array, rows: number, width: number, c0: number, c1: number): Float32Array {
  const w = c1 - c0,
    out = new Float32Array(rows * w);
  for (let i = 0; i < rows; i++) out.set(src.subarray(i * width + c0, i * width + c1), i * w);
  return out;
}

export interface MarkerSpace extends FeatureSpace {
  /** max |toModel(W) − features| over the study's features: 0 up to rounding when the map is exact. */
  mapError: number;
  dispose(): void;
}

/**
 * The markers as the attributed space of a study's GCN features. Features made as the top
 * principal components of the GRM (features 'pcs') are not scores of W itself: the map is
 * then the least-squares one through W's scores, and mapError says how far it is.
 */
export async function markerSpace(rt: Runtime, data: StudyData, markers: StudyMarkers): Promise<MarkerSpace> {
  const n = data.n,
    m = markers.clean.m,
    f = data.f;
  const widths = data.featureBlocks ?? [f];
  const blocks: Block[] = [];
  let f0 = 0;
  widths.forEach((fw, b) => {
    const m0 = Math.floor((m * b) / widths.length),
      m1 = Math.floor((m * (b + 1)) / widths.length);
    const f1 = f0 + fw;
    if (fw === m1 - m0) {
      blocks.push({ m0, m1, f0, f1, w: null, fs: null });
    } else {
      const fb = columns(data.features, n, f, f0, f1);
      for (let c = 0; c < fw; c++) {
        let s2 = 0;
        for (let i = 0; i < n; i++) s2 += fb[i * fw + c]! ** 2;
        const inv = s2 > 0 ? 1 / s2 : 0;
        for (let i = 0; i < n; i++) fb[i * fw + c]! *= inv;
      }
      blocks.push({
        m0,
        m1,
        f0,
        f1,
        w: Tensor.from(rt.heap, 'float32', [n, m1 - m0], columns(markers.w, n, m, m0, m1)),
        fs: Tensor.from(rt.heap, 'float32', [n, fw], fb),
      });
    }
    f0 = f1;
  });
  const toModel = async (a: Float32Array): Promise<Float32Array> => {
    const out = new Float32Array(n * f);
    for (const b of blocks) {
      const ab = columns(a, n, m, b.m0, b.m1),
        fw = b.f1 - b.f0;
      const fb = b.w ? await throughSamples(rt, ab, b.w, b.fs!) : ab; // (a·Wᵀ)·(F·S⁻²)
      for (let i = 0; i < n; i++) out.set(fb.subarray(i * fw, (i + 1) * fw), i * f + b.f0);
    }
    return out;
  };
  const gradToSpace = async (g: Float32Array): Promise<Float32Array> => {
    const out = new Float32Array(n * m);
    for (const b of blocks) {
      const gb = columns(g, n, f, b.f0, b.f1),
        mw = b.m1 - b.m0;
      const ab = b.w ? await throughSamples(rt, gb, b.fs!, b.w) : gb; // (G·S⁻²·Fᵀ)·W
      for (let i = 0; i < n; i++) out.set(ab.subarray(i * mw, (i + 1) * mw), i * m + b.m0);
    }
    return out;
  };
  const mapped = await toModel(markers.w);
  let mapError = 0;
  for (let k = 0; k < mapped.length; k++) mapError = Math.max(mapError, Math.abs(mapped[k]! - data.features[k]!));
  return {
    values: markers.w,
    width: m,
    toModel,
    gradToSpace,
    mapError,
    dispose() {
      for (const b of blocks) {
        b.w?.free();
        b.fs?.free();
      }
    },
  };
}
