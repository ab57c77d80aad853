import type { GraphSample } from '../graph/batch.js';
import {
  ATOM_FEATURES,
  ELEMENT_Z,
  ELEMENTS,
  MOLECULE_FEATURIZER,
  MORGAN_BITS,
  morganBits,
  withMolecule,
  type AtomGraph,
} from '../graph/molecule-graph.js';
import {
  CHEMPROP_ATOM_FEATURES,
  CHEMPROP_BOND_FEATURES,
  CHEMPROP_FEATURIZER,
  moleculeFeatureGraph,
  moleculeGraphFields,
} from '../graph/chemprop-features.js';
import { rdkit } from './rdkit.js';
import { SIMILARITY_FP } from './similarity.js';

/** The featurizer's version (graph/molecule-graph.ts): part of the featurized-graph cache key. */
export const FEATURIZER_VERSION = MOLECULE_FEATURIZER;
export { ATOM_FEATURES, ELEMENTS, MORGAN_BITS };

/**
 * Which atom (and bond) features a molecule gets: 'graft' (graft's own 48 atom columns, the
 * default) or 'chemprop' (Chemprop v1's 133 atom and 14 bond columns); the names and how
 * graft/infer's 'default' maps to 'graft': graph/chemprop-features.ts's MoleculeFeatureSet, the same two.
 */
export type AtomFeatureSet = 'graft' | 'chemprop';

/** Each feature set's name and version, which keys the featurized-graph cache. */
export function featurizerName(set: AtomFeatureSet): string {
  return set === 'chemprop' ? CHEMPROP_FEATURIZER : FEATURIZER_VERSION;
}

/** The feature set a featurizer name (featurizerName's) stands for; null for a name this graft does not make. */
export function featureSetOf(name: string): AtomFeatureSet | null {
  return name === FEATURIZER_VERSION ? 'graft' : name === CHEMPROP_FEATURIZER ? 'chemprop' : null;
}

/** Atom feature columns of a feature set. */
export function atomFeatureCount(set: AtomFeatureSet): number {
  return set === 'chemprop' ? CHEMPROP_ATOM_FEATURES : ATOM_FEATURES;
}

/** Bond feature columns of a feature set (0: the set has none). */
export function bondFeatureCount(set: AtomFeatureSet): number {
  return set === 'chemprop' ? CHEMPROP_BOND_FEATURES : 0;
}

/**
 * The record of this featurizer a graph model carries (graph/preprocess.ts's Featurizer, in
 * its checkpoint and model files): its name, columns per atom and, for the hybrid, the Morgan
 * bits of its dense branch. graft/infer refuses graphs featurized otherwise.
 */
export function featurizerRecord(
  hybrid: boolean,
  set: AtomFeatureSet = 'graft',
): { name: string; atomFeatures: number; descriptors?: number } {
  return {
    name: featurizerName(set),
    atomFeatures: atomFeatureCount(set),
    ...(hybrid ? { descriptors: MORGAN_BITS } : {}),
  };
}

const SYMBOL = new Map(ELEMENT_Z.map((z, i) => [z, ELEMENTS[i]!]));

/** An atom's element symbol from its atomic number (Z<n> for elements without a slot of their own). */
export function elementSymbol(z: number): string {
  return SYMBOL.get(z) ?? `Z${z}`;
}

/** A molecule as a graph (atoms, bonds, atom features), with its fingerprints. */
export interface MolGraph extends AtomGraph {
  morgan: Float32Array;
  /**
   * The Morgan fingerprint for similarity (radius 2, SIMILARITY_BITS, packed as RDKit gives
   * it), taken from the same parse; absent in graphs read from a cache written before it.
   */
  similarity?: Uint8Array;
  /**
   * Bond features [bonds, bondFeatureCount] row-major, bond b joining src[b] and dst[b]
   * (the 'chemprop' feature set; absent with graft's own, which has none).
   */
  bondAttr?: Float32Array;
}

/** How smilesToGraph featurizes: which atom (and bond) features. */
export interface FeaturizeOptions {
  /** 'graft' (the default) or 'chemprop'. */
  atomFeatures?: AtomFeatureSet;
}

/**
 * Parses a SMILES with RDKit and builds the graph and atom features (graph/molecule-graph.ts,
 * the featurizer graft/infer's moleculeGraph runs too), with the Morgan bits of the hybrid
 * branch and the similarity fingerprint from the same parse. Null when RDKit cannot parse or
 * sanitize it.
 */
export async function smilesToGraph(smiles: string): Promise<MolGraph | null> {
  return featurizeSmiles(smiles, {});
}

/**
 * smilesToGraph with a choice of features: `atomFeatures: 'chemprop'` gives Chemprop v1's 133
 * atom and 14 bond columns (graph/chemprop-features.ts) in place of graft's 48 atom columns.
 * @example const g = await featurizeSmiles('CCO', { atomFeatures: 'chemprop' }); // g.x: 3 × 133, g.bondAttr: 2 × 14
 */
export async function featurizeSmiles(smiles: string, options: FeaturizeOptions): Promise<MolGraph | null> {
  const RD = await rdkit();
  const set = options.atomFeatures ?? 'graft';
  return withMolecule(RD, smiles, (mol) => {
    const common = {
      morgan: morganBits(mol),
      similarity: Uint8Array.from(mol.get_morgan_fp_as_uint8array(SIMILARITY_FP)),
    };
    return { ...moleculeFeatureGraph(RD, mol, set), ...common };
  });
}

/** A GraphSample for training from a molecule and its labels. */
export function toSample(g: MolGraph, y: Float32Array, withDescriptors: boolean): GraphSample {
  return {
    ...moleculeGraphFields(g),
    y,
    ...(withDescriptors ? { descriptors: g.morgan } : {}),
  };
}
