import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { arrayEdges, csrFromEdges } from '../src/store/csr-build.js';
import { GraphStore, readStoreHeader, writeStore, type StoreContents } from '../src/store/format.js';
import { ensureSyntheticStore, writeSyntheticStore } from '../src/store/synthetic.js';
import { rng, tempDir } from './helpers.js';

// The graph store: what is written is what is read (both feature sources, int32 and int64
// offsets, ids), a damaged or truncated file is refused with its name, the CSR builder agrees
// with a set of edge pairs, and the streaming synthetic generator makes the graph it says.

/** A random graph's contents (CSR from a brute-force set of pairs, rows sorted). */
function randomGraph(n: number, m: number, f: number, seed: number): StoreContents & { pairs: Set<string> } {
  const r = rng(seed),
    pairs = new Set<string>();
  for (let e = 0; e < m; e++) {
    const a = Math.floor(r() * n),
      b = Math.floor(r() * n);
    if (a !== b) {
      pairs.add(`${b},${a}`);
      pairs.add(`${a},${b}`);
    }
  }
  const rows = Array.from({ length: n }, () => [] as number[]);
  for (const p of pairs) {
    const [b, a] = p.split(',').map(Number);
    rows[b!]!.push(a!);
  }
  rows.forEach((r) => {
    r.sort((x, y) => x - y);
  });
  const rowPtr = [0];
  rows.forEach((r) => {
    rowPtr.push(rowPtr.at(-1)! + r.length);
  });
  return {
    name: 'rand',
    numClasses: 3,
    numFeatures: f,
    rowPtr,
    colIdx: Int32Array.from(rows.flat()),
    features: Float32Array.from({ length: n * f }, () => r() * 2 - 1),
    labels: Int32Array.from({ length: n }, (_, i) => (i % 4 === 3 ? -1 : i % 3)),
    split: { train: Int32Array.of(0, 1, 2), val: Int32Array.of(4), test: Int32Array.of(5, 6) },
    symmetric: true,
    ids: Array.from({ length: n }, (_, i) => `node-${i}-é`),
    metadata: { note: 'test' },
    pairs,
  };
}

describe('graph store format', () => {
  it('round-trips every array, with features in memory and read from the file, int32 and int64 offsets', () => {
    const dir = tempDir('store-');
    const g = randomGraph(37, 90, 5, 1);
    for (const offsets of ['int32', 'int64'] as const) {
      const file = join(dir, `g-${offsets}.graftstore`);
      writeStore(file, g, { offsets });
      expect(readStoreHeader(file).arrays['rowPtr']!.dtype).toBe(offsets);
      for (const source of ['memory', 'file'] as const) {
        const s = GraphStore.open(file, { features: source });
        expect([s.numNodes, s.numEdges, s.numFeatures, s.numClasses]).toEqual([37, g.colIdx.length, 5, 3]);
        expect(Array.from(s.rowPtr)).toEqual(g.rowPtr);
        expect(s.colIdx).toEqual(g.colIdx);
        expect(s.labels).toEqual(g.labels);
        expect(s.split).toEqual(g.split);
        expect(Array.from({ length: 37 }, (_, i) => s.id(i))).toEqual(g.ids);
        expect(s.header.metadata).toEqual({ note: 'test' });
        expect(s.features === null).toBe(source === 'file');
        // Gathered rows against slices of the source features: runs, repeats, reversed order.
        const nodes = Int32Array.of(3, 4, 5, 36, 0, 0, 10, 9);
        const want = Float32Array.from(
          Array.from(nodes).flatMap((v) => Array.from(g.features.subarray(v * 5, v * 5 + 5))),
        );
        expect(s.gatherFeatures(nodes)).toEqual(want);
        expect(s.gatherFeatures(Int32Array.from({ length: 37 }, (_, i) => i))).toEqual(g.features);
        expect(() => s.gatherFeatures([37])).toThrow(/nodes\[0\] = 37 is not a node index in \[0, 37\)/);
        s.close();
      }
    }
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('gathers from the file in windows: small windows, gaps, repeats and any order give the rows in memory', () => {
    const file = join(tempDir('store-'), 'g.graftstore');
    const g = randomGraph(500, 100, 7, 5);
    writeStore(file, g);
    const r = rng(6),
      mem = GraphStore.open(file);
    for (const windowBytes of [1, 28, 280, 4000, 1 << 20]) {
      const s = GraphStore.open(file, { features: 'file', windowBytes });
      for (const count of [1, 3, 50, 400]) {
        const nodes = Int32Array.from({ length: count }, () => Math.floor(r() * 500));
        expect(s.gatherFeatures(nodes), `window ${windowBytes}, ${count} rows`).toEqual(mem.gatherFeatures(nodes));
      }
      s.close();
    }
  });

  it('a store without ids names nodes by index; an empty split and an isolated node are kept', () => {
    const file = join(tempDir('store-'), 'g.graftstore');
    writeStore(file, {
      name: 'tiny',
      numClasses: 2,
      numFeatures: 1,
      rowPtr: [0, 1, 2, 2],
      colIdx: Int32Array.of(1, 0),
      features: Float32Array.of(1, 2, 3),
      labels: Int32Array.of(0, 1, -1),
      split: { train: Int32Array.of(0), val: Int32Array.of(1), test: new Int32Array(0) },
      symmetric: true,
    });
    const s = GraphStore.open(file);
    expect([s.id(2), s.degree(2), s.split.test.length]).toEqual(['2', 0, 0]);
  });

  it('refuses truncated, foreign and damaged files with one line naming the file', () => {
    const dir = tempDir('store-');
    const good = join(dir, 'good.graftstore');
    const h = writeStore(good, randomGraph(20, 40, 3, 2));
    const bytes = readFileSync(good);
    const variant = (name: string, b: Buffer): string => {
      const f = join(dir, name);
      writeFileSync(f, b);
      return f;
    };
    const cases: [string, RegExp][] = [
      [
        variant('short.graftstore', bytes.subarray(0, bytes.length - 1)),
        /short\.graftstore: truncated: the header says \d+ bytes, the file has \d+/,
      ],
      [variant('stub.graftstore', bytes.subarray(0, 100)), /stub\.graftstore: truncated: the header is 65536 bytes/],
      [variant('tiny.graftstore', bytes.subarray(0, 5)), /tiny\.graftstore: not a graph store/],
      [
        variant('csv.graftstore', Buffer.from('id,x\n1,2\n'.repeat(10))),
        /csv\.graftstore: not a graph store \(no GRAFTSTR magic/,
      ],
      [
        variant('long.graftstore', Buffer.concat([bytes, Buffer.of(0)])),
        /long\.graftstore: damaged: 1 bytes more than/,
      ],
      [join(dir, 'missing.graftstore'), /missing\.graftstore: cannot open: ENOENT/],
    ];
    // A damaged header, a newer version, and array contents out of range.
    const header = (edit: (s: string) => string): Buffer => {
      const b = Buffer.from(bytes),
        text = b.toString('utf8', 16, 16 + 65536);
      const changed = Buffer.from(edit(text.trimEnd()).padEnd(65536, ' '));
      expect(changed.length).toBe(65536);
      changed.copy(b, 16);
      return b;
    };
    cases.push([
      variant(
        'json.graftstore',
        header((s) => s.replace('{', '[')),
      ),
      /json\.graftstore: damaged header \(not JSON/,
    ]);
    cases.push([
      variant(
        'v9.graftstore',
        header((s) => s.replace('"version":1', '"version":9')),
      ),
      /v9\.graftstore: format version 9; this Graft reads version 1/,
    ]);
    const colAt = h.arrays['colIdx']!.offset,
      labAt = h.arrays['labels']!.offset,
      ptrAt = h.arrays['rowPtr']!.offset;
    const poke = (at: number, v: number): Buffer => {
      const b = Buffer.from(bytes);
      b.writeInt32LE(v, at);
      return b;
    };
    cases.push([
      variant('col.graftstore', poke(colAt + 8, 20)),
      /col\.graftstore: damaged: colIdx\[2\] = 20 is not a node index in \[0, 20\)/,
    ]);
    cases.push([
      variant('lab.graftstore', poke(labAt + 4, 7)),
      /lab\.graftstore: damaged: labels\[1\] = 7 is not a class/,
    ]);
    cases.push([
      variant('ptr.graftstore', poke(ptrAt + 8, 1 << 20)),
      /ptr\.graftstore: damaged: rowPtr decreases at node 2/,
    ]);
    for (const [file, msg] of cases) expect(() => GraphStore.open(file), file).toThrow(msg);
    expect(GraphStore.open(good).numNodes).toBe(20); // the good one still opens
  });

  it('a failed write leaves nothing behind (the temp file is removed)', () => {
    const dir = tempDir('store-');
    const g = randomGraph(10, 20, 2, 3);
    expect(() => writeStore(join(dir, 'x.graftstore'), { ...g, features: new Float32Array(3) })).toThrow(
      /features hold 3 floats/,
    );
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('csrFromEdges', () => {
  it('agrees with a set of (target, source) pairs: symmetric or directed, no self-loops, no repeats, rows sorted', () => {
    const r = rng(9),
      n = 17,
      m = 120;
    const src = Int32Array.from({ length: m }, () => Math.floor(r() * n)),
      dst = Int32Array.from({ length: m }, () => Math.floor(r() * n));
    for (const symmetric of [true, false]) {
      const want = new Set<string>();
      for (let e = 0; e < m; e++)
        if (src[e] !== dst[e]) {
          want.add(`${dst[e]},${src[e]}`);
          if (symmetric) want.add(`${src[e]},${dst[e]}`);
        }
      const csr = csrFromEdges(n, arrayEdges(src, dst), { symmetric });
      const got: string[] = [];
      for (let v = 0; v < n; v++) {
        const row = Array.from(csr.colIdx.subarray(csr.rowPtr[v]!, csr.rowPtr[v + 1]!));
        expect(row).toEqual([...row].sort((a, b) => a - b));
        row.forEach((u) => {
          got.push(`${v},${u}`);
        });
      }
      expect(got.length).toBe(new Set(got).size);
      expect(new Set(got)).toEqual(want);
      const loops = Array.from(src).filter((a, e) => a === dst[e]).length;
      expect(csr.dropped.selfLoops).toBe(loops);
      expect(csr.dropped.duplicates).toBe((m - loops) * (symmetric ? 2 : 1) - want.size);
    }
  });
});

describe('synthetic stores', () => {
  const shape = {
    nodes: 3000,
    edges: 12_000,
    features: 24,
    classes: 6,
    split: [300, 200, 1000] as [number, number, number],
  };

  it('generates the planted partition it describes: shape, split, homophily, features tied to classes', () => {
    const file = join(tempDir('synth-'), 's.graftstore');
    writeSyntheticStore(file, shape, { seed: 3 });
    const s = GraphStore.open(file);
    expect([s.numNodes, s.numFeatures, s.numClasses]).toEqual([3000, 24, 6]);
    expect(Array.from(s.labels.subarray(0, 8))).toEqual([0, 1, 2, 3, 4, 5, 0, 1]);
    expect([s.split.train.length, s.split.val.length, s.split.test.length]).toEqual([300, 200, 1000]);
    expect(new Set([...s.split.train, ...s.split.val, ...s.split.test]).size).toBe(1500);
    // 12,000 drawn pairs, each stored both ways, less self-loops and the few repeats.
    const meta = s.header.metadata as { droppedSelfLoops: number; droppedDuplicates: number };
    expect(s.numEdges).toBe(2 * (12_000 - meta.droppedSelfLoops) - meta.droppedDuplicates);
    expect(meta.droppedDuplicates).toBeLessThan(200);
    let loops = 0;
    for (let v = 0; v < 3000; v++) for (let p = s.rowPtr[v]!; p < s.rowPtr[v + 1]!; p++) if (s.colIdx[p] === v) loops++;
    expect(loops).toBe(0);
    // Homophily: an edge stays in its class with probability pSame + (1 - pSame)/k, ratio 12, k 6.
    let same = 0;
    for (let v = 0; v < 3000; v++)
      for (let p = s.rowPtr[v]!; p < s.rowPtr[v + 1]!; p++) if (s.labels[s.colIdx[p]!] === s.labels[v]) same++;
    const pSame = 12 / 17,
      expected = pSame + (1 - pSame) / 6;
    expect(Math.abs(same / s.numEdges - expected)).toBeLessThan(0.02);
    // Features: a class's mean row is high on its signature features, low elsewhere.
    const x = s.features!,
      mean = new Float64Array(24);
    for (let v = 0; v < 3000; v += 6) for (let j = 0; j < 24; j++) mean[j]! += x[v * 24 + j]! / 500;
    for (const m of mean) expect(Math.abs(m - 0.35) < 0.08 || Math.abs(m - 0.04) < 0.03).toBe(true);
  });

  it('is deterministic in the seed (byte-identical files) and differs across seeds', () => {
    const dir = tempDir('synth-');
    for (const [name, seed] of [
      ['a', 5],
      ['b', 5],
      ['c', 6],
    ] as const)
      writeSyntheticStore(join(dir, `${name}.graftstore`), shape, { seed });
    const read = (n: string): Buffer => readFileSync(join(dir, `${n}.graftstore`));
    expect(read('a').equals(read('b'))).toBe(true);
    expect(read('a').equals(read('c'))).toBe(false);
  });

  it('ensureSyntheticStore caches by name and seed, and names a damaged cache file', () => {
    const dir = tempDir('cache-');
    expect(() => ensureSyntheticStore('citeseer', { cacheDir: dir })).toThrow(/one of products, arxiv, got "citeseer"/);
    // The cache path is the contract; a damaged file there is refused, not regenerated.
    const file = join(dir, 'synthetic-arxiv-v1-s7.graftstore');
    writeFileSync(file, 'GRAFTSTR');
    expect(() => ensureSyntheticStore('arxiv', { cacheDir: dir })).toThrow(
      /synthetic-arxiv-v1-s7\.graftstore: not a graph store .*delete it to regenerate/,
    );
  });
});
