import { DataError, readText } from './csv.js';
import type { GenotypeMatrix } from './genotype-matrix.js';
import { readVcf } from './vcf.js';

export type { GenotypeMatrix } from './genotype-matrix.js';

const MISSING = new Set(['', 'NA', 'na', 'NaN', '.', './.', '.|.', '-9']);

/** Reads genotypes from VCF / VCF.gz (by name or content) or from a CSV/TSV matrix, gzip or not. */
export async function readGenotypes(file: string): Promise<GenotypeMatrix> {
  const text = readText(file);
  if (/\.vcf(\.gz|\.bgz)?$/i.test(file) || text.startsWith('##fileformat=VCF')) return readVcf(file, text);
  return parseGenotypeTable(file, text);
}

/**
 * A genotype matrix as CSV or TSV: a header row (sample-id column, then one column per marker),
 * then one row per sample with 0/1/2 (or 0/1) and NA (or empty, '.') for missing. Errors name
 * the file, line and marker.
 */
export function parseGenotypeTable(file: string, text: string): GenotypeMatrix {
  const lines = text.split('\n');
  let first = 0;
  while (first < lines.length && lines[first]!.trim() === '') first++;
  if (first >= lines.length) throw new DataError(file, 0, 'the file is empty');
  const head = lines[first]!.replace(/\r$/, '');
  const delim = head.includes('\t') ? '\t' : head.includes(',') ? ',' : head.includes(';') ? ';' : ' ';
  const unquote = (s: string): string => {
    const t = s.trim();
    return t.length >= 2 && t[0] === '"' && t[t.length - 1] === '"' ? t.slice(1, -1) : t;
  };
  const header = head.split(delim).map(unquote);
  const m = header.length - 1;
  if (m < 1)
    throw new DataError(
      file,
      first + 1,
      `the header has ${header.length} column(s); expected a sample-id column and at least one marker column`,
    );
  const markers = header.slice(1);
  const seenMarker = new Map<string, number>();
  markers.forEach((mk, j) => {
    if (seenMarker.has(mk))
      throw new DataError(
        file,
        first + 1,
        `marker '${mk}' appears twice (columns ${seenMarker.get(mk)! + 2} and ${j + 2})`,
      );
    seenMarker.set(mk, j);
  });
  const rows: { id: string; line: number; start: number }[] = [];
  let dosage = new Float32Array(Math.max(1, lines.length - first - 1) * m);
  const seenId = new Map<string, number>();
  for (let li = first + 1; li < lines.length; li++) {
    const raw = lines[li]!;
    if (raw.trim() === '') continue;
    const f = raw.replace(/\r$/, '').split(delim);
    const lineNo = li + 1;
    if (f.length !== header.length)
      throw new DataError(file, lineNo, `${f.length} fields, but the header has ${header.length} (a ragged row)`);
    const id = unquote(f[0]!);
    if (id === '') throw new DataError(file, lineNo, 'empty sample id');
    const prev = seenId.get(id);
    if (prev !== undefined) throw new DataError(file, lineNo, `sample '${id}' appears twice (also on line ${prev})`);
    seenId.set(id, lineNo);
    const base = rows.length * m;
    for (let j = 0; j < m; j++) {
      const s = f[j + 1]!;
      // Fast path for the one-character codes that make up almost every cell.
      if (s.length === 1) {
        const c = s.charCodeAt(0) - 48;
        if (c >= 0 && c <= 2) {
          dosage[base + j] = c;
          continue;
        }
      }
      const t = unquote(s);
      if (MISSING.has(t)) {
        dosage[base + j] = NaN;
        continue;
      }
      const v = Number(t);
      if (!Number.isFinite(v) || v < 0 || v > 2) {
        throw new DataError(
          file,
          lineNo,
          `marker '${markers[j]}' (column ${j + 2}) of sample '${id}': ${JSON.stringify(t)} is not a genotype (0, 1, 2 or NA)`,
        );
      }
      dosage[base + j] = v;
    }
    rows.push({ id, line: lineNo, start: base });
  }
  if (rows.length === 0) throw new DataError(file, 0, 'no sample rows after the header');
  dosage = dosage.subarray(0, rows.length * m).slice();
  return { file, ids: rows.map((r) => r.id), markers, dosage, skipped: {} };
}

/** True when every observed value is 0 or 1 (presence/absence or inbred-line coding). */
export function isBinaryCoded(g: GenotypeMatrix): boolean {
  for (const v of g.dosage) if (v > 1) return false;
  return true;
}
