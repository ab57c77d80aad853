import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GraphStore } from '../src/store/format.js';
import { prepareCsv } from '../src/store/from-csv.js';
import { prepareOgb } from '../src/store/ogb.js';
import { rng, runGraftAsync, tempDir } from './helpers.js';

// graft prepare: a store built from OGB's on-disk layout (a fixture this test writes in that
// layout, gzipped) and from Graft's node CSVs holds exactly the arrays of its inputs.

interface Fixture {
  dir: string;
  n: number;
  f: number;
  feats: number[][];
  labels: (number | null)[];
  edges: [number, number][];
  split: Record<'train' | 'valid' | 'test', number[]>;
}

/** An OGB node-property-prediction folder: raw/*.csv.gz and split/<scheme>/*.csv.gz. */
function ogbFixture(opts: { scheme?: string; edit?: (files: Record<string, string>) => void } = {}): Fixture {
  const dir = tempDir('ogb-'),
    r = rng(4),
    n = 23,
    f = 4;
  const feats = Array.from({ length: n }, () => Array.from({ length: f }, () => Math.round((r() * 2 - 1) * 1e4) / 1e4));
  const labels = Array.from({ length: n }, (_, i) => (i === 5 ? null : Math.floor(r() * 3)));
  const edges: [number, number][] = Array.from({ length: 40 }, () => [Math.floor(r() * n), Math.floor(r() * n)]);
  edges.push([2, 3], [3, 2], [7, 7]); // a pair given both ways, and a self-loop
  const split = { train: [0, 1, 2, 3, 4, 6, 7, 8], valid: [9, 10, 11], test: [12, 13, 14, 20, 22] };
  const files: Record<string, string> = {
    'raw/edge.csv.gz': `${edges.map((e) => e.join(',')).join('\n')}\n`,
    'raw/node-feat.csv.gz': `${feats.map((row) => row.join(',')).join('\n')}\n`,
    'raw/node-label.csv.gz': `${labels.map((l) => (l === null ? 'nan' : String(l))).join('\n')}\n`,
    'raw/num-node-list.csv.gz': `${n}\n`,
  };
  for (const [k, v] of Object.entries(split))
    files[`split/${opts.scheme ?? 'sales_ranking'}/${k}.csv.gz`] = `${v.join('\n')}\n`;
  opts.edit?.(files);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), gzipSync(text));
  }
  return { dir, n, f, feats, labels, edges, split };
}

/** The symmetric adjacency, brute force: row v = sorted distinct neighbours, no self-loops. */
function adjacency(n: number, edges: [number, number][], symmetric = true): number[][] {
  const rows = Array.from({ length: n }, () => new Set<number>());
  for (const [a, b] of edges)
    if (a !== b) {
      rows[b]!.add(a);
      if (symmetric) rows[a]!.add(b);
    }
  return rows.map((s) => [...s].sort((x, y) => x - y));
}

function rowsOf(s: GraphStore): number[][] {
  return Array.from({ length: s.numNodes }, (_, v) => Array.from(s.colIdx.subarray(s.rowPtr[v]!, s.rowPtr[v + 1]!)));
}

describe('graft prepare --from ogb', () => {
  it('holds every array of the OGB folder: features, labels (nan → -1), symmetric CSR, the three splits', async () => {
    const fx = ogbFixture();
    const out = join(tempDir('out-'), 'fx.graftstore');
    const h = await prepareOgb(fx.dir, out);
    expect(h.metadata).toMatchObject({
      source: 'ogb',
      splitScheme: 'sales_ranking',
      inputEdges: 43,
      droppedSelfLoops: 1,
    });
    for (const source of ['memory', 'file'] as const) {
      const s = GraphStore.open(out, { features: source });
      expect([s.numNodes, s.numFeatures, s.numClasses, s.header.symmetric]).toEqual([
        fx.n,
        fx.f,
        Math.max(...fx.labels.map((l) => l ?? -1)) + 1,
        true,
      ]);
      expect(Array.from(s.gatherFeatures(Int32Array.from({ length: fx.n }, (_, i) => i)))).toEqual(
        Array.from(Float32Array.from(fx.feats.flat())),
      );
      expect(Array.from(s.labels)).toEqual(fx.labels.map((l) => l ?? -1));
      expect(rowsOf(s)).toEqual(adjacency(fx.n, fx.edges));
      expect([Array.from(s.split.train), Array.from(s.split.val), Array.from(s.split.test)]).toEqual([
        fx.split.train,
        fx.split.valid,
        fx.split.test,
      ]);
      s.close();
    }
    const directed = join(tempDir('out-'), 'd.graftstore');
    await prepareOgb(fx.dir, directed, { symmetric: false });
    expect(rowsOf(GraphStore.open(directed))).toEqual(adjacency(fx.n, fx.edges, false));
  });

  it('refuses bad input with the file and line, and leaves no store behind', async () => {
    const cases: [Parameters<typeof ogbFixture>[0], RegExp][] = [
      [
        {
          edit: (f) => {
            f['raw/edge.csv.gz'] = '0,1\n1,99\n';
          },
        },
        /raw\/edge\.csv\.gz:2: "1,99" is not an edge "src,dst" of node indices in \[0, 23\)/,
      ],
      [
        {
          edit: (f) => {
            f['raw/node-feat.csv.gz'] = '1,2,3,4\n1,2,x,4\n';
          },
        },
        /raw\/node-feat\.csv\.gz:2: value 3 is "x", not a finite number/,
      ],
      [
        {
          edit: (f) => {
            f['raw/node-feat.csv.gz'] = '1,2,3,4\n1,2,3\n';
          },
        },
        /raw\/node-feat\.csv\.gz:2: 3 values, line 1 has 4/,
      ],
      [
        {
          edit: (f) => {
            f['raw/node-label.csv.gz'] = '0,1\n';
          },
        },
        /node-label\.csv\.gz:1: several labels per node/,
      ],
      [
        {
          edit: (f) => {
            f['split/sales_ranking/valid.csv.gz'] = '9\n5\n';
          },
        },
        /valid\.csv\.gz:2: node 5 has no label/,
      ],
      [
        {
          edit: (f) => {
            f['split/sales_ranking/test.csv.gz'] = '12\n23\n';
          },
        },
        /test\.csv\.gz:2: "23" is not a node index in \[0, 23\)/,
      ],
      [
        {
          edit: (f) => {
            f['raw/num-node-list.csv.gz'] = '24\n';
          },
        },
        /node-feat\.csv\.gz: 23 rows, raw\/num-node-list\.csv\.gz says 24 nodes/,
      ],
      [
        {
          edit: (f) => {
            f['split/other/train.csv.gz'] = '0\n';
          },
        },
        /split: several split schemes \(other, sales_ranking\): name one \(the split scheme option\)/,
      ],
    ];
    for (const [opts, msg] of cases) {
      const fx = ogbFixture(opts),
        outDir = tempDir('out-');
      await expect(prepareOgb(fx.dir, join(outDir, 'x.graftstore'))).rejects.toThrow(msg);
      expect(readdirSync(outDir)).toEqual([]);
    }
    // A damaged gzip stream is named too.
    const fx = ogbFixture();
    writeFileSync(join(fx.dir, 'raw', 'edge.csv.gz'), Buffer.concat([gzipSync('0,1\n'.repeat(1000)).subarray(0, 30)]));
    await expect(prepareOgb(fx.dir, join(tempDir('out-'), 'x.graftstore'))).rejects.toThrow(
      /raw\/edge\.csv\.gz: not valid gzip after line \d+: unexpected end of file/,
    );
  });

  it('the CLI builds the same store and prints its shape; bad flags are one line', async () => {
    const fx = ogbFixture({ scheme: 'time' });
    const out = join(tempDir('cli-'), 'fx.graftstore');
    const r = await runGraftAsync(['prepare', '--from', 'ogb', '--in', fx.dir, '--out', out]);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({
      out,
      nodes: 23,
      features: 4,
      train: 8,
      val: 3,
      test: 5,
      adjacency_entries: GraphStore.open(out).numEdges,
    });
    const bad = await runGraftAsync(['prepare', '--from', 'parquet', '--in', fx.dir, '--out', out]);
    expect([bad.status, bad.stderr.trim()]).toEqual([
      2,
      `graft prepare: --from must be 'csv' or 'ogb' (or use --synthetic), got "parquet"`,
    ]);
  });
});

describe('graft prepare --from csv', () => {
  it('keeps ids, class names, the given split and the edges (by id) as a symmetric CSR', () => {
    const dir = tempDir('csv-');
    writeFileSync(join(dir, 'features.csv'), 'id,a,b\nx,1,2\ny,3,4\nz,5,6\nw,7,8\n');
    writeFileSync(join(dir, 'edges.csv'), 'source,target\nx,y\ny,z\nz,x\nw,w\n');
    writeFileSync(join(dir, 'labels.csv'), 'id,label,split\nx,cat,train\ny,dog,val\nz,cat,test\nw,,\n');
    const out = join(dir, 'g.graftstore');
    prepareCsv(
      { features: join(dir, 'features.csv'), edges: join(dir, 'edges.csv'), labels: join(dir, 'labels.csv') },
      out,
    );
    const s = GraphStore.open(out);
    expect([0, 1, 2, 3].map((i) => s.id(i))).toEqual(['x', 'y', 'z', 'w']);
    expect(Array.from(s.features!)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(Array.from(s.labels)).toEqual([0, 1, 0, -1]);
    expect(s.header.metadata['classNames']).toEqual(['cat', 'dog']);
    expect(rowsOf(s)).toEqual([[1, 2], [0, 2], [0, 1], []]);
    expect([Array.from(s.split.train), Array.from(s.split.val), Array.from(s.split.test)]).toEqual([[0], [1], [2]]);
  });
});
