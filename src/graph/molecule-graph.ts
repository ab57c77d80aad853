// Graft's molecule featurizer, the one copy: a molecule parsed by RDKit's MinimalLib as the
// graph graft's graph models read (heavy atoms as nodes with ATOM_FEATURES columns each, bonds
// as edges weighted by bond order). Training (chem/featurize.ts, RDKit loaded from Node) and
// graft/infer (infer/molecule.ts, RDKit passed in by the page) both call it, so their bits
// agree by construction. It lives here, below both, with no Node built-ins: chem and infer may
// not import each other (test/layers.test.ts) and the browser bundle takes this file as is.

/** The featurization below; bump it when the features change (it keys the featurized-graph cache and is recorded in graph models). */
export const MOLECULE_FEATURIZER = 'graft-atoms-v1';

/** Elements with their own one-hot slot, and their atomic numbers; anything else falls in "other". */
export const ELEMENTS = [
  'C',
  'N',
  'O',
  'S',
  'F',
  'Cl',
  'Br',
  'I',
  'P',
  'B',
  'Si',
  'Se',
  'Na',
  'K',
  'Ca',
  'Li',
  'Mg',
  'Al',
  'Zn',
  'Fe',
  'Cu',
  'Pt',
  'Hg',
  'As',
  'Sn',
];
export const ELEMENT_Z = [6, 7, 8, 16, 9, 17, 35, 53, 15, 5, 14, 34, 11, 19, 20, 3, 12, 13, 30, 26, 29, 78, 80, 33, 50];
const SLOT = new Map(ELEMENT_Z.map((z, i) => [z, i]));

/**
 * Atom feature layout (one row per heavy atom): element one-hot (25 + other), degree 0..5+,
 * formal charge −2..+2 (clamped), aromatic, hybridization sp / sp2 / sp3 / other, hydrogen
 * count 0..4+, in a ring. 48 columns.
 */
export const ATOM_FEATURES = ELEMENTS.length + 1 + 6 + 5 + 1 + 4 + 5 + 1;

/** Morgan fingerprint bits (radius 2) of the hybrid model's dense branch. */
export const MORGAN_BITS = 1024;

/** What the featurizer needs of RDKit's MinimalLib module (the object `await initRDKitModule()` gives). */
export interface RDKitLike {
  /** Parses a SMILES; null (or an invalid molecule) when it does not parse. */
  get_mol(smiles: string): RDKitMolLike | null;
}
/** The part of an RDKit JS molecule the featurizer uses. */
export interface RDKitMolLike {
  /** Whether the SMILES parsed into a valid molecule. */
  is_valid(): boolean;
  /** The molecule as RDKit's JSON (atoms, bonds and their properties). */
  get_json(): string;
  /** The Morgan fingerprint as bytes, for the given JSON details (radius, bits). */
  get_morgan_fp_as_uint8array(details: string): Uint8Array;
  /** Frees the molecule (RDKit JS objects live in wasm memory). */
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

/** A featurized molecule: atoms (heavy atoms, hydrogens implicit) with their features, bonds as edges. */
export interface AtomGraph {
  atoms: number;
  /** [atoms, ATOM_FEATURES] row-major. */
  x: Float32Array;
  src: Int32Array;
  dst: Int32Array;
  /** Bond order as edge weight: 1, 2, 3, aromatic 1.5. */
  w: Float32Array;
  /** Element (atomic number), ring membership and aromaticity per atom. */
  z: Int32Array;
  inRing: Uint8Array;
  aromatic: Uint8Array;
}

/**
 * Parses a SMILES and hands the valid molecule to `f` (RDKit's object is freed after); null
 * when the SMILES is empty or RDKit cannot parse or sanitize it.
 */
export function withMolecule<T>(rdkit: RDKitLike, smiles: string, f: (mol: RDKitMolLike) => T): T | null {
  if (smiles.trim() === '') return null;
  const mol = rdkit.get_mol(smiles);
  if (!mol) return null;
  try {
    return mol.is_valid() ? f(mol) : null;
  } finally {
    mol.delete();
  }
}

/** A molecule's Morgan fingerprint (radius 2, MORGAN_BITS) as 0/1 floats, the hybrid model's descriptors. */
export function morganBits(mol: RDKitMolLike): Float32Array {
  const fp = mol.get_morgan_fp_as_uint8array(JSON.stringify({ radius: 2, nBits: MORGAN_BITS }));
  const morgan = new Float32Array(MORGAN_BITS);
  for (let i = 0; i < MORGAN_BITS; i++) morgan[i] = (fp[i >> 3]! >> (7 - (i & 7))) & 1;
  return morgan;
}

/**
 * A molecule as its atom graph, from RDKit's JSON of it. Hybridization is not in MinimalLib's
 * JSON; it is derived from the bonds the way RDKit assigns it to ordinary organic atoms:
 * aromatic or one double bond → sp2, a triple or two double bonds → sp, otherwise sp3 (more
 * than four neighbours → other).
 */
export function atomGraph(mol: RDKitMolLike): AtomGraph {
  const j = JSON.parse(mol.get_json()) as RdJson;
  const m = j.molecules[0]!,
    d = j.defaults;
  const n = m.atoms.length;
  const ext = m.extensions?.[0] ?? {};
  const aromatic = new Uint8Array(n),
    inRing = new Uint8Array(n);
  for (const a of ext.aromaticAtoms ?? []) aromatic[a] = 1;
  for (const ring of ext.atomRings ?? []) for (const a of ring) inRing[a] = 1;
  const aromaticBond = new Set(ext.aromaticBonds ?? []);
  const e = m.bonds.length;
  const src = new Int32Array(e),
    dst = new Int32Array(e),
    w = new Float32Array(e);
  const degree = new Int32Array(n),
    doubles = new Int32Array(n),
    triples = new Int32Array(n);
  m.bonds.forEach((b, k) => {
    const [a, c] = b.atoms;
    const bo = b.bo ?? d.bond.bo;
    src[k] = a;
    dst[k] = c;
    w[k] = aromaticBond.has(k) ? 1.5 : bo;
    degree[a]!++;
    degree[c]!++;
    if (!aromaticBond.has(k)) {
      if (bo === 2) {
        doubles[a]!++;
        doubles[c]!++;
      }
      if (bo === 3) {
        triples[a]!++;
        triples[c]!++;
      }
    }
  });
  const F = ATOM_FEATURES,
    x = new Float32Array(n * F),
    z = new Int32Array(n);
  m.atoms.forEach((a, i) => {
    const zi = a.z ?? d.atom.z,
      hs = a.impHs ?? d.atom.impHs,
      chg = a.chg ?? d.atom.chg;
    z[i] = zi;
    let o = i * F;
    x[o + (SLOT.get(zi) ?? ELEMENTS.length)] = 1;
    o += ELEMENTS.length + 1;
    x[o + Math.min(degree[i]!, 5)] = 1;
    o += 6;
    x[o + Math.max(-2, Math.min(2, chg)) + 2] = 1;
    o += 5;
    x[o] = aromatic[i]!;
    o += 1;
    const hyb =
      degree[i]! + hs > 4 ? 3 : aromatic[i] || doubles[i] === 1 ? 1 : triples[i]! > 0 || doubles[i]! >= 2 ? 0 : 2;
    x[o + hyb] = 1;
    o += 4;
    x[o + Math.min(hs, 4)] = 1;
    o += 5;
    x[o] = inRing[i]!;
  });
  return { atoms: n, x, src, dst, w, z, inRing, aromatic };
}
