import type { GraphSample } from '../graph/batch.js';
import {
  ATOM_FEATURES,
  atomGraph,
  ELEMENT_Z,
  ELEMENTS,
  MOLECULE_FEATURIZER,
  MORGAN_BITS,
  morganBits,
  withMolecule,
  type AtomGraph,
} from '../graph/molecule-graph.js';
import { rdkit } from './rdkit.js';
import { SIMILARITY_FP } from './similarity.js';

/** The featurizer's version (graph/molecule-graph.ts): part of the featurized-graph cache key. */
export const FEATURIZER_VERSION = MOLECULE_FEATURIZER;
export { ATOM_FEATURES, ELEMENTS, MORGAN_BITS };

/**
 * The record of this featurizer a graph model carries (graph/preprocess.ts's Featurizer, in
 * its checkpoint and model files): its name, columns per atom and, for the hybrid, the Morgan
 * bits of its dense branch. graft/infer refuses graphs featurized otherwise.
 */
export function featurizerRecord(hybrid: boolean): { name: string; atomFeatures: number; descriptors?: number } {
  return { name: FEATURIZER_VERSION, atomFeatures: ATOM_FEATURES, ...(hybrid ? { descriptors: MORGAN_BITS } : {}) };
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
}

/**
 * Parses a SMILES with RDKit and builds the graph and atom features (graph/molecule-graph.ts,
 * the featurizer graft/infer's moleculeGraph runs too), with the Morgan bits of the hybrid
 * branch and the similarity fingerprint from the same parse. Null when RDKit cannot parse or
 * sanitize it.
 */
export async function smilesToGraph(smiles: string): Promise<MolGraph | null> {
  const RD = await rdkit();
  return withMolecule(RD, smiles, (mol) => ({
    ...atomGraph(mol),
    morgan: morganBits(mol),
    similarity: Uint8Array.from(mol.get_morgan_fp_as_uint8array(SIMILARITY_FP)),
  }));
}

/** A GraphSample for training from a molecule and its labels. */
export function toSample(g: MolGraph, y: Float32Array, withDescriptors: boolean): GraphSample {
  return {
    nodes: g.atoms,
    x: g.x,
    src: g.src,
    dst: g.dst,
    w: g.w,
    y,
    ...(withDescriptors ? { descriptors: g.morgan } : {}),
  };
}
