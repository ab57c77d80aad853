// Chemprop's molecule features (Chemprop v1, chemprop/features/featurization.py: Yang et al.
// 2019), computed from RDKit's MinimalLib so a D-MPNN here reads what Chemprop's reads. The
// definition, not the code, is matched:
//
// atom, 133 columns, each group a one-hot with a last "other" slot (onek_encoding_unk):
//   atomic number  101  Z − 1 for Z in 1..100, else other
//   total degree     7  0..5 (heavy neighbours + hydrogens)
//   formal charge    6  in Chemprop's order −1, −2, +1, +2, 0
//   chiral tag       5  unspecified, CW, CCW, other (RDKit's enum values 0..3)
//   total Hs         6  0..4
//   hybridization    6  SP, SP2, SP3, SP3D, SP3D2 (S and unspecified fall in other)
//   aromatic         1
//   mass / 100       1  RDKit's atomic weight (the isotope's mass for an isotope label)
// bond, 14 columns: [no bond (always 0 here), single, double, triple, aromatic, conjugated,
//   in ring, stereo one-hot over RDKit's enum NONE, ANY, Z, E, CIS, TRANS + other].
//
// MinimalLib's JSON gives elements, charges, hydrogens, chiral tags, Kekulé bond orders,
// aromatic flags and rings. Hybridization is RDKit's own, read with its SMARTS primitive ^n.
// Bond stereo from a SMILES is Z or E in RDKit's legacy perception (what Chemprop v1 ran on);
// the JSON says cis/trans relative to its stereo atoms, so the CIP label (get_stereo_tags)
// decides Z or E. Conjugation is not exposed by MinimalLib: it is RDKit's rule (ConjugHybrid:
// aromatic bonds, and a multiple bond next to a single bond between two atoms each with two or
// three neighbours + Hs and π electrons to share), evaluated here from the same JSON.

import type { MainModule as RDKitModule, Mol } from '@rdkit/rdkit';
import type { GraphSample } from './batch.js';
import { atomGraph, type AtomGraph, type RDKitLike, type RDKitMolLike } from './molecule-graph.js';

/** The Chemprop featurizer's name and version: part of the featurized-graph cache key and of a model's featurizer record. */
export const CHEMPROP_FEATURIZER = 'chemprop-v1-features';
/** Atom feature columns (Chemprop v1's ATOM_FDIM). */
export const CHEMPROP_ATOM_FEATURES = 133;
/** Bond feature columns (Chemprop v1's BOND_FDIM). */
export const CHEMPROP_BOND_FEATURES = 14;

/** Where each atom feature group starts (its one-hot's first column). */
export const CHEMPROP_ATOM_LAYOUT = {
  atomicNum: 0,
  degree: 101,
  formalCharge: 108,
  chiralTag: 114,
  numHs: 119,
  hybridization: 125,
  aromatic: 131,
  mass: 132,
} as const;
/** Where each bond feature group starts. */
export const CHEMPROP_BOND_LAYOUT = {
  none: 0,
  single: 1,
  double: 2,
  triple: 3,
  aromatic: 4,
  conjugated: 5,
  inRing: 6,
  stereo: 7,
} as const;

const FORMAL_CHARGES = [-1, -2, 1, 2, 0];
const CHIRAL_TAGS: Record<string, number> = { unspecified: 0, cw: 1, ccw: 2, other: 3 };
/** RDKit's BondStereo enum values. */
const STEREO = { none: 0, any: 1, z: 2, e: 3, cis: 4, trans: 5 } as const;

/**
 * RDKit's default valence and outer-shell electrons (its periodic table) for the elements whose
 * default valence exceeds 1, the only ones that can be conjugated (countAtomElec is −1 for the
 * rest: hydrogen, halogens, alkali metals, noble gases, and the d and f blocks, which have none).
 */
const CONJUGABLE: ReadonlyMap<number, readonly [dv: number, nouter: number]> = new Map([
  [4, [2, 2]], // Be
  [5, [3, 3]], // B
  [6, [4, 4]], // C
  [7, [3, 5]], // N
  [8, [2, 6]], // O
  [12, [2, 2]], // Mg
  [13, [3, 3]], // Al
  [14, [4, 4]], // Si
  [15, [3, 5]], // P
  [16, [2, 6]], // S
  [20, [2, 2]], // Ca
  [31, [3, 3]], // Ga
  [32, [4, 4]], // Ge
  [33, [3, 5]], // As
  [34, [2, 6]], // Se
  [38, [2, 2]], // Sr
  [49, [3, 3]], // In
  [50, [2, 4]], // Sn
  [51, [3, 5]], // Sb
  [52, [2, 6]], // Te
  [56, [2, 2]], // Ba
  [81, [3, 3]], // Tl
  [82, [2, 4]], // Pb
  [83, [3, 5]], // Bi
  [84, [2, 6]], // Po
  [88, [2, 2]], // Ra
]);

interface RdJson {
  defaults: {
    atom: { z: number; impHs: number; chg: number; nRad: number; isotope: number; stereo: string };
    bond: { bo: number; stereo: string };
  };
  molecules: {
    atoms: { z?: number; impHs?: number; chg?: number; nRad?: number; isotope?: number; stereo?: string }[];
    bonds: { atoms: [number, number]; bo?: number; stereo?: string }[];
    extensions?: { aromaticAtoms?: number[]; aromaticBonds?: number[]; atomRings?: number[][] }[];
  }[];
}

/** A molecule with Chemprop's atom and bond features (bonds once each, in RDKit's order). */
export interface ChempropGraph {
  atoms: number;
  /** [atoms, CHEMPROP_ATOM_FEATURES] row-major. */
  x: Float32Array;
  /** Bond b joins src[b] and dst[b] (RDKit's begin and end atom). */
  src: Int32Array;
  dst: Int32Array;
  /** [bonds, CHEMPROP_BOND_FEATURES] row-major. */
  bondAttr: Float32Array;
  /** Bond order as edge weight (1, 2, 3, aromatic 1.5), as graft's own featurizer gives it. */
  w: Float32Array;
  z: Int32Array;
  inRing: Uint8Array;
  aromatic: Uint8Array;
}

/**
 * The atom (and bond) feature sets a molecule can be featurized by: 'graft', graft's own 48
 * atom columns (graph/molecule-graph.ts), or 'chemprop', Chemprop v1's 133 atom and 14 bond
 * columns. The one place the names meet: chem's AtomFeatureSet uses these; graft/infer's
 * moleculeGraph keeps its public option name 'default' for 'graft' (and graft train's
 * --atom-features and a run's config.json `atom_features` say 'default' too).
 */
export type MoleculeFeatureSet = 'graft' | 'chemprop';

/**
 * A parsed molecule's graph by `set`: graft's own features, or Chemprop's with their bond
 * features (`bondAttr`). The choice chem's featurizer (training) and graft/infer's
 * moleculeGraph both make, so the two cannot drift apart.
 */
export function moleculeFeatureGraph(
  rdkit: RDKitLike,
  mol: RDKitMolLike,
  set: MoleculeFeatureSet,
): AtomGraph & { bondAttr?: Float32Array } {
  if (set === 'graft') return atomGraph(mol);
  // Chemprop's features read more of RDKit than RDKitLike names (SMARTS queries, stereo tags): the full module's.
  return chempropGraph(rdkit as RDKitModule, mol as Mol);
}

/** A molecule graph's fields as a model's graph input names them (GraphSample's and graft/infer's GraphInput). */
export function moleculeGraphFields(
  g: AtomGraph & { bondAttr?: Float32Array },
): Pick<GraphSample, 'nodes' | 'x' | 'src' | 'dst' | 'edgeAttr'> & { w: Float32Array } {
  return { nodes: g.atoms, x: g.x, src: g.src, dst: g.dst, w: g.w, ...(g.bondAttr ? { edgeAttr: g.bondAttr } : {}) };
}

/**
 * What Chemprop's features need of RDKit beyond one molecule: the hybridization queries and
 * atomic weights, made once per RDKit module and kept.
 */
class RdkitTables {
  readonly hybridQueries: Mol[];
  private readonly masses = new Map<string, number>();

  constructor(private readonly rd: RDKitModule) {
    // ^1..^5: SP, SP2, SP3, SP3D, SP3D2, Chemprop's five hybridizations in its order.
    this.hybridQueries = [1, 2, 3, 4, 5].map((n) => {
      const q = rd.get_qmol(`[^${n}]`);
      if (!q) throw new Error(`RDKit cannot parse the hybridization query [^${n}]`);
      return q;
    });
  }

  /** RDKit's Atom.GetMass(): the average atomic weight, or the isotope's mass when one is given. */
  mass(z: number, isotope: number): number {
    if (z === 0) return 0;
    const key = `${isotope}:${z}`;
    let m = this.masses.get(key);
    if (m === undefined) {
      // A lone bracket atom has no implicit hydrogen: its molecular weight is the atom's mass.
      const mol = this.rd.get_mol(`[${isotope > 0 ? isotope : ''}#${z}]`);
      try {
        if (!mol?.is_valid()) throw new Error(`RDKit has no atom with atomic number ${z}`);
        m = (JSON.parse(mol.get_descriptors()) as { amw: number }).amw;
      } finally {
        mol?.delete();
      }
      this.masses.set(key, m);
    }
    return m;
  }
}

const tables = new WeakMap<RDKitModule, RdkitTables>();
function tablesOf(rd: RDKitModule): RdkitTables {
  let t = tables.get(rd);
  if (!t) {
    t = new RdkitTables(rd);
    tables.set(rd, t);
  }
  return t;
}

/** Atom indices a SMARTS query matches (each match is one atom here). */
function matchedAtoms(mol: Mol, q: Mol): number[] {
  const r = JSON.parse(mol.get_substruct_matches(q)) as { atoms: number[] }[] | Record<string, never>;
  return Array.isArray(r) ? r.map((m) => m.atoms[0]!) : [];
}

/**
 * Chemprop v1's atom and bond features of a molecule RDKit has parsed (see the file's header
 * for the columns).
 * @example const g = withMolecule(RD, 'CCO', (mol) => chempropGraph(RD, mol));
 */
export function chempropGraph(rd: RDKitModule, mol: Mol): ChempropGraph {
  const tab = tablesOf(rd);
  const j = JSON.parse(mol.get_json()) as RdJson;
  const m = j.molecules[0]!,
    da = j.defaults.atom,
    db = j.defaults.bond;
  const n = m.atoms.length,
    nb = m.bonds.length;
  const ext = m.extensions?.[0] ?? {};
  const aromatic = new Uint8Array(n),
    inRing = new Uint8Array(n),
    aromaticBond = new Uint8Array(nb);
  for (const a of ext.aromaticAtoms ?? []) aromatic[a] = 1;
  for (const b of ext.aromaticBonds ?? []) aromaticBond[b] = 1;
  const z = Int32Array.from(m.atoms, (a) => a.z ?? da.z);
  const hs = Int32Array.from(m.atoms, (a) => a.impHs ?? da.impHs);
  const chg = Int32Array.from(m.atoms, (a) => a.chg ?? da.chg);
  const nRad = Int32Array.from(m.atoms, (a) => a.nRad ?? da.nRad);
  const src = Int32Array.from(m.bonds, (b) => b.atoms[0]),
    dst = Int32Array.from(m.bonds, (b) => b.atoms[1]);
  const order = Int32Array.from(m.bonds, (b) => b.bo ?? db.bo);

  // A bond is in a ring when its atoms are neighbours in one of RDKit's rings (every ring bond
  // lies on some ring of the smallest set).
  const ringPairs = new Set<number>();
  for (const ring of ext.atomRings ?? [])
    ring.forEach((a, i) => {
      const b = ring[(i + 1) % ring.length]!;
      inRing[a] = 1;
      ringPairs.add(Math.min(a, b) * n + Math.max(a, b));
    });

  const bondsOf: number[][] = Array.from({ length: n }, () => []);
  for (let b = 0; b < nb; b++) {
    bondsOf[src[b]!]!.push(b);
    bondsOf[dst[b]!]!.push(b);
  }
  const degree = (a: number): number => bondsOf[a]!.length;

  // RDKit's conjugation (MolOps::setConjugation): aromatic bonds, then around each candidate atom
  // with 2 or 3 neighbours + Hs, a multiple bond and any other bond to a candidate with at most 3.
  const valenceContrib = (b: number): number => (aromaticBond[b] ? 1.5 : order[b]!);
  const electrons = (a: number): number => {
    // countAtomElec: electrons the atom can give to a π system (−1: it cannot take part).
    const e = CONJUGABLE.get(z[a]!);
    if (!e) return -1;
    const [dv, nouter] = e;
    let deg = degree(a) + hs[a]!;
    for (const b of bondsOf[a]!) if (Math.round(valenceContrib(b)) === 0) deg--;
    if (deg > 3) return -1;
    const lonePairElectrons = Math.max(nouter - dv - chg[a]!, 0);
    return dv - deg + lonePairElectrons - nRad[a]!;
  };
  const candidate = (a: number): boolean => {
    const nouter = CONJUGABLE.get(z[a]!)?.[1] ?? 0;
    return (
      (z[a]! <= 10 || (nouter !== 5 && nouter !== 6) || (nouter === 6 && degree(a) + hs[a]! < 2)) && electrons(a) > 0
    );
  };
  const conjugated = Uint8Array.from(aromaticBond);
  for (let a = 0; a < n; a++) {
    if (!candidate(a)) continue;
    const sbo = degree(a) + hs[a]!;
    if (sbo < 2 || sbo > 3) continue;
    for (const b1 of bondsOf[a]!) {
      if (valenceContrib(b1) < 1.5) continue;
      for (const b2 of bondsOf[a]!) {
        if (b1 === b2) continue;
        const other = src[b2] === a ? dst[b2]! : src[b2]!;
        if (degree(other) + hs[other]! > 3 || !candidate(other)) continue;
        conjugated[b1] = 1;
        conjugated[b2] = 1;
      }
    }
  }

  const hybrid = new Int8Array(n).fill(-1);
  tab.hybridQueries.forEach((q, h) => {
    for (const a of matchedAtoms(mol, q)) hybrid[a] = h;
  });

  const F = CHEMPROP_ATOM_FEATURES,
    L = CHEMPROP_ATOM_LAYOUT,
    x = new Float32Array(n * F);
  const slot = (v: number, choices: number): number => (v >= 0 && v < choices ? v : choices);
  for (let a = 0; a < n; a++) {
    const o = a * F,
      atom = m.atoms[a]!;
    x[o + L.atomicNum + (z[a]! >= 1 && z[a]! <= 100 ? z[a]! - 1 : 100)] = 1;
    x[o + L.degree + slot(degree(a) + hs[a]!, 6)] = 1;
    const c = FORMAL_CHARGES.indexOf(chg[a]!);
    x[o + L.formalCharge + (c < 0 ? 5 : c)] = 1;
    x[o + L.chiralTag + (CHIRAL_TAGS[atom.stereo ?? da.stereo] ?? 4)] = 1;
    x[o + L.numHs + slot(hs[a]!, 5)] = 1;
    x[o + L.hybridization + (hybrid[a]! < 0 ? 5 : hybrid[a]!)] = 1;
    x[o + L.aromatic] = aromatic[a]!;
    x[o + L.mass] = tab.mass(z[a]!, atom.isotope ?? da.isotope) * 0.01;
  }

  // Double-bond stereo: RDKit's CIP label of the bond (Z or E), as legacy perception assigns it.
  const cip = new Map<number, string>();
  for (const [a, b, label] of (JSON.parse(mol.get_stereo_tags()) as { CIP_bonds: [number, number, string][] })
    .CIP_bonds)
    cip.set(Math.min(a, b) * n + Math.max(a, b), label);
  const B = CHEMPROP_BOND_FEATURES,
    BL = CHEMPROP_BOND_LAYOUT,
    bondAttr = new Float32Array(nb * B),
    w = new Float32Array(nb);
  for (let b = 0; b < nb; b++) {
    const o = b * B,
      bo = order[b]!,
      pair = Math.min(src[b]!, dst[b]!) * n + Math.max(src[b]!, dst[b]!);
    if (aromaticBond[b]) bondAttr[o + BL.aromatic] = 1;
    else if (bo === 1) bondAttr[o + BL.single] = 1;
    else if (bo === 2) bondAttr[o + BL.double] = 1;
    else if (bo === 3) bondAttr[o + BL.triple] = 1;
    w[b] = aromaticBond[b] ? 1.5 : bo;
    bondAttr[o + BL.conjugated] = conjugated[b]!;
    bondAttr[o + BL.inRing] = ringPairs.has(pair) ? 1 : 0;
    const st = m.bonds[b]!.stereo ?? db.stereo,
      label = cip.get(pair);
    let s: number = STEREO.none;
    if (st === 'either') s = STEREO.any;
    else if (st === 'cis' || st === 'trans')
      s = label === '(Z)' ? STEREO.z : label === '(E)' ? STEREO.e : st === 'cis' ? STEREO.cis : STEREO.trans;
    else if (st !== 'unspecified') s = 6;
    bondAttr[o + BL.stereo + s] = 1;
  }
  return { atoms: n, x, src, dst, bondAttr, w, z, inRing, aromatic };
}

/**
 * A molecule's bonds as directed edges, Chemprop's way: bond b becomes edge 2b (src → dst) and
 * edge 2b + 1 (dst → src), both with the bond's features, so edge e's reverse is e ^ 1.
 * @example const d = directedBonds(g.src, g.dst, g.bondAttr, CHEMPROP_BOND_FEATURES);
 */
export function directedBonds(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  bondAttr: ArrayLike<number>,
  dim: number,
): { src: Int32Array; dst: Int32Array; attr: Float32Array } {
  const nb = src.length,
    s = new Int32Array(2 * nb),
    d = new Int32Array(2 * nb),
    attr = new Float32Array(2 * nb * dim);
  for (let b = 0; b < nb; b++) {
    s[2 * b] = d[2 * b + 1] = src[b]!;
    d[2 * b] = s[2 * b + 1] = dst[b]!;
    for (let c = 0; c < dim; c++) attr[2 * b * dim + c] = attr[(2 * b + 1) * dim + c] = bondAttr[b * dim + c]!;
  }
  return { src: s, dst: d, attr };
}
