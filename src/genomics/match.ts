import { GraftError } from '../core/errors.js';

/**
 * How genotyped and phenotyped samples were paired by id: the phenotype row of each genotype, and who is in only one file.
 */
export interface SampleMatch {
  /** For each genotyped sample (in genotype order), its phenotype row, or -1. */
  phenoRow: Int32Array;
  matched: number;
  /** Genotyped but not phenotyped (kept as graph nodes with no label). */
  genotypedOnly: string[];
  /** Phenotyped but not genotyped (dropped). */
  phenotypedOnly: string[];
}

/** Matches sample ids across the genotype and phenotype files; no id in common is an error. */
export function matchSamples(genoIds: string[], genoFile: string, phenoIds: string[], phenoFile: string): SampleMatch {
  const row = new Map(phenoIds.map((id, k) => [id, k]));
  const phenoRow = new Int32Array(genoIds.length).fill(-1);
  const genotypedOnly: string[] = [];
  const inGeno = new Set<string>();
  genoIds.forEach((id, i) => {
    inGeno.add(id);
    const k = row.get(id);
    if (k === undefined) genotypedOnly.push(id);
    else phenoRow[i] = k;
  });
  const phenotypedOnly = phenoIds.filter((id) => !inGeno.has(id));
  const matched = genoIds.length - genotypedOnly.length;
  if (matched === 0) {
    const ex = (ids: string[]): string =>
      ids
        .slice(0, 3)
        .map((s) => `'${s}'`)
        .join(', ');
    throw new GraftError(
      `no sample ids in common between ${genoFile} (e.g. ${ex(genoIds)}) and ${phenoFile} (e.g. ${ex(phenoIds)})`,
    );
  }
  return { phenoRow, matched, genotypedOnly, phenotypedOnly };
}

export function describeMatch(m: SampleMatch): string {
  return `${m.matched} samples matched; ${m.genotypedOnly.length} genotyped only (kept as unlabelled nodes), ${m.phenotypedOnly.length} phenotyped only (dropped)`;
}
