import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plantedPartition } from '../src/data/synthetic.js';
import {
  bandwidth,
  csrEdges,
  csrInOrder,
  nodeDatasetInOrder,
  RCM_MIN_NODES,
  reverseCuthillMcKee,
  rowsInOrder,
  rowsInUserOrder,
  spmmNodeOrder,
} from '../src/graph/reorder.js';
import { Runtime } from '../src/runtime/runtime.js';
import {
  checkNodeConfig,
  KIPF_DEFAULTS,
  predictNodes,
  trainNodeClassifier,
  type NodeTrainConfig,
} from '../src/train/node-trainer.js';
import { bitsEqual, closeness, rng, runGraft, tempDir } from './helpers.js';

// Node reordering for SpMM: reverse Cuthill–McKee checked against a hand-worked order and
// against what RCM guarantees (a scrambled path comes back a path, components stay
// contiguous, a grid's bandwidth is about its width); the node trainer and predictNodes in
// RCM order give the user's-order results (same rows, same math up to summation order).

/** A random permutation of 0…n-1 (Fisher–Yates on the test RNG). */
function shuffled(n: number, seed: number): Int32Array {
  const r = rng(seed),
    p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

const isPermutation = (o: Int32Array, n: number): boolean =>
  o.length === n && new Set(o).size === n && o.every((v) => v >= 0 && v < n);

describe('reverse Cuthill–McKee', () => {
  it('gives the hand-worked order: lowest degree first, neighbours by degree, reversed', () => {
    // Star 0–{1,2,3}, tail 3–4, isolated 5. Degrees 3,1,1,2,1,0. Cuthill–McKee from node 5
    // (degree 0), then from 1 (degree 1, lowest index): 5 | 1, 0, then 0's neighbours 2 (deg 1)
    // before 3 (deg 2), then 4. Reversed: 4 3 2 0 1 5.
    const { order, rank } = reverseCuthillMcKee(6, Int32Array.of(0, 0, 3, 0), Int32Array.of(1, 2, 4, 3));
    expect([...order]).toEqual([4, 3, 2, 0, 1, 5]);
    expect([...rank]).toEqual([3, 4, 2, 1, 0, 5]);
    expect(bandwidth(Int32Array.of(0, 0, 3, 0), Int32Array.of(1, 2, 4, 3), rank)).toBe(2);
    expect(reverseCuthillMcKee(0, new Int32Array(0), new Int32Array(0)).order.length).toBe(0);
  });

  it('numbers a scrambled path as a path, keeps components contiguous, and narrows a grid to about its width', () => {
    // Two paths of 40 nodes, labelled at random: RCM puts each path in a row, bandwidth 1.
    const n = 80,
      label = shuffled(n, 11),
      src: number[] = [],
      dst: number[] = [];
    for (const base of [0, 40])
      for (let i = 0; i < 39; i++) {
        src.push(label[base + i]!);
        dst.push(label[base + i + 1]!);
      }
    const path = reverseCuthillMcKee(n, Int32Array.from(src), Int32Array.from(dst));
    expect(isPermutation(path.order, n)).toBe(true);
    for (let q = 0; q < n; q++) expect(path.rank[path.order[q]!]).toBe(q);
    expect(bandwidth(Int32Array.from(src), Int32Array.from(dst))).toBeGreaterThan(10);
    expect(bandwidth(Int32Array.from(src), Int32Array.from(dst), path.rank)).toBe(1);
    for (const base of [0, 40]) {
      const ranks = Array.from({ length: 40 }, (_, i) => path.rank[label[base + i]!]!);
      expect(Math.max(...ranks) - Math.min(...ranks)).toBe(39);
    }
    // A 30×30 grid, labelled at random: breadth-first levels are its anti-diagonals (≤ 30 nodes).
    const side = 30,
      g = shuffled(side * side, 5),
      gs: number[] = [],
      gd: number[] = [];
    for (let r = 0; r < side; r++)
      for (let c = 0; c < side; c++) {
        if (c + 1 < side) {
          gs.push(g[r * side + c]!);
          gd.push(g[r * side + c + 1]!);
        }
        if (r + 1 < side) {
          gs.push(g[r * side + c]!);
          gd.push(g[(r + 1) * side + c]!);
        }
      }
    const grid = reverseCuthillMcKee(side * side, Int32Array.from(gs), Int32Array.from(gd));
    expect(bandwidth(Int32Array.from(gs), Int32Array.from(gd))).toBeGreaterThan(500);
    expect(bandwidth(Int32Array.from(gs), Int32Array.from(gd), grid.rank)).toBeLessThanOrEqual(2 * side);
    // Deterministic, whatever order the edges come in, and refuses edges off the graph.
    const back = reverseCuthillMcKee(side * side, Int32Array.from(gd).reverse(), Int32Array.from(gs).reverse());
    expect([...back.order]).toEqual([...grid.order]);
    expect(() => reverseCuthillMcKee(3, Int32Array.of(0), Int32Array.of(3))).toThrow(/dst\[0\].*\[0, 3\)/);
  });

  it('moves rows, node indices, data sets and CSR matrices into the order and rows back out', () => {
    const order = Int32Array.of(2, 0, 1),
      rank = Int32Array.of(1, 2, 0);
    const rows = Float32Array.of(0, 1, 10, 11, 20, 21);
    expect([...rowsInOrder(rows, 2, order)]).toEqual([20, 21, 0, 1, 10, 11]);
    expect([...rowsInUserOrder(rowsInOrder(rows, 2, order), 2, order)]).toEqual([...rows]);
    expect(rowsInOrder(Int32Array.of(7, 8, 9), 1, order)).toEqual(Int32Array.of(9, 7, 8));
    const ds = plantedPartition({ nodes: 200, classes: 3, features: 5, seed: 2 });
    const o = reverseCuthillMcKee(ds.numNodes, ds.src, ds.dst);
    const moved = nodeDatasetInOrder(ds, o);
    for (let q = 0; q < ds.numNodes; q++) {
      const v = o.order[q]!;
      expect([...moved.features.subarray(q * 5, q * 5 + 5)]).toEqual([...ds.features.subarray(v * 5, v * 5 + 5)]);
      expect(moved.labels[q]).toBe(ds.labels[v]);
      expect(moved.ids[q]).toBe(ds.ids[v]);
    }
    for (let e = 0; e < ds.src.length; e++)
      expect([moved.src[e], moved.dst[e]]).toEqual([o.rank[ds.src[e]!], o.rank[ds.dst[e]!]]);
    for (const s of ['train', 'val', 'test'] as const)
      expect([...moved.split[s]].map((q) => o.order[q])).toEqual([...ds.split[s]]);
    // A CSR matrix: entry (r, c) = v becomes (rank r, rank c) = v, each row ascending.
    const m = {
      rowPtr: Int32Array.of(0, 2, 3, 5),
      colIdx: Int32Array.of(0, 2, 1, 0, 2),
      vals: Float32Array.of(1, 2, 3, 4, 5),
    };
    const pm = csrInOrder(m, { order, rank });
    expect([...pm.rowPtr]).toEqual([0, 2, 4, 5]);
    expect([...pm.colIdx]).toEqual([0, 1, 0, 1, 2]);
    expect([...pm.vals]).toEqual([5, 4, 2, 1, 3]);
    expect([...csrEdges(m.rowPtr, m.colIdx).src]).toEqual([0, 0, 1, 2, 2]);
  });

  it("chooses RCM for large graphs under 'auto', always under 'rcm', never under 'input'", () => {
    const src = Int32Array.of(0, 1),
      dst = Int32Array.of(1, 2);
    expect(spmmNodeOrder(3, src, dst)).toBeNull();
    expect(spmmNodeOrder(3, src, dst, 'input')).toBeNull();
    expect([...spmmNodeOrder(3, src, dst, 'rcm')!.order]).toEqual([2, 1, 0]);
    const big = RCM_MIN_NODES,
      bs = Int32Array.from({ length: big - 1 }, (_, i) => i),
      bd = bs.map((v) => v + 1);
    expect(spmmNodeOrder(big, bs, bd)).not.toBeNull();
    expect(spmmNodeOrder(big - 1, bs.subarray(0, big - 2), bd.subarray(0, big - 2))).toBeNull();
    expect(() => checkNodeConfig({ ...KIPF_DEFAULTS, nodeOrder: 'sorted' as never })).toThrow(
      /config\.nodeOrder.*'auto', 'rcm' or 'input'/,
    );
  });
});

describe('node training in RCM order', () => {
  const data = (): ReturnType<typeof plantedPartition> =>
    plantedPartition({ nodes: 500, classes: 4, features: 48, seed: 6 });
  // No dropout, so the two orders differ only in the order of each row's sums.
  const cfg: NodeTrainConfig = { ...KIPF_DEFAULTS, dropout: 0, epochs: 25, patience: 0, featureFormat: 'dense' };
  const train = async (
    threads: number,
    config: NodeTrainConfig,
    hooks = {},
  ): Promise<Awaited<ReturnType<typeof trainNodeClassifier>>> => {
    const rt = await Runtime.create({ threads });
    try {
      return await trainNodeClassifier(rt, data(), config, hooks);
    } finally {
      await rt.close();
    }
  };
  const predict = async (
    config: NodeTrainConfig,
    weights: Map<string, Float32Array>,
  ): Promise<Awaited<ReturnType<typeof predictNodes>>> => {
    const rt = await Runtime.create({ threads: 2 });
    try {
      return await predictNodes(rt, data(), config, weights);
    } finally {
      await rt.close();
    }
  };

  it("learns what the user's order learns, returns predictions in the user's order, and keeps its bits at any thread count", async () => {
    const plain = await train(2, { ...cfg, nodeOrder: 'input' });
    const rcm = await train(2, { ...cfg, nodeOrder: 'rcm' });
    const losses = (r: typeof plain): number[] => r.history.map((h) => h.train_loss);
    expect(closeness(losses(rcm), losses(plain), 1e-5, 1e-4)).toBeLessThanOrEqual(1);
    // The same weights scored in either order: the same class scores, row for row in the user's order.
    const a = await predict({ ...cfg, nodeOrder: 'input' }, plain.weights),
      b = await predict({ ...cfg, nodeOrder: 'rcm' }, plain.weights);
    expect(closeness(b.probs, a.probs, 1e-6, 1e-4)).toBeLessThanOrEqual(1);
    expect([...b.pred]).toEqual([...a.pred]);
    // The trainer's predictions are predictNodes' on its weights (both in the user's order).
    expect([...rcm.predictions]).toEqual([...(await predict({ ...cfg, nodeOrder: 'rcm' }, rcm.weights)).pred]);
    const one = await train(1, { ...cfg, nodeOrder: 'rcm', epochs: 8 }),
      three = await train(3, { ...cfg, nodeOrder: 'rcm', epochs: 8 });
    for (const [name, w] of one.weights) expect(bitsEqual(three.weights.get(name)!, w), name).toBe(true);
  });

  it("resumes a checkpoint from before node orders under 'auto', and refuses another order by name", async () => {
    const dir = tempDir('graft-rcm-resume-');
    const ckpt = join(dir, 'c.safetensors');
    const older: NodeTrainConfig = { ...cfg, epochs: 4 }; // no nodeOrder, as configs were before it
    await train(1, older, { checkpointPath: ckpt, stopAfter: 2 });
    expect((await train(1, { ...older, nodeOrder: 'auto' }, { resumeFrom: ckpt })).stoppedEpoch).toBe(4);
    await expect(train(1, { ...older, nodeOrder: 'rcm' }, { resumeFrom: ckpt })).rejects.toThrow(
      /config\.nodeOrder' must be "auto" as in the checkpoint/,
    );
    // And the other way: a run made in RCM order is not resumed in another one by leaving the field out.
    const rcm = join(dir, 'rcm.safetensors');
    await train(1, { ...older, nodeOrder: 'rcm' }, { checkpointPath: rcm, stopAfter: 2 });
    await expect(train(1, older, { resumeFrom: rcm })).rejects.toThrow(
      /config\.nodeOrder' must be "rcm" as in the checkpoint/,
    );
  });

  it('graft train refuses an unknown --node-order by name', () => {
    const r = runGraft([
      'train',
      '--dataset',
      'synthetic',
      '--node-order',
      'sorted',
      '--out',
      join(tempDir('graft-rcm-cli-'), 'run'),
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/--node-order must be .*auto.*rcm.*input.*got "sorted"/);
  });
});
