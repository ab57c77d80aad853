import { DataError, parseTable, type Table } from './csv.js';

/** A phenotype table: one row per sample id, trait columns parsed on demand. */
export interface PhenotypeTable {
  file: string;
  ids: string[];
  columns: string[];
  table: Table;
}

const MISSING = new Set(['', 'NA', 'na', 'NaN', '.', '-9']);

/** Reads a CSV/TSV of a sample-id column and trait columns (NA, empty or '.' = missing). */
export function readPhenotypes(file: string): PhenotypeTable {
  const table = parseTable(file);
  if (table.header.length < 2)
    throw new DataError(file, 1, 'expected a sample-id column and at least one trait column');
  if (table.rows.length === 0) throw new DataError(file, 0, 'no sample rows after the header');
  const seen = new Map<string, number>();
  const ids = table.rows.map((r, k) => {
    const id = r[0]!;
    const line = table.lines[k]!;
    if (id === '') throw new DataError(file, line, 'empty sample id');
    if (seen.has(id)) throw new DataError(file, line, `sample '${id}' appears twice (also on line ${seen.get(id)})`);
    seen.set(id, line);
    return id;
  });
  return { file, ids, columns: table.header.slice(1), table };
}

function columnIndex(p: PhenotypeTable, name: string): number {
  const j = p.columns.indexOf(name);
  if (j < 0)
    throw new DataError(p.file, 1, `no column '${name}'; the columns are ${p.columns.map((c) => `'${c}'`).join(', ')}`);
  return j + 1;
}

/** A numeric trait column (NaN where missing); a value that is not a number is a DataError. */
export function traitValues(p: PhenotypeTable, name: string): Float64Array {
  const j = columnIndex(p, name);
  const out = new Float64Array(p.ids.length);
  p.table.rows.forEach((r, k) => {
    const s = r[j]!;
    if (MISSING.has(s)) {
      out[k] = NaN;
      return;
    }
    const v = Number(s);
    if (!Number.isFinite(v))
      throw new DataError(
        p.file,
        p.table.lines[k]!,
        `trait '${name}' of sample '${p.ids[k]}': ${JSON.stringify(s)} is not a number (use NA for missing)`,
      );
    out[k] = v;
  });
  return out;
}

/**
 * Covariate columns as a design matrix: a numeric column is standardized (missing → 0, the
 * mean), any other column is one-hot over its levels (missing → all zero). Row k is sample k.
 */
export function covariateMatrix(
  p: PhenotypeTable,
  names: string[],
): { width: number; values: Float32Array; columns: string[] } {
  const blocks: { cols: string[]; get: (k: number, out: Float32Array, at: number) => void }[] = [];
  for (const name of names) {
    const j = columnIndex(p, name);
    const raw = p.table.rows.map((r) => r[j]!);
    const nums = raw.map((s) => (MISSING.has(s) ? NaN : Number(s)));
    const numeric = raw.every((s, k) => MISSING.has(s) || Number.isFinite(nums[k]!));
    if (numeric) {
      const obs = nums.filter(Number.isFinite);
      const mean = obs.reduce((a, b) => a + b, 0) / Math.max(1, obs.length);
      const sd = Math.sqrt(obs.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, obs.length - 1)) || 1;
      blocks.push({
        cols: [name],
        get: (k, out, at) => {
          out[at] = Number.isFinite(nums[k]!) ? (nums[k]! - mean) / sd : 0;
        },
      });
    } else {
      const levels = [...new Set(raw.filter((s) => !MISSING.has(s)))].sort();
      const index = new Map(levels.map((l, i) => [l, i]));
      blocks.push({
        cols: levels.map((l) => `${name}=${l}`),
        get: (k, out, at) => {
          const i = index.get(raw[k]!);
          if (i !== undefined) out[at + i] = 1;
        },
      });
    }
  }
  const width = blocks.reduce((s, b) => s + b.cols.length, 0);
  const values = new Float32Array(p.ids.length * width);
  for (let k = 0; k < p.ids.length; k++) {
    let at = k * width;
    for (const b of blocks) {
      b.get(k, values, at);
      at += b.cols.length;
    }
  }
  return { width, values, columns: blocks.flatMap((b) => b.cols) };
}

/** Long-format trial data: one row per genotype × environment (most trial exports). */
export interface LongFormat {
  /** The environment column (trial, location-year, experiment). */
  env: string;
  /** The genotype-id column; default: the first. */
  id?: string;
}

export interface LongPhenotypes {
  /** One row per genotype, a column `trait@environment` per trait and environment. */
  table: PhenotypeTable;
  environments: string[];
  /** Value columns read (traits), in file order. */
  traits: string[];
  /** Genotype × environment cells that had more than one row (their values are averaged). */
  replicated: number;
}

/**
 * A long-format phenotype file pivoted to one row per genotype: each trait in each
 * environment becomes a column `trait@env`, so per-environment models run as they do on
 * wide data. Replicate rows of a genotype in one environment are averaged (a BLUE would be
 * better; the count is returned so the caller can say so). `traits` 'all' takes every column
 * besides the id and environment whose values are all numbers or missing.
 */
export function readLongPhenotypes(file: string, f: LongFormat, traits: string[] | 'all'): LongPhenotypes {
  const t = parseTable(file);
  if (t.rows.length === 0) throw new DataError(file, 0, 'no rows after the header');
  const col = (name: string, what: string): number => {
    const j = t.header.indexOf(name);
    if (j < 0)
      throw new DataError(
        file,
        1,
        `no ${what} column '${name}'; the columns are ${t.header.map((c) => `'${c}'`).join(', ')}`,
      );
    return j;
  };
  const idCol = f.id === undefined ? 0 : col(f.id, 'genotype-id'),
    envCol = col(f.env, 'environment');
  if (idCol === envCol) throw new DataError(file, 1, `the genotype-id and environment columns are both '${f.env}'`);
  const numeric = (j: number): boolean => t.rows.every((r) => MISSING.has(r[j] ?? '') || Number.isFinite(Number(r[j])));
  const valueCols =
    traits === 'all'
      ? t.header.flatMap((_, j) => (j !== idCol && j !== envCol && numeric(j) ? [j] : []))
      : traits.map((name) => col(name, 'trait'));
  if (valueCols.length === 0) throw new DataError(file, 1, 'no numeric trait column besides the id and environment');
  const ids: string[] = [],
    envs: string[] = [];
  const idAt = new Map<string, number>(),
    envAt = new Map<string, number>(),
    firstLine: number[] = [];
  const sum = new Map<string, number[]>(),
    count = new Map<string, number[]>(),
    rowsIn = new Map<string, number>();
  t.rows.forEach((r, k) => {
    const line = t.lines[k]!;
    const id = r[idCol] ?? '',
      env = r[envCol] ?? '';
    if (id === '') throw new DataError(file, line, 'empty genotype id');
    if (env === '' || MISSING.has(env)) throw new DataError(file, line, `genotype '${id}': empty environment`);
    if (!idAt.has(id)) {
      idAt.set(id, ids.length);
      ids.push(id);
      firstLine.push(line);
    }
    if (!envAt.has(env)) {
      envAt.set(env, envs.length);
      envs.push(env);
    }
    const cell = `${idAt.get(id)!}\u0000${envAt.get(env)!}`;
    rowsIn.set(cell, (rowsIn.get(cell) ?? 0) + 1);
    const s = sum.get(cell) ?? new Array<number>(valueCols.length).fill(0),
      c = count.get(cell) ?? new Array<number>(valueCols.length).fill(0);
    valueCols.forEach((j, q) => {
      const v = r[j] ?? '';
      if (MISSING.has(v)) return;
      const x = Number(v);
      if (!Number.isFinite(x))
        throw new DataError(
          file,
          line,
          `trait '${t.header[j]}' of genotype '${id}' in '${env}': ${JSON.stringify(v)} is not a number (use NA for missing)`,
        );
      s[q]! += x;
      c[q]!++;
    });
    sum.set(cell, s);
    count.set(cell, c);
  });
  const names = valueCols.map((j) => t.header[j]!);
  const columns = names.flatMap((name) => envs.map((e) => `${name}@${e}`));
  const rows = ids.map((id, i) => [
    id,
    ...valueCols.flatMap((_, q) =>
      envs.map((_, e) => {
        const cell = `${i}\u0000${e}`,
          c = count.get(cell)?.[q] ?? 0;
        return c === 0 ? 'NA' : String(sum.get(cell)![q]! / c);
      }),
    ),
  ]);
  const table: Table = { file, header: [t.header[idCol]!, ...columns], rows, lines: firstLine };
  return {
    table: { file, ids, columns, table },
    environments: envs,
    traits: names,
    replicated: [...rowsIn.values()].filter((n) => n > 1).length,
  };
}
