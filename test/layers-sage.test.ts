// SAGEConv (mean aggregation with a root weight): against a dense f64 formula over the edge
// lists, gradients by finite differences, 1 vs 2 threads bit for bit, awkward graphs, and its
// PyG names through a safetensors round trip.
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { MessageGraph } from '../src/graph/message-graph.js';
import { layersFromPyg, layersToPyg } from '../src/interop/pyg.js';
import { Tensor } from '../src/memory/tensor.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { SAGEConv } from '../src/nn/sage-conv.js';
import { Runtime } from '../src/runtime/runtime.js';
import { decodeForeignSafetensors, encodeCheckpoint } from '../src/train/checkpoint.js';
import { bitsEqual, randn } from './helpers.js';
import { affine, awkwardEdges, evalCtx, gradCheck, passResults, rows, trainCtx, worst } from './layer-check.js';

const rt = await Runtime.create({ threads: 2 });
afterAll(async () => {
  expect(rt.heap.stats().blocks).toBe(0);
  await rt.close();
});

/** mean_{j→i} x_j · W_l + b_l + x_i · W_r, in f64 from the edge lists. */
function sageRef(layer: SAGEConv, x: number[][], src: number[], dst: number[]): number[][] {
  const out = layer.outFeatures,
    wl = layer.linL.weight.value.data() as Float32Array,
    bl = layer.linL.bias!.value.data() as Float32Array;
  const wr = layer.linR.weight.value.data() as Float32Array;
  return x.map((xi, i) => {
    const mean = new Array<number>(xi.length).fill(0);
    let deg = 0;
    src.forEach((s, e) => {
      if (dst[e] === i) {
        deg++;
        x[s]!.forEach((v, c) => {
          mean[c]! += v;
        });
      }
    });
    const agg = affine(deg ? mean.map((v) => v / deg) : mean, wl, out, bl),
      root = affine(xi, wr, out);
    return agg.map((v, o) => v + root[o]!);
  });
}

describe('SAGEConv', () => {
  for (const [inF, outF] of [
    [7, 3],
    [3, 6],
  ] as const) {
    it(`equals the formula and its gradients the finite differences (${inF} → ${outF}, ${inF > outF ? 'projects' : 'aggregates'} first)`, async () => {
      const n = 14,
        { src, dst } = awkwardEdges(n, 30, inF);
      const g = MessageGraph.fromEdges(rt.heap, n, src, dst);
      const layer = new SAGEConv(rt.heap, 'conv1', inF, outF, new Rng(2), () => g);
      expect(layer.projectFirst).toBe(inF > outF);
      const xv = randn(n * inF, 3),
        x = Tensor.from(rt.heap, 'float32', [n, inF], xv);
      const b = layer.linL.bias!.value.data() as Float32Array;
      for (let o = 0; o < outF; o++) b[o] = 0.1 * (o + 1); // a non-zero bias, so the formula sees it
      const y = await layer.forward(evalCtx(rt), x);
      const want = sageRef(layer, rows(xv, n, inF), src, dst);
      expect(worst(y.data() as Float32Array, want)).toBeLessThanOrEqual(1);
      // The isolated node (n − 1) gets its root term and the bias alone.
      const root = affine(rows(xv, n, inF)[n - 1]!, layer.linR.weight.value.data() as Float32Array, outF);
      for (let o = 0; o < outF; o++) expect(y.data()[(n - 1) * outF + o]).toBeCloseTo(root[o]! + b[o]!, 5);
      y.free();
      layer.release();
      expect(await gradCheck(layer, x, trainCtx(rt))).toBe(4 * 3);
      layer.dispose();
      x.free();
      g.free();
    });
  }

  it('one node, with and without a self loop, and no edges at all', async () => {
    for (const edges of [
      [[], []],
      [[0], [0]],
    ] as const) {
      const g = MessageGraph.fromEdges(rt.heap, 1, edges[0], edges[1]);
      const layer = new SAGEConv(rt.heap, 's', 4, 2, new Rng(5), () => g);
      const xv = randn(4, 8),
        x = Tensor.from(rt.heap, 'float32', [1, 4], xv);
      const y = await layer.forward(evalCtx(rt), x);
      expect(
        worst(y.data() as Float32Array, sageRef(layer, rows(xv, 1, 4), [...edges[0]], [...edges[1]])),
      ).toBeLessThanOrEqual(1);
      y.free();
      layer.release();
      await gradCheck(layer, x, trainCtx(rt));
      layer.dispose();
      x.free();
      g.free();
    }
  });

  it('1 and 2 threads give the same bits: output, input gradient, every weight gradient', async () => {
    const n = 2000,
      { src, dst } = awkwardEdges(n, 16_000, 9);
    const results: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const r = await Runtime.create({ threads });
      try {
        const g = MessageGraph.fromEdges(r.heap, n, src, dst);
        for (const [inF, outF] of [
          [40, 16],
          [16, 40],
        ]) {
          const layer = new SAGEConv(r.heap, 'conv1', inF!, outF!, new Rng(4), () => g);
          const x = Tensor.from(r.heap, 'float32', [n, inF!], randn(n * inF!, 5));
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
      expect(bitsEqual(t, results[2]![i]!), `projecting layer, result ${i}`).toBe(true);
    });
    results[1]!.forEach((t, i) => {
      expect(bitsEqual(t, results[3]![i]!), `aggregating layer, result ${i}`).toBe(true);
    });
  });

  it('PyG names: lin_l.weight [out, in], lin_l.bias, lin_r.weight; a round trip through safetensors gives the same bits', async () => {
    const n = 9,
      { src, dst } = awkwardEdges(n, 20, 3);
    const g = MessageGraph.fromEdges(rt.heap, n, src, dst);
    const a = new SAGEConv(rt.heap, 'conv1', 5, 3, new Rng(1), () => g),
      b = new SAGEConv(rt.heap, 'conv1', 5, 3, new Rng(99), () => g);
    const sd = layersToPyg(
      new Map(a.params().map((p) => [p.name, { shape: [...p.value.shape], data: p.value.data() as Float32Array }])),
    );
    expect(Object.fromEntries([...sd].map(([k, t]) => [k, t.shape]))).toEqual({
      'conv1.lin_l.weight': [3, 5],
      'conv1.lin_l.bias': [3],
      'conv1.lin_r.weight': [3, 5],
    });
    // PyTorch's layout: weight[o, i] is W[i, o].
    expect(sd.get('conv1.lin_l.weight')!.data[1 * 5 + 4]).toBe((a.linL.weight.value.data() as Float32Array)[4 * 3 + 1]);
    const file = decodeForeignSafetensors(
      encodeCheckpoint({ tensors: sd, metadata: { format: 'pt' } }),
      'sage.safetensors',
    );
    loadWeights(
      b.params(),
      layersFromPyg(file, new Map(b.params().map((p) => [p.name, p.value.shape])), 'sage.safetensors'),
      'sage.safetensors',
    );
    const x = Tensor.from(rt.heap, 'float32', [n, 5], randn(n * 5, 2));
    const ya = await a.forward(evalCtx(rt), x),
      yb = await b.forward(evalCtx(rt), x);
    expect(bitsEqual(ya.data() as Float32Array, yb.data() as Float32Array)).toBe(true);
    // Back to PyG again: the same tensors, bit for bit.
    const again = layersToPyg(
      new Map(b.params().map((p) => [p.name, { shape: [...p.value.shape], data: p.value.data() as Float32Array }])),
    );
    for (const [k, t] of sd)
      expect(bitsEqual(again.get(k)!.data as Float32Array, t.data as Float32Array), k).toBe(true);
    sd.delete('conv1.lin_r.weight');
    const broken = decodeForeignSafetensors(encodeCheckpoint({ tensors: sd, metadata: {} }), 'sage.safetensors');
    expect(() =>
      layersFromPyg(broken, new Map(b.params().map((p) => [p.name, p.value.shape])), 'sage.safetensors'),
    ).toThrow(/^sage\.safetensors: no conv1\.lin_r\.weight/);
    for (const t of [ya, yb, x]) t.free();
    a.dispose();
    b.dispose();
    g.free();
  });
});
