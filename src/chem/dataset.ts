import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DataError, parseTable, readText, type Table } from '../data/csv.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import {
  type AtomFeatureSet,
  atomFeatureCount,
  bondFeatureCount,
  featurizerName,
  MORGAN_BITS,
  featurizeSmiles,
  type MolGraph,
} from './featurize.js';

/**
 * How loadMoleculeCsv reads a molecule CSV: the SMILES and target columns, the task, invalid SMILES and the cache folder.
 */
export interface MoleculeCsvOptions {
  smiles?: string;
  /** Target columns, or 'all' for every column but the SMILES. */
  targets: string[] | 'all';
  task: 'multilabel' | 'regression';
  /** What to do with a SMILES RDKit rejects: drop the row (reported) or stop. */
  invalid?: 'skip' | 'fail';
  /** Folder for featurized data (default .graft-cache in the working directory); null: no cache. */
  cacheDir?: string | null;
  /** Atom (and bond) features: 'graft' (the default) or 'chemprop' (graph/chemprop-features.ts). */
  atomFeatures?: 'graft' | 'chemprop';
}

/**
 * A molecule CSV read and featurized: the kept molecules' SMILES, source lines, graphs and labels, and the rows RDKit rejected.
 */
export interface MoleculeDataset {
  file: string;
  targets: string[];
  smiles: string[];
  /** Source line per kept molecule. */
  lines: number[];
  /** Data row per kept molecule (0-based, the header not counted), for output keyed to the input's rows. */
  rows: number[];
  graphs: MolGraph[];
  /** Labels [molecules, targets], NaN missing. */
  y: Float32Array;
  invalid: { line: number; smiles: string }[];
  fromCache: boolean;
}

/** A file's SMILES column featurized row by row: null where RDKit rejects the SMILES (or it has no atom). */
export interface FeaturizedColumn {
  graphs: (MolGraph | null)[];
  fromCache: boolean;
}

/**
 * Featurizes a table's SMILES column (column `si`) with RDKit, or reads it from the cache
 * (keyed by the file's SHA-256, the column and the feature set's name and version: training
 * and prediction on the same file share it).
 */
export async function featurizeColumn(
  text: string,
  t: Table,
  si: number,
  cacheDir: string | null | undefined,
  atomFeatures: AtomFeatureSet = 'graft',
): Promise<FeaturizedColumn> {
  const version = featurizerName(atomFeatures);
  const key = createHash('sha256').update(text).update(`\0${t.header[si]!}\0${version}`).digest('hex').slice(0, 24);
  const dir = cacheDir === undefined ? join(process.cwd(), '.graft-cache') : cacheDir;
  const cacheFile = dir ? join(dir, `molecules-${key}.json.gz`) : null;
  if (cacheFile && existsSync(cacheFile)) {
    const graphs = decodeGraphs(gunzipSync(readFileSync(cacheFile)).toString('utf8'), atomFeatures);
    if (graphs.length === t.rows.length) return { graphs, fromCache: true };
  }
  const graphs: (MolGraph | null)[] = [];
  for (const r of t.rows) {
    const g = await featurizeSmiles(r[si]!, { atomFeatures });
    graphs.push(g && g.atoms > 0 ? g : null);
  }
  if (cacheFile) {
    mkdirSync(dir!, { recursive: true });
    writeFileAtomic(cacheFile, gzipSync(encodeGraphs(graphs, version)));
  }
  return { graphs, fromCache: false };
}

/**
 * Reads a CSV with a SMILES column and target columns (MoleculeNet's SIDER, Tox21, ClinTox,
 * ToxCast, or any such file). Classification labels must be 0, 1 (or 0.0, 1.0) or empty
 * (missing). Featurized graphs are cached keyed by the file's SHA-256, the columns and the
 * featurizer version, so a second run does not parse SMILES again.
 */
export async function loadMoleculeCsv(file: string, o: MoleculeCsvOptions): Promise<MoleculeDataset> {
  const text = readText(file);
  const t = parseTable(file, text);
  const smilesCol = o.smiles ?? t.header.find((h) => h.toLowerCase() === 'smiles') ?? '';
  const si = t.header.indexOf(smilesCol);
  if (si < 0)
    throw new DataError(
      file,
      1,
      `no SMILES column${o.smiles ? ` '${o.smiles}'` : " (none named 'smiles'; name it with options.smiles)"}; the columns are ${t.header.map((h) => `'${h}'`).join(', ')}`,
    );
  const targets = o.targets === 'all' ? t.header.filter((_, j) => j !== si) : o.targets;
  if (targets.length === 0) throw new DataError(file, 1, 'no target columns');
  const tj = targets.map((name) => {
    const j = t.header.indexOf(name);
    if (j < 0)
      throw new DataError(
        file,
        1,
        `no target column '${name}'; the columns are ${t.header.map((h) => `'${h}'`).join(', ')}`,
      );
    return j;
  });
  if (t.rows.length === 0) throw new DataError(file, 0, 'no rows after the header');
  // Labels first: a bad label is an error before any parsing work.
  const T = targets.length,
    yAll = new Float32Array(t.rows.length * T);
  t.rows.forEach((r, k) => {
    tj.forEach((j, q) => {
      const s = r[j]!;
      let v: number;
      if (s === '' || s === 'NA' || s === 'nan') v = NaN;
      else {
        v = Number(s);
        if (!Number.isFinite(v) || (o.task === 'multilabel' && v !== 0 && v !== 1)) {
          throw new DataError(
            file,
            t.lines[k]!,
            `label '${targets[q]}' is ${JSON.stringify(s)}; ${o.task === 'multilabel' ? 'expected 0, 1 or empty (missing)' : 'expected a number or empty (missing)'}`,
          );
        }
      }
      yAll[k * T + q] = v;
    });
  });
  targets.forEach((name, q) => {
    let present = 0;
    for (let k = 0; k < t.rows.length; k++) if (!Number.isNaN(yAll[k * T + q]!)) present++;
    if (present === 0) throw new DataError(file, 0, `label column '${name}' is missing (empty) in every row`);
  });
  if (t.rows.every((r) => r[si]!.trim() === ''))
    throw new DataError(file, 0, `the SMILES column '${smilesCol}' is empty in every row`);

  const { graphs, fromCache } = await featurizeColumn(text, t, si, o.cacheDir, o.atomFeatures);
  const invalid: MoleculeDataset['invalid'] = [];
  const keep: number[] = [];
  graphs.forEach((g, k) => {
    if (g) keep.push(k);
    else invalid.push({ line: t.lines[k]!, smiles: t.rows[k]![si]! });
  });
  if (invalid.length && o.invalid === 'fail') {
    throw new DataError(
      file,
      invalid[0]!.line,
      `invalid SMILES ${JSON.stringify(invalid[0]!.smiles)} (RDKit cannot parse it)${invalid.length > 1 ? `; ${invalid.length - 1} more invalid row(s)` : ''}`,
    );
  }
  if (keep.length === 0) throw new DataError(file, 0, 'no valid molecule (every SMILES was rejected by RDKit)');
  const y = new Float32Array(keep.length * T);
  keep.forEach((k, i) => {
    y.set(yAll.subarray(k * T, (k + 1) * T), i * T);
  });
  return {
    file,
    targets,
    smiles: keep.map((k) => t.rows[k]![si]!),
    lines: keep.map((k) => t.lines[k]!),
    rows: keep,
    graphs: keep.map((k) => graphs[k]!),
    y,
    invalid,
    fromCache,
  };
}

// The cache: one JSON document of typed arrays as plain arrays (gzip makes it small). Atom
// features are 0/1 but for Chemprop's mass column: `x` lists the ones, `xv` the other nonzeros
// as [index, value] pairs (a float32 survives JSON: its shortest decimal reads back to it).
function encodeGraphs(gs: (MolGraph | null)[], version: string): string {
  return JSON.stringify({
    version,
    graphs: gs.map(
      (g) =>
        g && {
          atoms: g.atoms,
          ...sparseValues(g.x),
          ...(g.bondAttr ? { bondAttr: sparseOnes(g.bondAttr) } : {}),
          src: Array.from(g.src),
          dst: Array.from(g.dst),
          w: Array.from(g.w),
          z: Array.from(g.z),
          inRing: Array.from(g.inRing),
          aromatic: Array.from(g.aromatic),
          morgan: sparseOnes(g.morgan),
          ...(g.similarity ? { similarity: Buffer.from(g.similarity).toString('base64') } : {}),
        },
    ),
  });
}

function sparseValues(a: Float32Array): { x: number[]; xv?: number[] } {
  const x: number[] = [],
    xv: number[] = [];
  for (let i = 0; i < a.length; i++)
    if (a[i] === 1) x.push(i);
    else if (a[i] !== 0) xv.push(i, a[i]!);
  return xv.length ? { x, xv } : { x };
}

function sparseOnes(a: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++)
    if (a[i] !== 0) {
      if (a[i] !== 1) throw new Error('cache: features must be 0/1');
      out.push(i);
    }
  return out;
}

/** A 0/1 vector of length n with ones at `idx` (the inverse of sparseOnes). */
function ones(idx: number[], n: number): Float32Array {
  const a = new Float32Array(n);
  for (const i of idx) a[i] = 1;
  return a;
}

function decodeGraphs(text: string, set: AtomFeatureSet): (MolGraph | null)[] {
  const doc = JSON.parse(text) as {
    version: string;
    graphs: ({
      atoms: number;
      x: number[];
      xv?: number[];
      bondAttr?: number[];
      src: number[];
      dst: number[];
      w: number[];
      z: number[];
      inRing: number[];
      aromatic: number[];
      morgan: number[];
      similarity?: string;
    } | null)[];
  };
  if (doc.version !== featurizerName(set)) return [];
  const F = atomFeatureCount(set),
    B = bondFeatureCount(set);
  return doc.graphs.map((g) => {
    if (!g) return null;
    const x = ones(g.x, g.atoms * F);
    for (let i = 0; i + 1 < (g.xv?.length ?? 0); i += 2) x[g.xv![i]!] = g.xv![i + 1]!;
    return {
      atoms: g.atoms,
      x,
      ...(B && g.bondAttr ? { bondAttr: ones(g.bondAttr, g.src.length * B) } : {}),
      src: Int32Array.from(g.src),
      dst: Int32Array.from(g.dst),
      w: Float32Array.from(g.w),
      z: Int32Array.from(g.z),
      inRing: Uint8Array.from(g.inRing),
      aromatic: Uint8Array.from(g.aromatic),
      morgan: ones(g.morgan, MORGAN_BITS),
      // Caches written before graphs kept it lack the similarity fingerprint: fingerprintOf parses again.
      ...(g.similarity !== undefined ? { similarity: Uint8Array.from(Buffer.from(g.similarity, 'base64')) } : {}),
    };
  });
}
