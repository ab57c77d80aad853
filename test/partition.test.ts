import { describe, expect, it } from 'vitest';
import { plantedPartition } from '../src/data/synthetic.js';
import { bfsPartition, partDataset } from '../src/graph/partition.js';

// Partition-parallel training's parts: balanced, deterministic, breadth-first contiguous, and
// each part's data set exactly the subgraph it induces (checked edge by edge and node by node).

describe('graph partitioning for partition-parallel training', () => {
  const ds = plantedPartition({ nodes: 500, classes: 4, features: 12, seed: 3 });

  it('cuts into parts of equal size (±1), the same way every time, counting the edges between parts', () => {
    for (const parts of [1, 2, 3, 7]) {
      const p = bfsPartition(ds.numNodes, ds.src, ds.dst, parts);
      const sizes = Array.from({ length: parts }, (_, q) => p.partOf.filter((x) => x === q).length);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(ds.numNodes);
      let cut = 0;
      for (let e = 0; e < ds.src.length; e++) if (p.partOf[ds.src[e]!] !== p.partOf[ds.dst[e]!]) cut++;
      expect(p.cutEdges).toBe(cut);
      if (parts === 1) expect(cut).toBe(0);
      expect(bfsPartition(ds.numNodes, ds.src, ds.dst, parts).partOf).toEqual(p.partOf);
    }
    // A path 0-1-…-9 in scrambled edge order: breadth-first parts are its two halves, one edge cut.
    const src = Int32Array.of(5, 0, 8, 2, 6, 1, 3, 7, 4),
      dst = Int32Array.of(6, 1, 9, 3, 7, 2, 4, 8, 5);
    const path = bfsPartition(10, src, dst, 2);
    expect(Array.from(path.partOf)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    expect(path.cutEdges).toBe(1);
    expect(() => bfsPartition(10, src, dst, 11)).toThrow(/parts/);
  });

  it("a part's data set is the subgraph it induces: its nodes, features, labels, splits and inner edges", () => {
    const p = bfsPartition(ds.numNodes, ds.src, ds.dst, 3);
    let nodesSeen = 0,
      edgesSeen = 0;
    for (let q = 0; q < 3; q++) {
      const { data, nodes } = partDataset(ds, p, q);
      nodesSeen += nodes.length;
      expect(data.numNodes).toBe(nodes.length);
      nodes.forEach((g, i) => {
        expect(p.partOf[g]).toBe(q);
        expect(data.labels[i]).toBe(ds.labels[g]);
        expect(Array.from(data.features.subarray(i * 12, (i + 1) * 12))).toEqual(
          Array.from(ds.features.subarray(g * 12, (g + 1) * 12)),
        );
        expect(data.ids[i]).toBe(ds.ids[g]);
      });
      // The edges with both ends in the part, in input order (repeated edges kept, as the input has them).
      const inner: string[] = [];
      for (let e = 0; e < ds.src.length; e++)
        if (p.partOf[ds.src[e]!] === q && p.partOf[ds.dst[e]!] === q) inner.push(`${ds.src[e]}-${ds.dst[e]}`);
      expect(Array.from(data.src, (a, e) => `${nodes[a]}-${nodes[data.dst[e]!]}`)).toEqual(inner);
      edgesSeen += data.src.length;
      for (const s of ['train', 'val', 'test'] as const) {
        expect(Array.from(data.split[s], (i) => nodes[i])).toEqual(
          Array.from(ds.split[s]).filter((g) => p.partOf[g] === q),
        );
      }
    }
    expect(nodesSeen).toBe(ds.numNodes);
    expect(edgesSeen + p.cutEdges).toBe(ds.src.length);
  });
});
