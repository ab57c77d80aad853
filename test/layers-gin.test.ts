// GINConv and GINEConv: against a dense f64 formula over the edge lists, gradients (ε, the
// MLP, GINE's edge map, the input) by finite differences, 1 vs 2 threads bit for bit, awkward
// graphs, and their PyG names through a safetensors round trip.
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { MessageGraph } from '../src/graph/message-graph.js';
import { layersFromPyg, layersToPyg } from '../src/interop/pyg.js';
import { Tensor } from '../src/memory/tensor.js';
import { GINConv, GINEConv, ginMlp } from '../src/nn/gin-conv.js';
import type { Linear } from '../src/nn/layers.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { Runtime } from '../src/runtime/runtime.js';
import { decodeForeignSafetensors, encodeCheckpoint } from '../src/train/checkpoint.js';
import { bitsEqual, randn } from './helpers.js';
import { affine, awkwardEdges, evalCtx, gradCheck, passResults, rows, trainCtx, worst } from './layer-check.js';

const rt = await Runtime.create({ threads: 2 });
afterAll(async () => {
  expect(rt.heap.stats().blocks).toBe(0);
  await rt.close();
});

const f32 = (t: Tensor): Float32Array => t.data() as Float32Array;

/** nn((1 + ε)·x_i + Σ_{j→i} m_ji), m_ji = x_j (GIN) or ReLU(x_j + e_ji·W_e + b_e) (GINE), in f64. */
function ginRef(layer: GINConv, x: number[][], src: number[], dst: number[], attr?: number[][]): number[][] {
  const [l0, , l2] = layer.nn.layers as [Linear, unknown, Linear];
  const eps = f32(layer.eps.value)[0]!;
  return x.map((xi, i) => {
    const h = xi.map((v) => (1 + eps) * v);
    src.forEach((s, e) => {
      if (dst[e] !== i) return;
      let m = x[s]!;
      if (attr) {
        const term = layer.lin
          ? affine(attr[e]!, f32(layer.lin.weight.value), xi.length, f32(layer.lin.bias!.value))
          : attr[e]!;
        m = m.map((v, c) => Math.max(v + term[c]!, 0));
      }
      m.forEach((v, c) => {
        h[c]! += v;
      });
    });
    const hid = affine(h, f32(l0.weight.value), l0.outFeatures, f32(l0.bias!.value)).map((v) => Math.max(v, 0));
    return affine(hid, f32(l2.weight.value), l2.outFeatures, f32(l2.bias!.value));
  });
}

function nonzeroBiases(layer: GINConv): void {
  for (const p of layer.params())
    if (p.name.endsWith('.bias'))
      f32(p.value).forEach((_, i, a) => {
        a[i] = 0.05 * (i + 1);
      });
}

describe('GINConv and GINEConv', () => {
  it('GIN with a learned ε equals the formula; gradients (ε included) equal the finite differences', async () => {
    const n = 13,
      { src, dst } = awkwardEdges(n, 26, 1);
    const g = MessageGraph.fromEdges(rt.heap, n, src, dst);
    const rng = new Rng(3);
    const layer = new GINConv(rt.heap, 'conv1', ginMlp(rt.heap, 'conv1', 4, 6, 3, rng), () => g, rng, {
      eps: 0.25,
      trainEps: true,
    });
    nonzeroBiases(layer);
    expect(layer.params().map((p) => p.name)).toEqual([
      'conv1.eps',
      'conv1.nn.0.weight',
      'conv1.nn.0.bias',
      'conv1.nn.2.weight',
      'conv1.nn.2.bias',
    ]);
    const xv = randn(n * 4, 2),
      x = Tensor.from(rt.heap, 'float32', [n, 4], xv);
    const y = await layer.forward(evalCtx(rt), x);
    expect(worst(f32(y), ginRef(layer, rows(xv, n, 4), src, dst))).toBeLessThanOrEqual(1);
    y.free();
    layer.release();
    expect(await gradCheck(layer, x, trainCtx(rt), 4)).toBe(6 * 3);
    layer.dispose();
    x.free();
    g.free();
  });

  it('GIN with a fixed ε: ε is no parameter, and its value is used', async () => {
    const n = 6,
      { src, dst } = awkwardEdges(n, 8, 2);
    const g = MessageGraph.fromEdges(rt.heap, n, src, dst);
    const rng = new Rng(1);
    const layer = new GINConv(rt.heap, 'gin', ginMlp(rt.heap, 'gin', 3, 4, 2, rng), () => g, rng, { eps: -0.5 });
    expect(layer.params().map((p) => p.name)).not.toContain('gin.eps');
    const xv = randn(n * 3, 5),
      x = Tensor.from(rt.heap, 'float32', [n, 3], xv);
    const y = await layer.forward(evalCtx(rt), x);
    expect(worst(f32(y), ginRef(layer, rows(xv, n, 3), src, dst))).toBeLessThanOrEqual(1);
    y.free();
    layer.release();
    await gradCheck(layer, x, trainCtx(rt), 2);
    layer.dispose();
    x.free();
    g.free();
  });

  for (const edgeDim of [2, undefined]) {
    it(`GINE ${edgeDim ? 'with an edge map lin (edge_dim 2)' : 'adding the edge features as they are'}: formula and gradients`, async () => {
      const n = 12,
        inF = 4,
        { src, dst } = awkwardEdges(n, 24, 6);
      const d = edgeDim ?? inF,
        av = randn(src.length * d, 9);
      const g = MessageGraph.fromEdges(rt.heap, n, src, dst, { edgeAttr: { data: av, dim: d } });
      const rng = new Rng(8);
      const layer = new GINEConv(rt.heap, 'conv2', ginMlp(rt.heap, 'conv2', inF, 5, 3, rng), () => g, rng, {
        trainEps: true,
        edgeDim,
      });
      nonzeroBiases(layer);
      expect(layer.lin !== null).toBe(edgeDim !== undefined);
      const xv = randn(n * inF, 10),
        x = Tensor.from(rt.heap, 'float32', [n, inF], xv);
      const y = await layer.forward(evalCtx(rt), x);
      expect(worst(f32(y), ginRef(layer, rows(xv, n, inF), src, dst, rows(av, src.length, d)))).toBeLessThanOrEqual(1);
      y.free();
      layer.release();
      await gradCheck(layer, x, trainCtx(rt), 11);
      layer.dispose();
      x.free();
      g.free();
    });
  }

  it('one node with a self loop, one node alone, and a graph without edge features refused by GINE', async () => {
    for (const [s, t] of [
      [[0], [0]],
      [[], []],
    ] as const) {
      const g = MessageGraph.fromEdges(rt.heap, 1, s, t, { edgeAttr: { data: s.length ? [0.5, -1] : [], dim: 2 } });
      const rng = new Rng(2);
      const layer = new GINEConv(rt.heap, 'c', ginMlp(rt.heap, 'c', 3, 4, 2, rng), () => g, rng, {
        edgeDim: 2,
        trainEps: true,
      });
      const xv = randn(3, 1),
        x = Tensor.from(rt.heap, 'float32', [1, 3], xv);
      const y = await layer.forward(evalCtx(rt), x);
      expect(
        worst(
          f32(y),
          ginRef(
            layer,
            rows(xv, 1, 3),
            [...s],
            [...t],
            rows(Float32Array.from(s.length ? [0.5, -1] : []), s.length, 2),
          ),
        ),
      ).toBeLessThanOrEqual(1);
      y.free();
      layer.release();
      await gradCheck(layer, x, trainCtx(rt), 3);
      layer.dispose();
      x.free();
      g.free();
    }
    const g = MessageGraph.fromEdges(rt.heap, 2, [0], [1]);
    const rng = new Rng(2);
    const layer = new GINEConv(rt.heap, 'c', ginMlp(rt.heap, 'c', 3, 4, 2, rng), () => g, rng);
    const x = Tensor.from(rt.heap, 'float32', [2, 3], randn(6, 1));
    await expect(layer.forward(evalCtx(rt), x)).rejects.toThrow(/c.*graph.*edge features/);
    layer.dispose();
    x.free();
    g.free();
  });

  it("1 and 2 threads give the same bits (GIN and GINE): output, input gradient, every weight gradient, ε's", async () => {
    const n = 2000,
      { src, dst } = awkwardEdges(n, 16_000, 12);
    const av = randn(src.length * 3, 13);
    const results: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const r = await Runtime.create({ threads });
      try {
        const g = MessageGraph.fromEdges(r.heap, n, src, dst, { edgeAttr: { data: av, dim: 3 } });
        for (const edges of [false, true]) {
          const rng = new Rng(4);
          const nn = ginMlp(r.heap, 'conv', 24, 32, 16, rng);
          const layer = edges
            ? new GINEConv(r.heap, 'conv', nn, () => g, rng, { edgeDim: 3, trainEps: true })
            : new GINConv(r.heap, 'conv', nn, () => g, rng, { trainEps: true });
          const x = Tensor.from(r.heap, 'float32', [n, 24], randn(n * 24, 5));
          results.push(await passResults(layer, x, trainCtx(r)));
          layer.dispose();
          x.free();
        }
        g.free();
      } finally {
        await r.close();
      }
    }
    results[0]!.forEach((t, i) => {
      expect(bitsEqual(t, results[2]![i]!), `GIN, result ${i}`).toBe(true);
    });
    results[1]!.forEach((t, i) => {
      expect(bitsEqual(t, results[3]![i]!), `GINE, result ${i}`).toBe(true);
    });
  });

  it("PyG names (eps, nn.0.weight [out, in], nn.2.*, GINE's lin.*): a round trip through safetensors gives the same bits", async () => {
    const n = 8,
      { src, dst } = awkwardEdges(n, 14, 3);
    const g = MessageGraph.fromEdges(rt.heap, n, src, dst, {
      edgeAttr: { data: randn(src.length * 2, 4), dim: 2 },
      selfLoops: 'keep',
    });
    const make = (seed: number): GINEConv => {
      const rng = new Rng(seed);
      return new GINEConv(rt.heap, 'convs.0', ginMlp(rt.heap, 'convs.0', 3, 4, 2, rng), () => g, rng, {
        edgeDim: 2,
        trainEps: true,
        eps: seed / 10,
      });
    };
    const a = make(1),
      b = make(7);
    const sd = layersToPyg(new Map(a.params().map((p) => [p.name, { shape: [...p.value.shape], data: f32(p.value) }])));
    expect(Object.fromEntries([...sd].map(([k, t]) => [k, t.shape]))).toEqual({
      'convs.0.eps': [1],
      'convs.0.nn.0.weight': [4, 3],
      'convs.0.nn.0.bias': [4],
      'convs.0.nn.2.weight': [2, 4],
      'convs.0.nn.2.bias': [2],
      'convs.0.lin.weight': [3, 2],
      'convs.0.lin.bias': [3],
    });
    const file = decodeForeignSafetensors(
      encodeCheckpoint({ tensors: sd, metadata: { format: 'pt' } }),
      'gine.safetensors',
    );
    loadWeights(
      b.params(),
      layersFromPyg(file, new Map(b.params().map((p) => [p.name, p.value.shape])), 'gine.safetensors'),
      'gine.safetensors',
    );
    expect(f32(b.eps.value)[0]).toBe(f32(a.eps.value)[0]);
    const x = Tensor.from(rt.heap, 'float32', [n, 3], randn(n * 3, 2));
    const ya = await a.forward(evalCtx(rt), x),
      yb = await b.forward(evalCtx(rt), x);
    expect(bitsEqual(f32(ya), f32(yb))).toBe(true);
    for (const t of [ya, yb, x]) t.free();
    a.dispose();
    b.dispose();
    g.free();
  });
});
