// GATConv and GATv2Conv: against a dense f64 formula over the edge lists (PyG's self-loop
// handling, multi-head, concatenated or averaged), gradients by finite differences (attention
// dropout included: the same key gives the same mask every pass), 1 vs 2 threads bit for bit,
// awkward graphs, and their PyG names through a safetensors round trip.
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { MessageGraph } from '../src/graph/message-graph.js';
import { layersFromPyg, layersToPyg } from '../src/interop/pyg.js';
import { Tensor } from '../src/memory/tensor.js';
import { GATConv, GATv2Conv } from '../src/nn/gat-conv.js';
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
const leaky = (v: number, s: number): number => (v > 0 ? v : s * v);

/** PyG's add_self_loops: given loops dropped, one per node added. */
function withLoops(n: number, src: number[], dst: number[]): { s: number[]; d: number[] } {
  const s: number[] = [],
    d: number[] = [];
  src.forEach((a, e) => {
    if (a !== dst[e]) {
      s.push(a);
      d.push(dst[e]!);
    }
  });
  for (let i = 0; i < n; i++) {
    s.push(i);
    d.push(i);
  }
  return { s, d };
}

/**
 * Multi-head attention in f64 from the edge lists: logit(j → i, h), softmax over i's incoming
 * edges, y_i,h = Σ α·v_j,h; heads concatenated or averaged; plus the bias.
 */
function attend(
  n: number,
  heads: number,
  c: number,
  concat: boolean,
  s: number[],
  d: number[],
  bias: Float32Array,
  logit: (j: number, i: number, h: number) => number,
  value: (j: number) => number[],
): number[][] {
  return Array.from({ length: n }, (_, i) => {
    const out = new Array<number>(heads * c).fill(0);
    for (let h = 0; h < heads; h++) {
      const es = s.map((_, e) => (d[e] === i ? e : -1)).filter((e) => e >= 0);
      if (!es.length) continue;
      const l = es.map((e) => logit(s[e]!, i, h)),
        m = Math.max(...l);
      const z = l.reduce((a, v) => a + Math.exp(v - m), 0);
      es.forEach((e, q) => {
        const a = Math.exp(l[q]! - m) / z,
          v = value(s[e]!);
        for (let k = 0; k < c; k++) out[h * c + k]! += a * v[h * c + k]!;
      });
    }
    const y = concat
      ? out
      : Array.from({ length: c }, (_, k) => {
          let t = 0;
          for (let h = 0; h < heads; h++) t += out[h * c + k]!;
          return t / heads;
        });
    return y.map((v, k) => v + bias[k]!);
  });
}

function gatRef(layer: GATConv, x: number[][], s: number[], d: number[]): number[][] {
  const h = layer.heads,
    c = layer.outChannels,
    w = f32(layer.lin.weight.value),
    as = f32(layer.attSrc.value),
    ad = f32(layer.attDst.value);
  const xw = x.map((xi) => affine(xi, w, h * c));
  const dot = (v: number[], a: Float32Array, q: number): number => {
    let t = 0;
    for (let k = 0; k < c; k++) t += v[q * c + k]! * a[q * c + k]!;
    return t;
  };
  return attend(
    x.length,
    h,
    c,
    layer.concat,
    s,
    d,
    f32(layer.bias.value),
    (j, i, q) => leaky(dot(xw[j]!, as, q) + dot(xw[i]!, ad, q), layer.negativeSlope),
    (j) => xw[j]!,
  );
}

function gatv2Ref(layer: GATv2Conv, x: number[][], s: number[], d: number[]): number[][] {
  const h = layer.heads,
    c = layer.outChannels,
    att = f32(layer.att.value);
  const xl = x.map((xi) => affine(xi, f32(layer.linL.weight.value), h * c, f32(layer.linL.bias!.value)));
  const xr = x.map((xi) => affine(xi, f32(layer.linR.weight.value), h * c, f32(layer.linR.bias!.value)));
  return attend(
    x.length,
    h,
    c,
    layer.concat,
    s,
    d,
    f32(layer.bias.value),
    (j, i, q) => {
      let t = 0;
      for (let k = 0; k < c; k++)
        t += att[q * c + k]! * leaky(xl[j]![q * c + k]! + xr[i]![q * c + k]!, layer.negativeSlope);
      return t;
    },
    (j) => xl[j]!,
  );
}

function nonzeroBias(p: { value: Tensor }): void {
  f32(p.value).forEach((_, i, a) => {
    a[i] = 0.03 * (i + 1);
  });
}

const KINDS = [
  {
    name: 'GATConv',
    make: (n: string, i: number, c: number, seed: number, g: () => MessageGraph, o: object) =>
      new GATConv(rt.heap, n, i, c, new Rng(seed), g, o),
  },
  {
    name: 'GATv2Conv',
    make: (n: string, i: number, c: number, seed: number, g: () => MessageGraph, o: object) =>
      new GATv2Conv(rt.heap, n, i, c, new Rng(seed), g, o),
  },
] as const;

const ref = (layer: GATConv | GATv2Conv, x: number[][], s: number[], d: number[]): number[][] =>
  layer instanceof GATConv ? gatRef(layer, x, s, d) : gatv2Ref(layer, x, s, d);

describe.each(KINDS)('$name', ({ name, make }) => {
  for (const [heads, concat] of [
    [3, true],
    [2, false],
    [1, true],
  ] as const) {
    it(`${heads} head${heads > 1 ? 's' : ''}, ${concat ? 'concatenated' : 'averaged'}: the formula with PyG's self loops, and finite-difference gradients`, async () => {
      const n = 11,
        inF = 5,
        c = 3,
        { src, dst } = awkwardEdges(n, 22, heads * 7);
      const g = MessageGraph.fromEdges(rt.heap, n, src, dst, { selfLoops: 'replace' });
      const { s, d } = withLoops(n, src, dst);
      expect(g.edges).toBe(s.length);
      const layer = make('conv1', inF, c, heads, () => g, { heads, concat });
      nonzeroBias(layer.bias);
      expect(layer.outFeatures).toBe(concat ? heads * c : c);
      const xv = randn(n * inF, heads),
        x = Tensor.from(rt.heap, 'float32', [n, inF], xv);
      const y = await layer.forward(evalCtx(rt), x);
      expect(y.shape).toEqual([n, layer.outFeatures]);
      expect(worst(f32(y), ref(layer, rows(xv, n, inF), s, d))).toBeLessThanOrEqual(1);
      y.free();
      layer.release();
      await gradCheck(layer, x, evalCtx(rt), heads + 20);
      layer.dispose();
      x.free();
      g.free();
    });
  }

  it('attention dropout: the identity in evaluation, a different output in training, and gradients through the mask', async () => {
    const n = 10,
      { src, dst } = awkwardEdges(n, 30, 5);
    const g = MessageGraph.fromEdges(rt.heap, n, src, dst, { selfLoops: 'replace' });
    const layer = make('conv', 4, 2, 3, () => g, { heads: 2, dropout: 0.5, dropoutIndex: 3 });
    const xv = randn(n * 4, 6),
      x = Tensor.from(rt.heap, 'float32', [n, 4], xv);
    const { s, d } = withLoops(n, src, dst);
    const ye = await layer.forward(evalCtx(rt), x);
    expect(worst(f32(ye), ref(layer, rows(xv, n, 4), s, d))).toBeLessThanOrEqual(1);
    layer.release();
    const yt = await layer.forward(trainCtx(rt), x);
    expect(bitsEqual(f32(ye), f32(yt))).toBe(false);
    layer.release();
    ye.free();
    yt.free();
    await gradCheck(layer, x, trainCtx(rt), 31);
    layer.dispose();
    x.free();
    g.free();
  });

  it('edges as given (no self loops added): a node with no incoming edge gets the bias alone; one node', async () => {
    const n = 6,
      { src, dst } = awkwardEdges(n, 8, 1);
    const g = MessageGraph.fromEdges(rt.heap, n, src, dst);
    const layer = make('c', 3, 2, 4, () => g, { heads: 2 });
    nonzeroBias(layer.bias);
    const xv = randn(n * 3, 2),
      x = Tensor.from(rt.heap, 'float32', [n, 3], xv);
    const y = await layer.forward(evalCtx(rt), x);
    expect(worst(f32(y), ref(layer, rows(xv, n, 3), src, dst))).toBeLessThanOrEqual(1);
    expect(Array.from(f32(y).subarray((n - 1) * 4, n * 4))).toEqual(Array.from(f32(layer.bias.value)));
    y.free();
    layer.release();
    await gradCheck(layer, x, evalCtx(rt), 5);
    layer.dispose();
    x.free();
    g.free();
    const one = MessageGraph.fromEdges(rt.heap, 1, [], [], { selfLoops: 'replace' });
    const l1 = make('c', 3, 2, 4, () => one, { heads: 2, concat: false });
    const x1 = Tensor.from(rt.heap, 'float32', [1, 3], [0.5, -1, 2]);
    const y1 = await l1.forward(evalCtx(rt), x1);
    expect(worst(f32(y1), ref(l1, [[0.5, -1, 2]], [0], [0]))).toBeLessThanOrEqual(1);
    y1.free();
    l1.release();
    await gradCheck(l1, x1, evalCtx(rt), 6);
    l1.dispose();
    x1.free();
    one.free();
  });

  it('1 and 2 threads give the same bits in training (dropout on): output, input gradient, every weight gradient', async () => {
    const n = 1500,
      { src, dst } = awkwardEdges(n, 12_000, 8);
    const results: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const r = await Runtime.create({ threads });
      try {
        const g = MessageGraph.fromEdges(r.heap, n, src, dst, { selfLoops: 'replace' });
        const layer =
          name === 'GATConv'
            ? new GATConv(r.heap, 'conv', 24, 8, new Rng(3), () => g, { heads: 4, dropout: 0.3 })
            : new GATv2Conv(r.heap, 'conv', 24, 8, new Rng(3), () => g, { heads: 4, dropout: 0.3, concat: false });
        const x = Tensor.from(r.heap, 'float32', [n, 24], randn(n * 24, 5));
        results.push(await passResults(layer, x, trainCtx(r, 2)));
        layer.dispose();
        x.free();
        g.free();
      } finally {
        await r.close();
      }
    }
    results[0]!.forEach((t, i) => {
      expect(bitsEqual(t, results[1]![i]!), `result ${i}`).toBe(true);
    });
  });

  it('PyG names and layouts; a round trip through safetensors gives the same bits', async () => {
    const n = 7,
      { src, dst } = awkwardEdges(n, 12, 2);
    const g = MessageGraph.fromEdges(rt.heap, n, src, dst, { selfLoops: 'replace' });
    const a = make('conv1', 4, 3, 1, () => g, { heads: 2 }),
      b = make('conv1', 4, 3, 9, () => g, { heads: 2 });
    nonzeroBias(a.bias);
    const sd = layersToPyg(new Map(a.params().map((p) => [p.name, { shape: [...p.value.shape], data: f32(p.value) }])));
    const shapes = Object.fromEntries([...sd].map(([k, t]) => [k, t.shape]));
    expect(shapes).toEqual(
      name === 'GATConv'
        ? { 'conv1.lin.weight': [6, 4], 'conv1.att_src': [1, 2, 3], 'conv1.att_dst': [1, 2, 3], 'conv1.bias': [6] }
        : {
            'conv1.lin_l.weight': [6, 4],
            'conv1.lin_l.bias': [6],
            'conv1.lin_r.weight': [6, 4],
            'conv1.lin_r.bias': [6],
            'conv1.att': [1, 2, 3],
            'conv1.bias': [6],
          },
    );
    const file = decodeForeignSafetensors(
      encodeCheckpoint({ tensors: sd, metadata: { format: 'pt' } }),
      'gat.safetensors',
    );
    loadWeights(
      b.params(),
      layersFromPyg(file, new Map(b.params().map((p) => [p.name, p.value.shape])), 'gat.safetensors'),
      'gat.safetensors',
    );
    const x = Tensor.from(rt.heap, 'float32', [n, 4], randn(n * 4, 2));
    const ya = await a.forward(evalCtx(rt), x),
      yb = await b.forward(evalCtx(rt), x);
    expect(bitsEqual(f32(ya), f32(yb))).toBe(true);
    if (name === 'GATConv') {
      // PyG before 2.3 stored GATConv's weight as lin_src (shared with lin_dst): read too.
      const old = new Map([...sd].map(([k, t]) => [k === 'conv1.lin.weight' ? 'conv1.lin_src.weight' : k, t]));
      const oldFile = decodeForeignSafetensors(encodeCheckpoint({ tensors: old, metadata: {} }), 'old.safetensors');
      const w = layersFromPyg(oldFile, new Map(b.params().map((p) => [p.name, p.value.shape])), 'old.safetensors');
      expect(bitsEqual(w.get('conv1.lin.weight')!, f32((a as GATConv).lin.weight.value))).toBe(true);
    }
    const wrong = new Map(sd);
    wrong.set(name === 'GATConv' ? 'conv1.att_src' : 'conv1.att', { shape: [2, 3], data: new Float32Array(6) });
    const wrongFile = decodeForeignSafetensors(encodeCheckpoint({ tensors: wrong, metadata: {} }), 'w.safetensors');
    expect(() =>
      layersFromPyg(wrongFile, new Map(b.params().map((p) => [p.name, p.value.shape])), 'w.safetensors'),
    ).toThrow(/^w\.safetensors: conv1\.att(_src)? has shape \[2,3\], expected \[1,2,3\]$/);
    for (const t of [ya, yb, x]) t.free();
    a.dispose();
    b.dispose();
    g.free();
  });
});
