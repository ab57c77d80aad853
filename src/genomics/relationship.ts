import { DataError, parseTable } from '../data/csv.js';
import { matmul } from '../ops/linalg.js';
import type { Runtime } from '../runtime/runtime.js';
import { Tensor } from '../memory/tensor.js';
import { symmetricEigen } from './symmetric-eigen.js';
import { centreMarkers, type CleanGenotypes } from './qc.js';

/** A dense symmetric n×n matrix over samples (row-major float64) with its sample ids. */
export interface Relationship {
  ids: string[];
  n: number;
  values: Float64Array;
  source: string;
  /** The file it was read from, if any. */
  file?: string;
}

/** Z·Zᵀ for a row-major [n, m] float32 Z, on the engine's GEMM (threads split the rows). */
export async function crossProduct(rt: Runtime, z: Float32Array, n: number, m: number): Promise<Float64Array> {
  const zt = Tensor.from(rt.heap, 'float32', [n, m], z);
  try {
    const g = await matmul(rt.exec, zt, zt, undefined, { transB: true });
    const out = Float64Array.from(g.data() as Float32Array);
    g.free();
    // The GEMM sums (i, j) and (j, i) in the same order, but make the symmetry exact anyway.
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) out[j * n + i] = out[i * n + j]!;
    return out;
  } finally {
    zt.free();
  }
}

/**
 * VanRaden's (2008) first genomic relationship matrix: G = Z·Zᵀ / (2 Σ p_j (1 − p_j)) with
 * Z = M − 2p, the dosages centred by twice the allele frequencies.
 */
export async function vanRadenGrm(rt: Runtime, c: CleanGenotypes): Promise<Relationship> {
  const zz = await crossProduct(rt, centreMarkers(c), c.n, c.m);
  let denom = 0;
  for (const p of c.freq) denom += 2 * p * (1 - p);
  for (let k = 0; k < zz.length; k++) zz[k]! /= denom;
  return { ids: c.ids, n: c.n, values: zz, source: 'VanRaden (2008) GRM from markers' };
}

/**
 * A relationship (kinship) matrix from CSV: a header of sample ids after one leading cell,
 * then one row per sample (id, values) in the same order. It must be square and symmetric.
 */
export function readRelationship(file: string): Relationship {
  const t = parseTable(file);
  const ids = t.header.slice(1);
  const n = ids.length;
  if (t.rows.length !== n)
    throw new DataError(file, 0, `${t.rows.length} rows for ${n} columns: a relationship matrix is square`);
  const values = new Float64Array(n * n);
  t.rows.forEach((row, i) => {
    const line = t.lines[i]!;
    if (row[0] !== ids[i])
      throw new DataError(
        file,
        line,
        `row id '${row[0]}' differs from column ${i + 2}'s id '${ids[i]}': rows and columns must be in the same order`,
      );
    for (let j = 0; j < n; j++) {
      const v = Number(row[j + 1]);
      if (row[j + 1] === '' || !Number.isFinite(v))
        throw new DataError(file, line, `column '${ids[j]}': ${JSON.stringify(row[j + 1])} is not a number`);
      values[i * n + j] = v;
    }
  });
  for (let i = 0; i < n; i++)
    for (let j = 0; j < i; j++) {
      const a = values[i * n + j]!,
        b = values[j * n + i]!;
      if (Math.abs(a - b) > 1e-6 * Math.max(1, Math.abs(a), Math.abs(b)))
        throw new DataError(
          file,
          t.lines[i]!,
          `not symmetric: [${ids[i]}, ${ids[j]}] = ${a} but [${ids[j]}, ${ids[i]}] = ${b}`,
        );
    }
  return { ids, n, values, source: `relationship matrix from ${file}`, file };
}

/** The relationship restricted and reordered to `ids`; an id it lacks is an error. */
export function alignRelationship(r: Relationship, ids: string[]): Relationship {
  const at = new Map(r.ids.map((id, i) => [id, i]));
  const missing = ids.filter((id) => !at.has(id));
  if (missing.length)
    throw new DataError(
      r.file ?? r.source,
      1,
      `${missing.length} genotyped sample(s) are not in the relationship matrix (e.g. ${missing
        .slice(0, 3)
        .map((s) => `'${s}'`)
        .join(', ')})`,
    );
  const n = ids.length,
    idx = ids.map((id) => at.get(id)!);
  const values = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) values[i * n + j] = r.values[idx[i]! * r.n + idx[j]!]!;
  return { ids, n, values, source: r.source, ...(r.file ? { file: r.file } : {}) };
}

/**
 * The top `k` principal components of the samples from their relationship matrix: U_k·sqrt(Λ_k), [n, k].
 * `projection` [n, k] is U_k·Λ_k^(−1/2): a sample's row of the relationship (against these n
 * samples) times it gives that sample's scores, for a sample that was not among them too.
 */
export function principalComponents(
  r: Relationship,
  k: number,
): { scores: Float32Array; k: number; explained: number; projection: Float64Array } {
  const n = r.n,
    e = symmetricEigen(r.values, n);
  const kk = Math.max(1, Math.min(k, n));
  const scores = new Float32Array(n * kk),
    projection = new Float64Array(n * kk);
  let total = 0,
    top = 0;
  for (let q = 0; q < n; q++) total += Math.max(0, e.values[q]!);
  for (let c = 0; c < kk; c++) {
    const q = n - 1 - c,
      lam = Math.max(0, e.values[q]!);
    top += lam;
    const s = Math.sqrt(lam);
    for (let i = 0; i < n; i++) {
      scores[i * kk + c] = e.vectors[q * n + i]! * s;
      projection[i * kk + c] = s > 0 ? e.vectors[q * n + i]! / s : 0;
    }
  }
  return { scores, k: kk, explained: total > 0 ? top / total : 0, projection };
}

/**
 * Rows of a relationship matrix for samples a study never saw (graft predict on a run made
 * from a relationship): a header of column ids after one leading cell, then one row per new
 * sample (id, values). Every id of `study` must be a column; a row's own id as a column
 * gives its diagonal (NaN without it: the Gaussian kernels then refuse).
 */
export function readRelationshipRows(
  file: string,
  study: string[],
): { ids: string[]; rows: Float64Array[]; self: number[] } {
  const t = parseTable(file);
  const cols = t.header.slice(1),
    at = new Map(cols.map((id, j) => [id, j]));
  const missing = study.filter((id) => !at.has(id));
  if (missing.length)
    throw new DataError(
      file,
      1,
      `${missing.length} of the run's ${study.length} samples are not columns (e.g. ${missing
        .slice(0, 3)
        .map((s) => `'${s}'`)
        .join(', ')}): each new sample needs its relationship to every sample of the run`,
    );
  const ids: string[] = [],
    rows: Float64Array[] = [],
    self: number[] = [];
  const seen = new Set<string>();
  t.rows.forEach((row, r) => {
    const line = t.lines[r]!,
      id = row[0]!;
    if (seen.has(id)) throw new DataError(file, line, `sample '${id}' appears twice`);
    seen.add(id);
    const value = (j: number): number => {
      const v = Number(row[j + 1]);
      if (row[j + 1] === undefined || row[j + 1] === '' || !Number.isFinite(v))
        throw new DataError(file, line, `column '${cols[j]}': ${JSON.stringify(row[j + 1] ?? '')} is not a number`);
      return v;
    };
    ids.push(id);
    rows.push(Float64Array.from(study, (s) => value(at.get(s)!)));
    self.push(at.has(id) ? value(at.get(id)!) : NaN);
  });
  if (ids.length === 0) throw new DataError(file, 0, 'no sample rows after the header');
  return { ids, rows, self };
}
