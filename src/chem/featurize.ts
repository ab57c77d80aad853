import type { GraphSample } from '../graph/batch.js';
import { rdkit } from './rdkit.js';
import { SIMILARITY_FP } from './similarity.js';

/** Bump when the features change: it is part of the cache key. */
export const FEATURIZER_VERSION = 'graft-atoms-v1';

/** Elements with their own one-hot slot; anything else falls in "other". */
export const ELEMENTS = ['C', 'N', 'O', 'S', 'F', 'Cl', 'Br', 'I', 'P', 'B', 'Si', 'Se', 'Na', 'K', 'Ca', 'Li', 'Mg', 'Al', 'Zn', 'Fe', 'Cu', 'Pt', 'Hg', 'As', 'Sn'];
const Z_OF: Record<string, number> = { C: 6, N: 7, O: 8, S: 16, F: 9, Cl: 17, Br: 35, I: 53, P: 15, B: 5, Si: 14, Se: 34, Na: 11, K: 19, Ca: 20, Li: 3, Mg: 12, Al: 13, Zn: 30, Fe: 26, Cu: 29, Pt: 78, Hg: 80, As: 33, Sn: 50 };
const SLOT = new Map(ELEMENTS.map((e, i) => [Z_OF[e]!, i]));
const SYMBOL = new Map(ELEMENTS.map((e) => [Z_OF[e]!, e]));

/** An atom's element symbol from its atomic number (Z<n> for elements without a slot of their own). */
export function elementSymbol(z: number): string {
  return SYMBOL.get(z) ?? `Z${z}`;
}

/**
 * Atom feature layout (one row per heavy atom): element one-hot (25 + other), degree 0..5+,
 * formal charge −2..+2 (clamped), aromatic, hybridization sp / sp2 / sp3 / other, hydrogen
 * count 0..4+, in a ring. 48 columns.
 */
export const ATOM_FEATURES = ELEMENTS.length + 1 + 6 + 5 + 1 + 4 + 5 + 1;

/** Morgan fingerprint bits for the hybrid model's dense branch (radius 2). */
export const MORGAN_BITS = 1024;

interface RdJson {
  defaults: { atom: { z: number; impHs: number; chg: number }; bond: { bo: number } };
  molecules: {
    atoms: { z?: number; impHs?: number; chg?: number }[];
    bonds: { atoms: [number, number]; bo?: number }[];
    extensions?: { aromaticAtoms?: number[]; aromaticBonds?: number[]; atomRings?: number[][] }[];
  }[];
}

/** A molecule as a graph: atoms (heavy atoms, hydrogens implicit) and bonds. */
export interface MolGraph {
  atoms: number;
  x: Float32Array;
  src: Int32Array;
  dst: Int32Array;
  /** Bond order as edge weight: 1, 2, 3, aromatic 1.5. */
  w: Float32Array;
  /** Element per atom (for the scaffold key) and ring membership. */
  z: Int32Array;
  inRing: Uint8Array;
  aromatic: Uint8Array;
  morgan: Float32Array;
  /**
   * The Morgan fingerprint for similarity (radius 2, SIMILARITY_BITS, packed as RDKit gives
   * it), taken from the same parse; absent in graphs read from a cache written before it.
   */
  similarity?: Uint8Array;
}

/**
 * Parses a SMILES with RDKit and builds the graph and atom features. Returns null when RDKit
 * cannot parse or sanitize it. Hybridization is not in MinimalLib's JSON; it is derived from
 * the bonds the way RDKit assigns it to ordinary organic atoms: aromatic or one double bond →
 * sp2, a triple or two double bonds → sp, otherwise sp3 (more than four neighbours → other).
 */
export async function smilesToGraph(smiles: string): Promise<MolGraph | null> {
  const RD = await rdkit();
  if (smiles.trim() === '') return null;
  const mol = RD.get_mol(smiles);
  if (!mol) return null;
  try {
    if (!mol.is_valid()) return null;
    const j = JSON.parse(mol.get_json()) as RdJson;
    const fp = mol.get_morgan_fp_as_uint8array(JSON.stringify({ radius: 2, nBits: MORGAN_BITS })) as Uint8Array;
    const morgan = new Float32Array(MORGAN_BITS);
    for (let i = 0; i < MORGAN_BITS; i++) morgan[i] = (fp[i >> 3]! >> (7 - (i & 7))) & 1;
    return { ...fromJson(j, morgan), similarity: Uint8Array.from(mol.get_morgan_fp_as_uint8array(SIMILARITY_FP) as Uint8Array) };
  } finally {
    mol.delete();
  }
}

function fromJson(j: RdJson, morgan: Float32Array): MolGraph {
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
  const F = ATOM_FEATURES, x = new Float32Array(n * F), z = new Int32Array(n);
  m.atoms.forEach((a, i) => {
    const zi = a.z ?? d.atom.z, hs = a.impHs ?? d.atom.impHs, chg = a.chg ?? d.atom.chg;
    z[i] = zi;
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
  return { atoms: n, x, src, dst, w, z, inRing, aromatic, morgan };
}

/** A GraphSample for training from a molecule and its labels. */
export function toSample(g: MolGraph, y: Float32Array, withDescriptors: boolean): GraphSample {
  return { nodes: g.atoms, x: g.x, src: g.src, dst: g.dst, w: g.w, y, ...(withDescriptors ? { descriptors: g.morgan } : {}) };
}
