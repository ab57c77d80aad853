import { GraftError } from '../core/errors.js';

// Molecules for graft/infer: a SMILES featurized into the graph a graft train --task graph
// model reads, with RDKit's MinimalLib (@rdkit/rdkit) passed in by the caller, so the bundle
// itself stays free of it (a page loads RDKit_minimal.js and its .wasm beside it). The layout
// is graft's molecule featurizer's (src/chem/featurize.ts, FEATURIZER_VERSION 'graft-atoms-v1');
// test/infer-molecule.test.ts checks that the two give the same bits on the same molecules,
// so a change to one without the other fails there.

/** The featurization this file implements; a graph model's file records the one it was trained on. */
export const MOLECULE_FEATURIZER = 'graft-atoms-v1';

const ELEMENTS = ['C', 'N', 'O', 'S', 'F', 'Cl', 'Br', 'I', 'P', 'B', 'Si', 'Se', 'Na', 'K', 'Ca', 'Li', 'Mg', 'Al', 'Zn', 'Fe', 'Cu', 'Pt', 'Hg', 'As', 'Sn'];
const Z = [6, 7, 8, 16, 9, 17, 35, 53, 15, 5, 14, 34, 11, 19, 20, 3, 12, 13, 30, 26, 29, 78, 80, 33, 50];
const SLOT = new Map(Z.map((z, i) => [z, i]));

/** Columns per atom: element one-hot (25 + other), degree 0..5+, charge −2..+2, aromatic, hybridization (4), H count 0..4+, in ring. */
export const MOLECULE_ATOM_FEATURES = ELEMENTS.length + 1 + 6 + 5 + 1 + 4 + 5 + 1;
/** Morgan fingerprint bits (radius 2) of the hybrid model's dense branch. */
export const MOLECULE_MORGAN_BITS = 1024;

/** What moleculeGraph needs of RDKit's MinimalLib module (the object `await initRDKitModule()` gives). */
export interface RDKitLike {
  get_mol(smiles: string): RDKitMolLike | null;
}
export interface RDKitMolLike {
  is_valid(): boolean;
  get_json(): string;
  get_morgan_fp_as_uint8array(details: string): Uint8Array;
  delete(): void;
}

interface RdJson {
  defaults: { atom: { z: number; impHs: number; chg: number }; bond: { bo: number } };
  molecules: {
    atoms: { z?: number; impHs?: number; chg?: number }[];
    bonds: { atoms: [number, number]; bo?: number }[];
    extensions?: { aromaticAtoms?: number[]; aromaticBonds?: number[]; atomRings?: number[][] }[];
  }[];
}

/** A featurized molecule, as GraphInput takes it (descriptors: its Morgan bits, for hybrid models). */
export interface MoleculeGraph { nodes: number; x: Float32Array; src: Int32Array; dst: Int32Array; w: Float32Array; descriptors?: Float32Array; featurizer: string }

/**
 * A SMILES as the graph graft's graph models read: heavy atoms as nodes with 48 features
 * each, bonds as edges weighted by bond order (aromatic 1.5). Null when RDKit cannot parse it.
 * `descriptors: true` adds the 1024 Morgan bits a hybrid model's dense branch reads.
 *
 * @example
 *   import initRDKitModule from '@rdkit/rdkit';
 *   const RDKit = await initRDKitModule();
 *   const g = moleculeGraph(RDKit, 'CCO');              // 3 atoms, 2 bonds
 *   const { probs } = await model.predictGraphs([g!]);
 */
export function moleculeGraph(rdkit: RDKitLike, smiles: string, options: { descriptors?: boolean } = {}): MoleculeGraph | null {
  if (typeof rdkit?.get_mol !== 'function') throw new GraftError('moleculeGraph: the first argument must be RDKit\'s module (await initRDKitModule() from @rdkit/rdkit)');
  if (typeof smiles !== 'string') throw new GraftError(`moleculeGraph: smiles must be a string, got ${typeof smiles}`);
  if (smiles.trim() === '') return null;
  const mol = rdkit.get_mol(smiles);
  if (!mol) return null;
  try {
    if (!mol.is_valid()) return null;
    const g = fromJson(JSON.parse(mol.get_json()) as RdJson);
    if (!options.descriptors) return g;
    const fp = mol.get_morgan_fp_as_uint8array(JSON.stringify({ radius: 2, nBits: MOLECULE_MORGAN_BITS }));
    const morgan = new Float32Array(MOLECULE_MORGAN_BITS);
    for (let i = 0; i < MOLECULE_MORGAN_BITS; i++) morgan[i] = (fp[i >> 3]! >> (7 - (i & 7))) & 1;
    return { ...g, descriptors: morgan };
  } finally {
    mol.delete();
  }
}

// Hybridization is not in MinimalLib's JSON: it is derived from the bonds as RDKit assigns it
// to ordinary organic atoms (aromatic or one double bond: sp2; a triple or two doubles: sp;
// otherwise sp3; more than four neighbours: other), as the training featurizer does.
function fromJson(j: RdJson): MoleculeGraph {
  const m = j.molecules[0]!, d = j.defaults;
  const n = m.atoms.length;
  const ext = m.extensions?.[0] ?? {};
  const aromatic = new Uint8Array(n), inRing = new Uint8Array(n);
  for (const a of ext.aromaticAtoms ?? []) aromatic[a] = 1;
  for (const ring of ext.atomRings ?? []) for (const a of ring) inRing[a] = 1;
  const aromaticBond = new Set(ext.aromaticBonds ?? []);
  const e = m.bonds.length;
  const src = new Int32Array(e), dst = new Int32Array(e), w = new Float32Array(e);
  const degree = new Int32Array(n), doubles = new Int32Array(n), triples = new Int32Array(n);
  m.bonds.forEach((b, k) => {
    const [a, c] = b.atoms;
    const bo = b.bo ?? d.bond.bo;
    src[k] = a; dst[k] = c;
    w[k] = aromaticBond.has(k) ? 1.5 : bo;
    degree[a]!++; degree[c]!++;
    if (!aromaticBond.has(k)) {
      if (bo === 2) { doubles[a]!++; doubles[c]!++; }
      if (bo === 3) { triples[a]!++; triples[c]!++; }
    }
  });
  const F = MOLECULE_ATOM_FEATURES, x = new Float32Array(n * F);
  m.atoms.forEach((a, i) => {
    const zi = a.z ?? d.atom.z, hs = a.impHs ?? d.atom.impHs, chg = a.chg ?? d.atom.chg;
    let o = i * F;
    x[o + (SLOT.get(zi) ?? ELEMENTS.length)] = 1; o += ELEMENTS.length + 1;
    x[o + Math.min(degree[i]!, 5)] = 1; o += 6;
    x[o + Math.max(-2, Math.min(2, chg)) + 2] = 1; o += 5;
    x[o] = aromatic[i]!; o += 1;
    const hyb = degree[i]! + hs > 4 ? 3 : aromatic[i] || doubles[i] === 1 ? 1 : triples[i]! > 0 || doubles[i]! >= 2 ? 0 : 2;
    x[o + hyb] = 1; o += 4;
    x[o + Math.min(hs, 4)] = 1; o += 5;
    x[o] = inRing[i]!;
  });
  return { nodes: n, x, src, dst, w, featurizer: MOLECULE_FEATURIZER };
}
