import { DataError, parseTable } from '../data/csv.js';

// Where markers sit on the genome, for a Manhattan plot: from a map file (marker, chromosome,
// position columns, as maize_drops' dropsMap.csv), else from names that carry it (VCF's
// CHROM:POS, chr5_1168, the synthetic set's c<chr>_m<k>), else none (plots go by marker index).

export interface GenomeMap {
  chromosome: string[];
  position: number[];
  source: string;
}

export function readGenomeMap(file: string, markers: readonly string[]): GenomeMap {
  const t = parseTable(file);
  const find = (re: RegExp): number => t.header.findIndex((h) => re.test(h.trim()));
  const ci = find(/^(chr|chrom|chromosome)$/i),
    pi = find(/^(pos|position|bp)$/i);
  if (ci < 0 || pi < 0)
    throw new DataError(
      file,
      1,
      `a map needs chromosome and position columns (named chr/chromosome and pos/position); the columns are ${t.header.map((h) => `'${h}'`).join(', ')}`,
    );
  const at = new Map<string, { c: string; p: number }>();
  t.rows.forEach((r, k) => {
    const p = Number(r[pi]);
    if (!Number.isFinite(p))
      throw new DataError(file, t.lines[k]!, `position ${JSON.stringify(r[pi])} is not a number`);
    at.set(r[0]!, { c: r[ci]!, p });
  });
  const missing = markers.filter((m) => !at.has(m));
  if (missing.length)
    throw new DataError(
      file,
      0,
      `${missing.length} of ${markers.length} markers are not in the map (first: ${missing.slice(0, 3).join(', ')})`,
    );
  return { chromosome: markers.map((m) => at.get(m)!.c), position: markers.map((m) => at.get(m)!.p), source: file };
}

/** A map read off the marker names, when every name carries one. */
export function mapFromNames(markers: readonly string[]): GenomeMap | null {
  const parse = (m: string): { c: string; p: number } | null => {
    let x = /^(?:chr)?([A-Za-z0-9]+)[:_](\d+)$/i.exec(m); // CHROM:POS (VCF without IDs), chr5_1168 (Arabidopsis)
    if (x) return { c: x[1]!, p: Number(x[2]) };
    x = /^c(\d+)_m(\d+)$/.exec(m);
    return x ? { c: x[1]!, p: Number(x[2]) } : null;
  };
  const all = markers.map(parse);
  if (all.some((a) => a === null)) return null;
  return { chromosome: all.map((a) => a!.c), position: all.map((a) => a!.p), source: 'marker names' };
}
