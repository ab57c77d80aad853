import { existsSync, readFileSync } from 'node:fs';
import { DataError, parseTable, readText } from '../data/csv.js';
import { GraftError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import { rdkit } from './rdkit.js';

// A molecule task whose answer is known atom by atom: the label is "contains this SMARTS
// motif" (benzene, as in Sanchez-Lengeling et al. 2020), so an attribution can be scored by
// how well it finds the motif's atoms. Matching is RDKit's substructure search.

/** The motif a task file was made from, kept beside it as FILE.motif.json. */
export interface MotifTask {
  format: 'graft-motif-task-v1';
  smarts: string;
  label: string;
  source: string;
  molecules: number;
  positives: number;
  seed: number;
}

export const motifSidecar = (csv: string): string => `${csv}.motif.json`;

/** Atoms of `smiles` in any match of `smarts` (1) or not (0), in RDKit's atom order; null when the SMILES does not parse. */
export async function motifAtoms(smiles: string, smarts: string): Promise<Uint8Array | null> {
  const RD = await rdkit();
  const q = RD.get_qmol(smarts);
  if (!q) throw new GraftError(`SMARTS ${JSON.stringify(smarts)} does not parse (RDKit)`);
  const mol = smiles.trim() === '' ? null : RD.get_mol(smiles);
  try {
    if (!mol?.is_valid()) return null;
    const n = (JSON.parse(mol.get_json()) as { molecules: { atoms: unknown[] }[] }).molecules[0]!.atoms.length;
    const out = new Uint8Array(n);
    const found = JSON.parse(mol.get_substruct_matches(q)) as { atoms: number[] }[] | Record<string, never>;
    if (Array.isArray(found)) for (const m of found) for (const a of m.atoms) out[a] = 1;
    return out;
  } finally {
    mol?.delete();
    q.delete();
  }
}

/**
 * Writes a motif task: `sample` molecules (seeded) of a SMILES CSV, labelled 1 when they
 * contain the motif, as CSV text (smiles,label), and its sidecar.
 */
export async function makeMotifTask(
  file: string,
  o: { smarts: string; label: string; smiles?: string; sample?: number; seed?: number },
): Promise<{ csv: string; task: MotifTask }> {
  const t = parseTable(file, readText(file));
  const col = o.smiles ?? t.header.find((h) => h.toLowerCase() === 'smiles');
  const si = col === undefined ? -1 : t.header.indexOf(col);
  if (si < 0)
    throw new DataError(
      file,
      1,
      `no SMILES column${o.smiles ? ` '${o.smiles}'` : " (none named 'smiles')"}; the columns are ${t.header.map((h) => `'${h}'`).join(', ')}`,
    );
  const rows = t.rows.map((r, k) => ({ smiles: r[si]!, line: t.lines[k]! }));
  const seed = o.seed ?? 1;
  if (o.sample !== undefined && o.sample < rows.length) new Rng(seed).shuffle(rows);
  const lines = [`smiles,${o.label}`];
  let positives = 0;
  for (const r of rows) {
    if (o.sample !== undefined && lines.length > o.sample) break;
    const atoms = await motifAtoms(r.smiles, o.smarts);
    if (!atoms) continue; // RDKit rejects it: not part of the task
    const y = atoms.some((a) => a === 1) ? 1 : 0;
    positives += y;
    lines.push(`${JSON.stringify(r.smiles)},${y}`);
  }
  const molecules = lines.length - 1;
  if (positives === 0 || positives === molecules)
    throw new GraftError(
      `${file}: the motif ${o.smarts} is in ${positives} of ${molecules} molecules: a task needs both classes`,
    );
  return {
    csv: `${lines.join('\n')}\n`,
    task: { format: 'graft-motif-task-v1', smarts: o.smarts, label: o.label, source: file, molecules, positives, seed },
  };
}

/** The motif task of a data file, when it has a sidecar. */
export function readMotifTask(file: string): MotifTask | null {
  const side = motifSidecar(file);
  if (!existsSync(side)) return null;
  const doc = JSON.parse(readFileSync(side, 'utf8')) as MotifTask;
  if (doc.format !== 'graft-motif-task-v1' || typeof doc.smarts !== 'string')
    throw new DataError(side, 1, 'not a graft motif task (format graft-motif-task-v1 with a smarts)');
  return doc;
}
