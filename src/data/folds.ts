import { DataError, parseTable } from './csv.js';

/**
 * Folds from a file of (id, fold) rows, e.g. BGLR's wheat_sets.csv. Returns the fold per
 * sample of `ids` (0 when the file does not list it) and the fold count.
 */
export function readFolds(
  file: string,
  ids: string[],
): { fold: Int32Array; k: number; unlisted: number; unknown: number } {
  const t = parseTable(file);
  if (t.header.length < 2) throw new DataError(file, 1, 'expected two columns: sample id, fold');
  const byId = new Map<string, number>();
  t.rows.forEach((r, k) => {
    const line = t.lines[k]!;
    const f = Number(r[1]);
    if (!Number.isInteger(f) || f < 1)
      throw new DataError(file, line, `fold ${JSON.stringify(r[1])} of sample '${r[0]}' is not a positive integer`);
    if (byId.has(r[0]!)) throw new DataError(file, line, `sample '${r[0]}' appears twice`);
    byId.set(r[0]!, f);
  });
  const fold = new Int32Array(ids.length);
  let unlisted = 0;
  const known = new Set(ids);
  ids.forEach((id, i) => {
    const f = byId.get(id);
    if (f === undefined) unlisted++;
    else fold[i] = f;
  });
  const unknown = [...byId.keys()].filter((id) => !known.has(id)).length;
  const k = Math.max(0, ...fold);
  if (k < 2) throw new DataError(file, 0, `needs at least 2 folds over the genotyped samples; found ${k}`);
  return { fold, k, unlisted, unknown };
}
