import { DataError, parseTable, type Table } from '../data/csv.js';
import { GraftError } from '../core/errors.js';

// A microbiome study's input: a counts table (samples × taxa, or taxa × samples) and a
// metadata table (sample id, label or target, optional group), matched by sample id.

export interface MicrobiomeInputs {
  counts: string;
  meta: string;
  /** Class label column (classification), or… */
  label?: string;
  /** …numeric target column (regression). */
  target?: string;
  /** Samples of one group (a subject) stay on one side of every split. */
  group?: string;
  /** The counts table has taxa as rows and samples as columns. */
  transpose?: boolean;
  /** Keep taxa present (count > 0) in at least this fraction of the kept samples. */
  minPrevalence?: number;
  /** Keep only samples whose metadata column equals a value (e.g. one body site). */
  subset?: { column: string; value: string };
}

export interface MicrobiomeData {
  /** Sample ids in counts-table order (kept samples only). */
  ids: string[];
  taxa: string[];
  n: number;
  p: number;
  /** Counts [n, p], row-major. */
  counts: Float64Array;
  /** Whether every count is a whole number (rarefying and read-level noise need it). */
  integerCounts: boolean;
  /** Where the first fractional value is ("file:line: column 'x' is 0.5"), when there is one. */
  firstFraction: string | null;
  /** Classification: class per sample and the class names in natural order. */
  labels: Int32Array | null;
  classNames: string[];
  /** Regression: target per sample. */
  target: Float64Array | null;
  /** Group index per sample (each sample its own group without a group column). */
  groups: Int32Array;
  /** What matching the two tables did, for the report. */
  match: {
    matched: number;
    countsOnly: string[];
    metaOnly: string[];
    noLabel: string[];
    outsideSubset: number;
    taxaDropped: number;
  };
}

const naturalOrder = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

/** The counts table as sample ids, taxa and a [samples, taxa] matrix, with every cell checked. */
export function readCounts(
  file: string,
  transpose: boolean,
): {
  ids: string[];
  taxa: string[];
  values: Float64Array;
  integer: boolean;
  firstFraction: string | null;
  lineOf: (sample: number) => number;
} {
  const t: Table = parseTable(file);
  if (t.header.length < 2)
    throw new DataError(file, 1, 'a counts table needs an id column and at least one taxon column');
  if (t.rows.length === 0) throw new DataError(file, 0, 'the counts table has no rows');
  const cols = t.header.slice(1),
    rowIds = t.rows.map((r) => r[0]!);
  const cell = (r: number, c: number): number => {
    const s = t.rows[r]![c + 1]!;
    const v = s === '' ? NaN : Number(s);
    if (!Number.isFinite(v))
      throw new DataError(file, t.lines[r]!, `column '${t.header[c + 1]}' is ${JSON.stringify(s)}, not a count`);
    if (v < 0) throw new DataError(file, t.lines[r]!, `column '${t.header[c + 1]}' is ${s}: counts cannot be negative`);
    return v;
  };
  const ids = transpose ? cols : rowIds,
    taxa = transpose ? rowIds : cols;
  const n = ids.length,
    p = taxa.length;
  const values = new Float64Array(n * p);
  let integer = true,
    firstFraction: string | null = null;
  for (let r = 0; r < t.rows.length; r++) {
    for (let c = 0; c < cols.length; c++) {
      const v = cell(r, c);
      if (integer && !Number.isInteger(v)) {
        integer = false;
        firstFraction = `${file}:${t.lines[r]}: column '${t.header[c + 1]}' is ${t.rows[r]![c + 1]}`;
      }
      if (transpose) values[c * p + r] = v;
      else values[r * p + c] = v;
    }
  }
  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    const first = seen.get(id);
    if (first !== undefined) {
      throw transpose
        ? new DataError(file, 1, `sample id ${JSON.stringify(id)} heads two columns (${first + 2} and ${i + 2})`)
        : new DataError(
            file,
            t.lines[i]!,
            `duplicate sample id ${JSON.stringify(id)} (first on line ${t.lines[first]})`,
          );
    }
    seen.set(id, i);
  });
  return { ids, taxa, values, integer, firstFraction, lineOf: (i) => (transpose ? 1 : t.lines[i]!) };
}

/**
 * Reads and matches the two tables. Samples in only one of them are dropped and reported;
 * no id in common, an all-zero sample, a negative or non-numeric count, a missing label
 * column or a duplicate id is an error naming the file and line.
 */
export function loadMicrobiome(o: MicrobiomeInputs): MicrobiomeData {
  if ((o.label === undefined) === (o.target === undefined))
    throw new GraftError(
      'loadMicrobiome: give a label column (classification) or a target column (regression), not both or neither',
    );
  const c = readCounts(o.counts, o.transpose === true);
  const meta = parseTable(o.meta);
  const col = (name: string): number => {
    const k = meta.header.indexOf(name);
    if (k < 0) throw new DataError(o.meta, 1, `no column '${name}' (columns: ${meta.header.join(', ')})`);
    return k;
  };
  const outcomeCol = col(o.label ?? o.target!),
    groupCol = o.group ? col(o.group) : -1,
    subsetCol = o.subset ? col(o.subset.column) : -1;
  const metaRow = new Map<string, number>();
  meta.rows.forEach((r, k) => {
    const id = r[0]!;
    if (metaRow.has(id))
      throw new DataError(
        o.meta,
        meta.lines[k]!,
        `duplicate sample id ${JSON.stringify(id)} (first on line ${meta.lines[metaRow.get(id)!]})`,
      );
    metaRow.set(id, k);
  });
  const countIds = new Set(c.ids);
  const kept: number[] = [],
    countsOnly: string[] = [],
    noLabel: string[] = [];
  let outsideSubset = 0;
  c.ids.forEach((id, i) => {
    const k = metaRow.get(id);
    if (k === undefined) {
      countsOnly.push(id);
      return;
    }
    const row = meta.rows[k]!;
    if (o.subset && row[subsetCol] !== o.subset.value) {
      outsideSubset++;
      return;
    }
    if (row[outcomeCol] === '') {
      noLabel.push(id);
      return;
    }
    kept.push(i);
  });
  const metaOnly = meta.rows.map((r) => r[0]!).filter((id) => !countIds.has(id));
  if (kept.length === 0) {
    const ex = (ids: string[]): string =>
      ids
        .slice(0, 3)
        .map((s) => JSON.stringify(s))
        .join(', ');
    throw new GraftError(
      `no sample of ${o.counts} (e.g. ${ex(c.ids)}) has a ${o.label ? 'label' : 'target'} in ${o.meta} (e.g. ${ex(meta.rows.map((r) => r[0]!))})`,
    );
  }
  const pAll = c.taxa.length,
    n = kept.length;
  // Prevalence over the kept samples only (label-free, so it does not leak across folds).
  const minPrev = o.minPrevalence ?? 0;
  const taxaKept: number[] = [];
  for (let j = 0; j < pAll; j++) {
    let present = 0;
    for (const i of kept) if (c.values[i * pAll + j]! > 0) present++;
    if (present > 0 && present >= minPrev * n) taxaKept.push(j);
  }
  const p = taxaKept.length;
  if (p === 0)
    throw new GraftError(
      `${o.counts}: no taxon is present in ${minPrev > 0 ? `at least ${(minPrev * 100).toFixed(0)}% of` : ''} the kept samples`,
    );
  const counts = new Float64Array(n * p);
  kept.forEach((i, r) => {
    let total = 0;
    taxaKept.forEach((j, q) => {
      const v = c.values[i * pAll + j]!;
      counts[r * p + q] = v;
      total += v;
    });
    if (total === 0)
      throw new DataError(
        o.counts,
        c.lineOf(i),
        `sample ${JSON.stringify(c.ids[i])} has no reads${p < pAll ? ' in the kept taxa' : ''}`,
      );
  });
  const metaOf = (i: number): string[] => meta.rows[metaRow.get(c.ids[i]!)!]!;
  const lineOf = (i: number): number => meta.lines[metaRow.get(c.ids[i]!)!]!;
  let labels: Int32Array | null = null,
    classNames: string[] = [],
    target: Float64Array | null = null;
  if (o.label !== undefined) {
    classNames = [...new Set(kept.map((i) => metaOf(i)[outcomeCol]!))].sort(naturalOrder);
    if (classNames.length < 2)
      throw new DataError(
        o.meta,
        0,
        `column '${o.label}' has only one class (${JSON.stringify(classNames[0])}) among the kept samples`,
      );
    const index = new Map(classNames.map((s, k) => [s, k]));
    labels = Int32Array.from(kept, (i) => index.get(metaOf(i)[outcomeCol]!)!);
  } else {
    target = Float64Array.from(kept, (i) => {
      const s = metaOf(i)[outcomeCol]!,
        v = Number(s);
      if (!Number.isFinite(v))
        throw new DataError(o.meta, lineOf(i), `column '${o.target}' is ${JSON.stringify(s)}, not a number`);
      return v;
    });
  }
  let groups: Int32Array;
  if (groupCol >= 0) {
    const index = new Map<string, number>();
    groups = Int32Array.from(kept, (i) => {
      const g = metaOf(i)[groupCol]!;
      if (g === '') throw new DataError(o.meta, lineOf(i), `column '${o.group}' is empty: every sample needs a group`);
      if (!index.has(g)) index.set(g, index.size);
      return index.get(g)!;
    });
  } else {
    groups = Int32Array.from(kept, (_, r) => r);
  }
  return {
    ids: kept.map((i) => c.ids[i]!),
    taxa: taxaKept.map((j) => c.taxa[j]!),
    n,
    p,
    counts,
    integerCounts: c.integer,
    firstFraction: c.firstFraction,
    labels,
    classNames,
    target,
    groups,
    match: { matched: n, countsOnly, metaOnly, noLabel, outsideSubset, taxaDropped: pAll - p },
  };
}

export function describeMicrobiomeMatch(d: MicrobiomeData): string {
  const m = d.match;
  return (
    `${m.matched} samples × ${d.p} taxa${m.taxaDropped ? ` (${m.taxaDropped} taxa dropped by prevalence)` : ''}; ` +
    `${m.countsOnly.length} samples without metadata and ${m.metaOnly.length} metadata rows without counts dropped` +
    `${m.noLabel.length ? `; ${m.noLabel.length} samples with an empty outcome left out` : ''}${m.outsideSubset ? `; ${m.outsideSubset} outside the subset` : ''}`
  );
}
