import { describe, expect, it } from 'vitest';
import { bfsPartition } from '../src/graph/partition.js';
import { bfsPartitionCsr, ClusterSampler } from '../src/store/cluster.js';
import { arrayEdges, csrFromEdges } from '../src/store/csr-build.js';
import {
  batchRng,
  checkSampledSubgraph,
  NeighborSampler,
  sampleNeighbors,
  type SampledSubgraph,
} from '../src/store/neighbor-sampler.js';
import { rng } from './helpers.js';

// The samplers against brute force over the edge list: every sampled edge exists, fanouts
// are met exactly and drawn without replacement (uniformly), low-degree nodes keep all their
// neighbours, fanout -1 gives the exact k-hop neighbourhood, relabelling round-trips, and a
// batch is a function of (seed, epoch, batch index) only.

/** A graph with a spread of degrees: a hub, isolated nodes, a chain, random edges. */
function testGraph(): {
  n: number;
  src: Int32Array;
  dst: Int32Array;
  csr: ReturnType<typeof csrFromEdges>;
  nbrs: Set<number>[];
} {
  const r = rng(21),
    n = 120,
    src: number[] = [],
    dst: number[] = [];
  for (let i = 1; i < 60; i++) {
    src.push(0);
    dst.push(i);
  } // node 0: degree 59+
  for (let i = 60; i < 100; i++) {
    src.push(i);
    dst.push(i + 1);
  } // a chain
  for (let e = 0; e < 150; e++) {
    src.push(1 + Math.floor(r() * 100));
    dst.push(1 + Math.floor(r() * 100));
  }
  // nodes 102…119 are isolated
  const s = Int32Array.from(src),
    d = Int32Array.from(dst);
  const nbrs = Array.from({ length: n }, () => new Set<number>());
  s.forEach((a, e) => {
    const b = d[e]!;
    if (a !== b) {
      nbrs[a]!.add(b);
      nbrs[b]!.add(a);
    }
  });
  return { n, src: s, dst: d, csr: csrFromEdges(n, arrayEdges(s, d), { symmetric: true }), nbrs };
}

const G = testGraph();

/** Local edges of a batch as [global target, global source, hop]. */
function edgesOf(b: SampledSubgraph): [number, number, number][] {
  const out: [number, number, number][] = [];
  const hopOf = (t: number): number => {
    let acc = 0;
    for (let h = 0; h < b.numSampledNodes.length; h++) {
      acc += b.numSampledNodes[h]!;
      if (t < acc) return h;
    }
    return -1;
  };
  for (let t = 0; t < b.nodes.length; t++)
    for (let e = b.rowPtr[t]!; e < b.rowPtr[t + 1]!; e++) out.push([b.nodes[t]!, b.nodes[b.colIdx[e]!]!, hopOf(t)]);
  return out;
}

describe('sampleNeighbors', () => {
  it('samples existing edges, exactly min(fanout, degree) per target, without replacement, all of them when degree ≤ fanout', () => {
    for (const fanouts of [[5], [3, 2], [15, 10, 5], [1, 1, 1, 1]]) {
      for (let trial = 0; trial < 20; trial++) {
        const seeds = Int32Array.from(new Set(Array.from({ length: 8 }, (_, i) => (trial * 7 + i * 13) % G.n)));
        const b = sampleNeighbors(G.csr, seeds, fanouts, batchRng(3, trial, 0));
        checkSampledSubgraph(G.csr, b);
        expect(Array.from(b.nodes.subarray(0, seeds.length))).toEqual(Array.from(seeds));
        expect(new Set(b.nodes).size).toBe(b.nodes.length);
        expect(b.numSampledNodes.reduce((a, c) => a + c, 0)).toBe(b.nodes.length);
        expect(b.numSampledEdges.reduce((a, c) => a + c, 0)).toBe(b.colIdx.length);
        let start = 0;
        for (let h = 0; h <= fanouts.length; h++) {
          const end = start + b.numSampledNodes[h]!;
          for (let t = start; t < end; t++) {
            const v = b.nodes[t]!,
              row = Array.from(b.colIdx.subarray(b.rowPtr[t]!, b.rowPtr[t + 1]!), (l) => b.nodes[l]!);
            for (const u of row) expect(G.nbrs[v]!.has(u), `${u} → ${v}`).toBe(true);
            expect(new Set(row).size).toBe(row.length); // without replacement
            if (h === fanouts.length)
              expect(row).toEqual([]); // the last hop's nodes are not expanded
            else if (G.nbrs[v]!.size <= fanouts[h]!) expect(new Set(row)).toEqual(G.nbrs[v]);
            else expect(row.length).toBe(fanouts[h]);
          }
          start = end;
        }
        // Relabelling: the local ids are first sight in (hop, target, CSR) order, seeds first.
        const seen = Array.from(seeds);
        for (const [, u] of edgesOf(b)) if (!seen.includes(u)) seen.push(u);
        expect(Array.from(b.nodes)).toEqual(seen);
      }
    }
  });

  it('fanout -1 gives the exact k-hop neighbourhood: every in-edge of every node within k - 1 hops (BFS reference)', () => {
    const seeds = Int32Array.of(0, 61, 110);
    const b = sampleNeighbors(G.csr, seeds, [-1, -1], batchRng(0, 0, 0));
    const hop = new Map<number, number>(Array.from(seeds, (s) => [s, 0]));
    let frontier = Array.from(seeds);
    for (let h = 1; h <= 2; h++) {
      const next: number[] = [];
      for (const v of frontier)
        for (const u of G.nbrs[v]!)
          if (!hop.has(u)) {
            hop.set(u, h);
            next.push(u);
          }
      frontier = next;
    }
    expect(new Set(b.nodes)).toEqual(new Set(hop.keys()));
    const want = [...hop]
      .filter(([, h]) => h < 2)
      .flatMap(([v]) => [...G.nbrs[v]!].map((u) => `${v}<${u}`))
      .sort();
    expect(
      edgesOf(b)
        .map(([v, u]) => `${v}<${u}`)
        .sort(),
    ).toEqual(want);
  });

  it("draws uniformly: each of a node's d neighbours is taken with probability k/d, each pair with k(k-1)/(d(d-1))", () => {
    const v = 0,
      d = G.nbrs[v]!.size,
      k = 4,
      trials = 4000;
    const count = new Map<number, number>(),
      pair = new Map<string, number>();
    for (let t = 0; t < trials; t++) {
      const b = sampleNeighbors(G.csr, Int32Array.of(v), [k], batchRng(9, t, 0));
      const row = Array.from(b.colIdx.subarray(0, b.rowPtr[1]!), (l) => b.nodes[l]!);
      for (const u of row) count.set(u, (count.get(u) ?? 0) + 1);
      for (let i = 0; i < k; i++)
        for (let j = i + 1; j < k; j++) pair.set(`${row[i]},${row[j]}`, (pair.get(`${row[i]},${row[j]}`) ?? 0) + 1);
    }
    const p = k / d,
      sd = Math.sqrt(trials * p * (1 - p));
    expect(count.size).toBe(d);
    for (const c of count.values()) expect(Math.abs(c - trials * p)).toBeLessThan(5 * sd);
    // Chi-square over the d neighbours: df = d - 1 ≈ 60, mean 60, sd ≈ 11; 120 is far in the tail.
    const chi = [...count.values()].reduce((a, c) => a + (c - trials * p) ** 2 / (trials * p), 0);
    expect(chi).toBeLessThan(120);
    // Pairs: each of the d(d-1)/2 pairs lies in a draw with probability k(k-1)/(d(d-1)); chi-square df ≈ 1710, sd ≈ 58.
    const cells = (d * (d - 1)) / 2,
      q = (trials * k * (k - 1)) / (d * (d - 1));
    const seenPairs = [...pair.values()];
    const chi2 = seenPairs.reduce((a, c) => a + (c - q) ** 2 / q, 0) + (cells - seenPairs.length) * q;
    expect(chi2).toBeLessThan(cells + 6 * Math.sqrt(2 * cells));
  });

  it('refuses repeated or out-of-range seeds and bad fanouts, and leaves its scratch map clean', () => {
    const scratch = { local: new Int32Array(G.n).fill(-1), picked: new Int32Array(4) };
    expect(() => sampleNeighbors(G.csr, Int32Array.of(3, 3), [2], batchRng(0, 0, 0), scratch)).toThrow(
      /argument 'seeds\[1\]' must be distinct seeds, got 3/,
    );
    expect(() => sampleNeighbors(G.csr, Int32Array.of(500), [2], batchRng(0, 0, 0), scratch)).toThrow(
      /seeds\[0\]' must be a node index in \[0, 120\), got 500/,
    );
    expect(() => sampleNeighbors(G.csr, Int32Array.of(1), [2, 0], batchRng(0, 0, 0), scratch)).toThrow(
      /fanouts\[1\]' must be a positive integer or -1/,
    );
    expect(scratch.local.every((x) => x === -1)).toBe(true);
    sampleNeighbors(G.csr, Int32Array.of(0, 1, 2), [10, 10], batchRng(0, 0, 0), scratch);
    expect(scratch.local.every((x) => x === -1)).toBe(true);
  });
});

describe('NeighborSampler', () => {
  const train = Int32Array.from({ length: 70 }, (_, i) => i * 1 + (i >= 60 ? 40 : 0));
  const opts = { fanouts: [4, 3], batchSize: 16, inputNodes: train, seed: 5 };

  it('a batch depends only on (seed, epoch, batch index): any order, any instance, the same bits', () => {
    const a = new NeighborSampler(G.csr, opts),
      b = new NeighborSampler(G.csr, opts);
    expect(a.numBatches).toBe(5);
    const forward = Array.from({ length: a.numBatches }, (_, i) => a.sample(2, i));
    const backward = Array.from({ length: b.numBatches }, (_, i) => b.sample(2, b.numBatches - 1 - i)).reverse();
    b.sample(0, 1); // another epoch in between changes nothing
    expect(backward).toEqual(forward);
    expect(b.sample(2, 3)).toEqual(forward[3]);
    expect(a.sample(3, 0).nodes).not.toEqual(forward[0]!.nodes); // a new epoch reshuffles
    expect(new NeighborSampler(G.csr, { ...opts, seed: 6 }).sample(2, 0).nodes).not.toEqual(forward[0]!.nodes);
  });

  it("an epoch's seeds cover the input nodes once each; the last batch is short unless dropLast; shuffle false keeps order", () => {
    const s = new NeighborSampler(G.csr, opts);
    const all = Array.from({ length: s.numBatches }, (_, i) => Array.from(s.seeds(1, i)));
    expect(all.map((x) => x.length)).toEqual([16, 16, 16, 16, 6]);
    expect(all.flat().sort((x, y) => x - y)).toEqual(Array.from(train));
    expect(new NeighborSampler(G.csr, { ...opts, dropLast: true }).numBatches).toBe(4);
    expect(Array.from(new NeighborSampler(G.csr, { ...opts, shuffle: false }).seeds(7, 1))).toEqual(
      Array.from(train.subarray(16, 32)),
    );
    expect(() => s.seeds(0, 5)).toThrow(/'b' must be a batch index in \[0, 5\), got 5/);
    expect(() => new NeighborSampler(G.csr, { ...opts, inputNodes: Int32Array.of(1, 1) })).toThrow(
      /inputNodes\[1\]' must be distinct nodes/,
    );
  });
});

describe('Cluster-GCN batches', () => {
  it("bfsPartitionCsr gives graph/partition.ts's bfsPartition parts on a store's CSR", () => {
    for (const parts of [1, 3, 7, 120])
      expect(bfsPartitionCsr(G.csr, parts)).toEqual(bfsPartition(G.n, G.src, G.dst, parts).partOf);
  });

  it('each batch is the subgraph its parts induce (every edge between chosen nodes, no other); an epoch covers every node once', () => {
    const c = new ClusterSampler(G.csr, { parts: 10, partsPerBatch: 3, seed: 2 });
    expect(c.numBatches).toBe(4);
    const covered: number[] = [];
    for (let b = 0; b < c.numBatches; b++) {
      const s = c.sample(1, b);
      checkSampledSubgraph(G.csr, s);
      const parts = new Set(c.parts(1, b));
      const want = Array.from({ length: G.n }, (_, v) => v).filter((v) => parts.has(c.partOf[v]!));
      expect(Array.from(s.nodes)).toEqual(want);
      const inside = new Set(want);
      const wantEdges = want
        .flatMap((v) => [...G.nbrs[v]!].filter((u) => inside.has(u)).map((u) => `${v}<${u}`))
        .sort();
      expect(
        edgesOf(s)
          .map(([v, u]) => `${v}<${u}`)
          .sort(),
      ).toEqual(wantEdges);
      covered.push(...s.nodes);
    }
    expect(covered.sort((x, y) => x - y)).toEqual(Array.from({ length: G.n }, (_, v) => v));
    expect(new ClusterSampler(G.csr, { parts: 10, partsPerBatch: 3, seed: 2 }).sample(1, 2)).toEqual(c.sample(1, 2));
    expect(Array.from(c.parts(1, 0))).not.toEqual(Array.from(c.parts(2, 0)));
  });
});
