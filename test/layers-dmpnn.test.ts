// BondMessagePassing (Chemprop's D-MPNN): against a dense f64 formula written per directed bond
// from the bond list (the reverse bond found by search, not by MessageGraph.reverse), gradients
// by finite differences, 1 vs 2 threads bit for bit, molecules with rings, a lone atom and a
// one-atom molecule, refusal of an edge without its reverse, and Chemprop's names.
import { afterAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { MessageGraph } from '../src/graph/message-graph.js';
import { layersFromPyg, layersToPyg } from '../src/interop/pyg.js';
import { Tensor } from '../src/memory/tensor.js';
import { BondMessagePassing } from '../src/nn/dmpnn.js';
import { loadWeights } from '../src/nn/load-weights.js';
import { Runtime } from '../src/runtime/runtime.js';
import { decodeForeignSafetensors, encodeCheckpoint } from '../src/train/checkpoint.js';
import { bitsEqual, randn } from './helpers.js';
import { evalCtx, gradCheck, passResults, rows, trainCtx, worst } from './layer-check.js';

const rt = await Runtime.create({ threads: 2 });
afterAll(async () => {
  expect(rt.heap.stats().blocks).toBe(0);
  await rt.close();
});

const f32 = (t: Tensor): Float32Array => t.data() as Float32Array;

/** Molecules as bond lists: a 6-ring with a tail, a 3-atom chain, a lone atom (no bond), a 4-ring. */
function molecules(): { atoms: number; bonds: [number, number][] } {
  const bonds: [number, number][] = [
    [0, 1],
    [1, 2],
    [2, 3],
    [3, 4],
    [4, 5],
    [5, 0],
    [2, 6],
    [6, 7],
    [8, 9],
    [9, 10],
    [12, 13],
    [13, 14],
    [14, 15],
    [15, 12],
  ];
  return { atoms: 16, bonds }; // atom 11 has no bond
}

/** Both directions of each bond, each with its own features (Chemprop gives both the same; any will do). */
function directed(
  bonds: [number, number][],
  bf: number,
  seed: number,
): { src: number[]; dst: number[]; attr: Float32Array } {
  const src: number[] = [],
    dst: number[] = [];
  for (const [a, b] of bonds) {
    src.push(a, b);
    dst.push(b, a);
  }
  return { src, dst, attr: randn(src.length * bf, seed) };
}

/** The D-MPNN in f64, per directed bond in input order. */
function dmpnnRef(
  layer: BondMessagePassing,
  x: number[][],
  src: number[],
  dst: number[],
  attr: number[][],
): number[][] {
  const hid = layer.hidden,
    a = layer.atomFeatures,
    wi = f32(layer.wi.weight.value),
    wh = f32(layer.wh.weight.value);
  const wo = f32(layer.wo.weight.value),
    bo = f32(layer.wo.bias!.value);
  const mul = (v: number[], w: Float32Array, r0 = 0): number[] =>
    Array.from({ length: hid }, (_, o) => v.reduce((s, vi, i) => s + vi * w[(r0 + i) * hid + o]!, 0));
  const E = src.length,
    rev = src.map((s, e) => src.findIndex((s2, k) => s2 === dst[e] && dst[k] === s));
  const h0 = src.map((s, e) => mul([...x[s]!, ...attr[e]!], wi));
  let h = h0.map((v) => v.map((q) => Math.max(q, 0)));
  const intoAtoms = (hh: number[][]): number[][] =>
    x.map((_, v) => {
      const m = new Array<number>(hid).fill(0);
      for (let k = 0; k < E; k++)
        if (dst[k] === v)
          hh[k]!.forEach((q, c) => {
            m[c]! += q;
          });
      return m;
    });
  for (let t = 1; t < layer.depth; t++) {
    const at = intoAtoms(h);
    h = src.map((s, e) => {
      const m = at[s]!.map((q, c) => q - h[rev[e]!]![c]!);
      return mul(m, wh).map((q, c) => Math.max(h0[e]![c]! + q, 0));
    });
  }
  const mv = intoAtoms(h);
  return x.map((xv, v) => {
    const p = mul(xv, wo),
      q = mul(mv[v]!, wo, a);
    return p.map((pi, o) => Math.max(pi + q[o]! + bo[o]!, 0));
  });
}

describe('BondMessagePassing (D-MPNN)', () => {
  for (const depth of [3, 1, 4]) {
    it(`depth ${depth}: the formula on rings, chains and a lone atom; finite-difference gradients`, async () => {
      const { atoms, bonds } = molecules(),
        af = 5,
        bf = 3,
        hid = 6;
      const { src, dst, attr } = directed(bonds, bf, depth);
      const g = MessageGraph.fromEdges(rt.heap, atoms, src, dst, { edgeAttr: { data: attr, dim: bf } });
      const layer = new BondMessagePassing(rt.heap, 'mp', af, bf, hid, new Rng(depth), () => g, { depth });
      f32(layer.wo.bias!.value).forEach((_, i, b) => {
        b[i] = 0.2;
      }); // keep most outputs in the ReLU's open side
      const xv = randn(atoms * af, 7),
        x = Tensor.from(rt.heap, 'float32', [atoms, af], xv);
      const y = await layer.forward(evalCtx(rt), x);
      expect(
        worst(f32(y), dmpnnRef(layer, rows(xv, atoms, af), src, dst, rows(attr, src.length, bf))),
      ).toBeLessThanOrEqual(1);
      y.free();
      layer.release();
      // h = 1e-3: with 28 bond states × 6 units through T ReLUs, 5e-3 crosses a kink (measured: backprop
      // equals the f64 formula's central difference at h = 1e-3 to 5 digits on every entry checked).
      expect(await gradCheck(layer, x, trainCtx(rt), depth + 40, 1e-3)).toBe(5 * 3);
      layer.dispose();
      x.free();
      g.free();
    });
  }

  it('a one-atom molecule; an edge without its reverse and missing bond features are refused', async () => {
    const g1 = MessageGraph.fromEdges(rt.heap, 1, [], [], { edgeAttr: { data: [], dim: 2 } });
    const layer = new BondMessagePassing(rt.heap, 'mp', 3, 2, 4, new Rng(1), () => g1);
    const x = Tensor.from(rt.heap, 'float32', [1, 3], [0.3, -0.2, 1]);
    const y = await layer.forward(evalCtx(rt), x);
    expect(worst(f32(y), dmpnnRef(layer, [[0.3, -0.2, 1]], [], [], []))).toBeLessThanOrEqual(1);
    y.free();
    layer.release();
    layer.dispose();
    g1.free();
    const oneWay = MessageGraph.fromEdges(rt.heap, 3, [0, 1, 1], [1, 0, 2], {
      edgeAttr: { data: randn(6, 1), dim: 2 },
    });
    const l2 = new BondMessagePassing(rt.heap, 'mp', 3, 2, 4, new Rng(1), () => oneWay);
    const x3 = Tensor.from(rt.heap, 'float32', [3, 3], randn(9, 2));
    await expect(l2.forward(evalCtx(rt), x3)).rejects.toThrow(/mp.*graph.*both directions/);
    const bare = MessageGraph.fromEdges(rt.heap, 3, [0, 1], [1, 0]);
    const l3 = new BondMessagePassing(rt.heap, 'mp', 3, 2, 4, new Rng(1), () => bare);
    await expect(l3.forward(evalCtx(rt), x3)).rejects.toThrow(/mp.*bond features of width 2/);
    l2.dispose();
    l3.dispose();
    x.free();
    x3.free();
    oneWay.free();
    bare.free();
  });

  it('MessageGraph.reverse pairs each direction with the other, a duplicated bond copy by copy', () => {
    const src = [0, 1, 1, 2, 1, 2, 3],
      dst = [1, 0, 2, 1, 2, 1, 3]; // 1 ↔ 2 twice, a self loop on 3
    const g = MessageGraph.fromEdges(rt.heap, 4, src, dst);
    const rev = g.reverse()!.data(),
      col = g.adj.colIdx.data(),
      d = g.dstOf.data();
    for (let k = 0; k < g.edges; k++) {
      expect([col[rev[k]!], d[rev[k]!]]).toEqual([d[k], col[k]]);
      expect(rev[rev[k]!]).toBe(k);
    }
    expect(new Set(rev).size).toBe(g.edges);
    g.free();
  });

  it('1 and 2 threads give the same bits: output, input gradient, every weight gradient', async () => {
    // 300 molecules of 8 atoms: a 6-ring and a tail of 2.
    const bonds: [number, number][] = [];
    for (let m = 0; m < 300; m++) {
      const o = m * 8;
      for (let i = 0; i < 6; i++) bonds.push([o + i, o + ((i + 1) % 6)]);
      bonds.push([o + 2, o + 6], [o + 6, o + 7]);
    }
    const { src, dst, attr } = directed(bonds, 6, 3);
    const results: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const r = await Runtime.create({ threads });
      try {
        const g = MessageGraph.fromEdges(r.heap, 2400, src, dst, { edgeAttr: { data: attr, dim: 6 } });
        const layer = new BondMessagePassing(r.heap, 'mp', 20, 6, 32, new Rng(5), () => g);
        const x = Tensor.from(r.heap, 'float32', [2400, 20], randn(2400 * 20, 4));
        results.push(await passResults(layer, x, trainCtx(r)));
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

  it("Chemprop's names and layouts (W_i.weight [hidden, atom + bond], W_h, W_o); a round trip through safetensors gives the same bits", async () => {
    const { atoms, bonds } = molecules();
    const { src, dst, attr } = directed(bonds, 2, 1);
    const g = MessageGraph.fromEdges(rt.heap, atoms, src, dst, { edgeAttr: { data: attr, dim: 2 } });
    const a = new BondMessagePassing(rt.heap, 'message_passing', 4, 2, 5, new Rng(1), () => g);
    const b = new BondMessagePassing(rt.heap, 'message_passing', 4, 2, 5, new Rng(2), () => g);
    const sd = layersToPyg(new Map(a.params().map((p) => [p.name, { shape: [...p.value.shape], data: f32(p.value) }])));
    expect(Object.fromEntries([...sd].map(([k, t]) => [k, t.shape]))).toEqual({
      'message_passing.W_i.weight': [5, 6],
      'message_passing.W_h.weight': [5, 5],
      'message_passing.W_o.weight': [5, 9],
      'message_passing.W_o.bias': [5],
    });
    const file = decodeForeignSafetensors(
      encodeCheckpoint({ tensors: sd, metadata: { format: 'pt' } }),
      'chemprop.safetensors',
    );
    loadWeights(
      b.params(),
      layersFromPyg(file, new Map(b.params().map((p) => [p.name, p.value.shape])), 'chemprop.safetensors'),
      'chemprop.safetensors',
    );
    const x = Tensor.from(rt.heap, 'float32', [atoms, 4], randn(atoms * 4, 3));
    const ya = await a.forward(evalCtx(rt), x),
      yb = await b.forward(evalCtx(rt), x);
    expect(bitsEqual(f32(ya), f32(yb))).toBe(true);
    a.release();
    b.release();
    for (const t of [ya, yb, x]) t.free();
    a.dispose();
    b.dispose();
    g.free();
  });
});

describe('BondMessagePassing with one-hot atom features and bond features', () => {
  /** One-hot rows, as Chemprop's atom features are: three groups of widths 4, 3 and 3 (10 columns, 3 ones a row). */
  function oneHot(atoms: number, seed: number): Float32Array {
    const r = new Rng(seed),
      x = new Float32Array(atoms * 10);
    for (let i = 0; i < atoms; i++) {
      x[i * 10 + Math.floor(r.next() * 4)] = 1;
      x[i * 10 + 4 + Math.floor(r.next() * 3)] = 1;
      x[i * 10 + 7 + Math.floor(r.next() * 3)] = 1;
    }
    return x;
  }

  it('sparse atom features (the SpMM path): the formula, finite-difference gradients, 1 and 2 threads bit for bit', async () => {
    const { atoms, bonds } = molecules(),
      bf = 3,
      hid = 6;
    const { src, dst, attr } = directed(bonds, bf, 5);
    const xv = oneHot(atoms, 2);
    const g = MessageGraph.fromEdges(rt.heap, atoms, src, dst, { edgeAttr: { data: attr, dim: bf } });
    const layer = new BondMessagePassing(rt.heap, 'mp', 10, bf, hid, new Rng(3), () => g);
    f32(layer.wo.bias!.value).fill(0.2);
    const x = Tensor.from(rt.heap, 'float32', [atoms, 10], xv);
    const y = await layer.forward(evalCtx(rt), x);
    expect(
      worst(f32(y), dmpnnRef(layer, rows(xv, atoms, 10), src, dst, rows(attr, src.length, bf))),
    ).toBeLessThanOrEqual(1);
    y.free();
    layer.release();
    expect(await gradCheck(layer, x, trainCtx(rt), 11, 1e-3)).toBe(5 * 3);
    layer.dispose();
    x.free();
    g.free();

    const results: Float32Array[][] = [];
    for (const threads of [1, 2]) {
      const r = await Runtime.create({ threads });
      try {
        const big = MessageGraph.fromEdges(r.heap, atoms, src, dst, { edgeAttr: { data: attr, dim: bf } });
        const l = new BondMessagePassing(r.heap, 'mp', 10, bf, 40, new Rng(5), () => big);
        const xt = Tensor.from(r.heap, 'float32', [atoms, 10], xv);
        results.push(await passResults(l, xt, trainCtx(r)));
        l.dispose();
        xt.free();
        big.free();
      } finally {
        await r.close();
      }
    }
    results[0]!.forEach((t, i) => {
      expect(bitsEqual(t, results[1]![i]!), `result ${i}`).toBe(true);
    });
  });

  it("every weight the bond features meet (W_i's bond rows): backprop equals the finite difference", async () => {
    const { atoms, bonds } = molecules(),
      bf = 4,
      hid = 5;
    const { src, dst } = directed(bonds, bf, 1);
    // 0/1 bond features in Chemprop's manner: the same row for both directions of a bond.
    const r = new Rng(9),
      attr = new Float32Array(src.length * bf);
    for (let b = 0; b < bonds.length; b++)
      for (let c = 0; c < bf; c++) attr[2 * b * bf + c] = attr[(2 * b + 1) * bf + c] = r.next() < 0.5 ? 1 : 0;
    const g = MessageGraph.fromEdges(rt.heap, atoms, src, dst, { edgeAttr: { data: attr, dim: bf } });
    const layer = new BondMessagePassing(rt.heap, 'mp', 10, bf, hid, new Rng(4), () => g);
    f32(layer.wo.bias!.value).fill(0.2);
    const x = Tensor.from(rt.heap, 'float32', [atoms, 10], oneHot(atoms, 3));
    const xv = f32(x).slice(),
      gyv = randn(atoms * hid, 6);
    // The loss in f64 through the formula (dmpnnRef): a step of 1e-4 then crosses no ReLU kink
    // (binary inputs make many bond states equal, and f32 steps large enough to rise above
    // rounding did cross one). The step taken is the f32 weights' actual change.
    const loss = (): number =>
      dmpnnRef(layer, rows(xv, atoms, 10), src, dst, rows(attr, src.length, bf))
        .flat()
        .reduce((s, v, i) => s + gyv[i]! * v, 0);
    const y = await layer.forward(trainCtx(rt), x);
    const gy = Tensor.from(rt.heap, 'float32', y.shape, gyv);
    (await layer.backward(trainCtx(rt), gy, false))?.free();
    y.free();
    gy.free();
    const w = f32(layer.wi.weight.value),
      grad = f32(layer.wi.weight.grad).slice(),
      h = 1e-4;
    for (let i = 10 * hid; i < (10 + bf) * hid; i++) {
      const w0 = w[i]!;
      w[i] = w0 + h;
      const wUp = w[i]!,
        up = loss();
      w[i] = w0 - h;
      const wDown = w[i]!,
        down = loss();
      w[i] = w0;
      const fd = (up - down) / (wUp - wDown);
      expect(Math.abs(fd - grad[i]!), `W_i[${i}]: backprop ${grad[i]}, finite difference ${fd}`).toBeLessThan(
        1e-4 + 1e-3 * Math.abs(fd),
      );
    }
    layer.dispose();
    x.free();
    g.free();
  });
});
