import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { DataError } from '../data/csv.js';
import { arrayEdges, csrFromEdges } from './csr-build.js';
import { encodeOffsets, offsetsDType, StoreWriter, type StoreHeader } from './format.js';

// OGB's on-disk layout for node property prediction, as `ogb.nodeproppred` leaves it:
//   raw/edge.csv.gz           "src,dst" per line, no header (node indices)
//   raw/node-feat.csv.gz      one line of comma-separated floats per node, in node order
//   raw/node-label.csv.gz     one label per line ("nan" where a node has none)
//   raw/num-node-list.csv.gz  the node count (optional here: counted from node-feat)
//   split/<scheme>/{train,valid,test}.csv.gz   node indices, one per line
// Every file is streamed through node:zlib and readline, never loaded whole; the features go
// straight into the store as they are parsed.

/** Lines of a gzipped text file (a plain file is read as is), numbered from 1. */
export async function* gzLines(file: string): AsyncGenerator<[number, string]> {
  if (!existsSync(file)) throw new DataError(file, 0, 'no such file');
  const raw = createReadStream(file);
  const gz = file.endsWith('.gz');
  const text = gz ? raw.pipe(createGunzip()) : raw;
  let failure: Error | null = null;
  if (gz) raw.on('error', (e: Error) => text.destroy(e));
  text.on('error', (e: Error) => {
    failure = e;
  });
  const rl = createInterface({ input: text, crlfDelay: Infinity });
  let no = 0;
  try {
    for await (const line of rl) yield [++no, line];
  } catch (err) {
    failure ??= err as Error;
  } finally {
    rl.close();
    raw.destroy();
  }
  if (failure)
    throw new DataError(
      file,
      0,
      `${gz ? 'not valid gzip' : 'cannot read'} after line ${no}: ${(failure as Error).message}`,
    );
}

/** A growable Int32Array (edge lists of unknown length). */
class IntList {
  data = new Int32Array(1 << 16);
  length = 0;
  push(x: number): void {
    if (this.length === this.data.length) {
      const d = new Int32Array(this.data.length * 2);
      d.set(this.data);
      this.data = d;
    }
    this.data[this.length++] = x;
  }
  view(): Int32Array {
    return this.data.subarray(0, this.length);
  }
}

const INDEX = /^\s*(\d+)\s*$/;

/** A file of one node index per line (a split). */
async function readIndexFile(file: string, n: number): Promise<Int32Array> {
  const out = new IntList();
  for await (const [no, line] of gzLines(file)) {
    if (line.trim() === '') continue;
    const m = INDEX.exec(line);
    const v = m ? Number(m[1]) : NaN;
    if (!(v < n)) throw new DataError(file, no, `${JSON.stringify(line)} is not a node index in [0, ${n})`);
    out.push(v);
  }
  return out.view().slice();
}

/** The split schemes under DIR/split (one folder each). */
export function ogbSplitSchemes(dir: string): string[] {
  const s = join(dir, 'split');
  return existsSync(s)
    ? readdirSync(s)
        .filter((d) => statSync(join(s, d)).isDirectory())
        .sort()
    : [];
}

/** How an OGB node-property folder is read: the split scheme (when there are several), whether to keep edges directed, and where features are read from. */
export interface OgbPrepareOptions {
  /** The folder under split/ (default: the only one there). */
  splitScheme?: string;
  /** Make every edge two-way (default true: Graft's GCNs read graphs as undirected, as OGB's PyG examples do). */
  symmetric?: boolean;
  name?: string;
}

/**
 * Builds a store from an OGB node-property-prediction folder (the one holding raw/ and
 * split/, e.g. dataset/ogbn_products). Memory: the edge list and the CSR (about 16 bytes per
 * edge); the features never are in memory whole.
 *
 * @example
 *   await prepareOgb('dataset/ogbn_products', 'products.graftstore');
 */
export async function prepareOgb(dir: string, out: string, opts: OgbPrepareOptions = {}): Promise<StoreHeader> {
  const raw = (f: string): string => join(dir, 'raw', f);
  if (!existsSync(join(dir, 'raw')))
    throw new DataError(
      dir,
      0,
      'not an OGB node-property-prediction folder (no raw/ inside; give the folder that holds raw/ and split/)',
    );
  const schemes = ogbSplitSchemes(dir);
  const scheme = opts.splitScheme ?? (schemes.length === 1 ? schemes[0]! : undefined);
  if (scheme === undefined) {
    throw new DataError(
      join(dir, 'split'),
      0,
      schemes.length === 0
        ? 'no split scheme folder (expected split/<scheme>/train.csv.gz)'
        : `several split schemes (${schemes.join(', ')}): name one (the split scheme option)`,
    );
  }
  let declared: number | null = null;
  if (existsSync(raw('num-node-list.csv.gz'))) {
    for await (const [no, line] of gzLines(raw('num-node-list.csv.gz'))) {
      if (line.trim() === '') continue;
      const m = INDEX.exec(line);
      if (!m || declared !== null)
        throw new DataError(
          raw('num-node-list.csv.gz'),
          no,
          `expected one node count (a single graph), got ${JSON.stringify(line)}`,
        );
      declared = Number(m[1]);
    }
  }

  const w = new StoreWriter(out);
  try {
    // Features first, streamed into the store in blocks of rows as they are parsed.
    const featFile = raw('node-feat.csv.gz');
    if (!existsSync(featFile)) throw new DataError(featFile, 0, 'no such file (Graft needs node features)');
    w.begin('features', 'float32');
    let f = -1,
      rows = 0,
      block = new Float32Array(0),
      inBlock = 0;
    const BLOCK_ROWS = 8192;
    for await (const [no, line] of gzLines(featFile)) {
      if (line.trim() === '') continue;
      const cells = line.split(',');
      if (f < 0) {
        f = cells.length;
        block = new Float32Array(BLOCK_ROWS * f);
      }
      if (cells.length !== f) throw new DataError(featFile, no, `${cells.length} values, line 1 has ${f}`);
      const at = inBlock * f;
      for (let j = 0; j < f; j++) {
        const x = Number(cells[j]);
        if (cells[j]!.trim() === '' || !Number.isFinite(x))
          throw new DataError(featFile, no, `value ${j + 1} is ${JSON.stringify(cells[j])}, not a finite number`);
        block[at + j] = x;
      }
      rows++;
      if (++inBlock === BLOCK_ROWS) {
        w.write(block);
        inBlock = 0;
      }
    }
    if (inBlock > 0) w.write(block.subarray(0, inBlock * f));
    if (rows === 0) throw new DataError(featFile, 0, 'no rows');
    if (declared !== null && declared !== rows)
      throw new DataError(featFile, 0, `${rows} rows, raw/num-node-list.csv.gz says ${declared} nodes`);
    const n = rows;
    w.end([n, f]);

    const labelFile = raw('node-label.csv.gz');
    const labels = new Int32Array(n).fill(-1);
    let seen = 0,
      numClasses = 0;
    for await (const [no, line] of gzLines(labelFile)) {
      if (line.trim() === '' && seen >= n) continue;
      if (line.includes(','))
        throw new DataError(
          labelFile,
          no,
          'several labels per node (a multi-task set such as ogbn-proteins): Graft classifies one label per node',
        );
      if (seen >= n) throw new DataError(labelFile, no, `more labels than the ${n} nodes`);
      const t = line.trim();
      if (t !== '' && t.toLowerCase() !== 'nan') {
        const c = Number(t);
        if (!Number.isInteger(c) || c < 0)
          throw new DataError(
            labelFile,
            no,
            `label ${JSON.stringify(t)} is not a class index (a non-negative integer, or nan)`,
          );
        labels[seen] = c;
        numClasses = Math.max(numClasses, c + 1);
      }
      seen++;
    }
    if (seen !== n) throw new DataError(labelFile, 0, `${seen} labels for ${n} nodes`);
    w.array('labels', 'int32', labels);

    const edgeFile = raw('edge.csv.gz');
    const src = new IntList(),
      dst = new IntList();
    for await (const [no, line] of gzLines(edgeFile)) {
      if (line.trim() === '') continue;
      const comma = line.indexOf(',');
      const a = comma > 0 ? Number(line.slice(0, comma)) : NaN,
        b = comma > 0 ? Number(line.slice(comma + 1)) : NaN;
      if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0 && a < n && b < n))
        throw new DataError(
          edgeFile,
          no,
          `${JSON.stringify(line)} is not an edge "src,dst" of node indices in [0, ${n})`,
        );
      src.push(a);
      dst.push(b);
    }
    const symmetric = opts.symmetric ?? true;
    const csr = csrFromEdges(n, arrayEdges(src.view(), dst.view()), { symmetric });
    const od = offsetsDType(csr.colIdx.length);
    w.array('rowPtr', od, encodeOffsets(csr.rowPtr, od), [n + 1]);
    w.array('colIdx', 'int32', csr.colIdx);

    const splitDir = join(dir, 'split', scheme);
    const split: Record<string, Int32Array> = {};
    for (const [key, file] of [
      ['train', 'train'],
      ['val', 'valid'],
      ['test', 'test'],
    ] as const) {
      const path = join(splitDir, `${file}.csv.gz`);
      const idx = await readIndexFile(path, n);
      for (let i = 0; i < idx.length; i++)
        if (labels[idx[i]!]! < 0) throw new DataError(path, i + 1, `node ${idx[i]} has no label`);
      split[key] = idx;
      w.array(key, 'int32', idx);
    }
    return w.finish({
      name: opts.name ?? basename(dir),
      numNodes: n,
      numEdges: csr.colIdx.length,
      numFeatures: f,
      numClasses,
      symmetric,
      metadata: {
        source: 'ogb',
        folder: dir,
        splitScheme: scheme,
        inputEdges: src.length,
        droppedSelfLoops: csr.dropped.selfLoops,
        droppedDuplicates: csr.dropped.duplicates,
      },
    });
  } catch (err) {
    w.abort();
    throw err;
  }
}
