import { GraftError } from '../core/errors.js';
import { GRAPH_MODEL_CHOICES } from '../nn/task-models.js';
import {
  ATOM_FEATURES,
  MOLECULE_FEATURIZER,
  MORGAN_BITS,
  morganBits,
  withMolecule,
  type RDKitLike,
} from '../graph/molecule-graph.js';
import {
  CHEMPROP_ATOM_FEATURES,
  CHEMPROP_BOND_FEATURES,
  CHEMPROP_FEATURIZER,
  moleculeFeatureGraph,
  moleculeGraphFields,
} from '../graph/chemprop-features.js';

// Molecules for graft/infer: a SMILES featurized into the graph a graft train --task graph
// model reads, with RDKit's MinimalLib (@rdkit/rdkit) passed in by the caller, so the bundle
// itself stays free of it (a page loads RDKit_minimal.js and its .wasm beside it). The
// featurizers are training's own (graph/molecule-graph.ts and graph/chemprop-features.ts,
// which chem/featurize.ts calls too); test/infer.test.ts and test/graph-model-interop.test.ts
// check the bundle's output against training's on the same molecules.

export { MOLECULE_FEATURIZER, CHEMPROP_FEATURIZER };
/** Columns per atom of Chemprop's features (moleculeGraph's `atomFeatures: 'chemprop'`). */
export const MOLECULE_CHEMPROP_ATOM_FEATURES = CHEMPROP_ATOM_FEATURES;
/** Columns per bond of Chemprop's features (a molecule graph's `edgeAttr`). */
export const MOLECULE_CHEMPROP_BOND_FEATURES = CHEMPROP_BOND_FEATURES;
export type { RDKitLike, RDKitMolLike } from '../graph/molecule-graph.js';
/** Columns per atom: element one-hot (25 + other), degree 0..5+, charge −2..+2, aromatic, hybridization (4), H count 0..4+, in ring. */
export const MOLECULE_ATOM_FEATURES = ATOM_FEATURES;
/** Morgan fingerprint bits (radius 2) of the hybrid model's dense branch. */
export const MOLECULE_MORGAN_BITS = MORGAN_BITS;

/** A featurized molecule, as GraphInput takes it (descriptors: its Morgan bits, for hybrid models). */
export interface MoleculeGraph {
  nodes: number;
  x: Float32Array;
  src: Int32Array;
  dst: Int32Array;
  w: Float32Array;
  /** Chemprop's bond features [bonds, 14], bond e joining src[e] and dst[e] (atomFeatures 'chemprop' only). */
  edgeAttr?: Float32Array;
  descriptors?: Float32Array;
  featurizer: string;
}

/** How moleculeGraph featurizes: graft's own atom features (the default) or Chemprop's, and the hybrid's Morgan bits. */
export interface MoleculeGraphOptions {
  /** Add the 1024 Morgan bits a hybrid model's dense branch reads. */
  descriptors?: boolean;
  /** 'default' (graft's 48 atom columns: MoleculeFeatureSet's 'graft') or 'chemprop' (Chemprop v1's 133 atom and 14 bond columns), as at training. */
  atomFeatures?: 'default' | 'chemprop';
}

/**
 * A SMILES as the graph graft's graph models read: heavy atoms as nodes, bonds as edges
 * weighted by bond order (aromatic 1.5). Atom features as the run's `--atom-features` made
 * them: graft's 48 columns by default, or with `atomFeatures: 'chemprop'` Chemprop's 133
 * atom columns and 14 bond columns (`edgeAttr`, read by models of kind gine and dmpnn). Null
 * when RDKit cannot parse it. `descriptors: true` adds the 1024 Morgan bits a hybrid model's
 * dense branch reads.
 *
 * @example
 *   import initRDKitModule from '@rdkit/rdkit';
 *   const RDKit = await initRDKitModule();
 *   const g = moleculeGraph(RDKit, 'CCO');              // 3 atoms, 2 bonds
 *   const c = moleculeGraph(RDKit, 'CCO', { atomFeatures: 'chemprop' }); // for a D-MPNN run
 *   const { probs } = await model.predictGraphs([g!]);
 */
export function moleculeGraph(
  rdkit: RDKitLike,
  smiles: string,
  options: MoleculeGraphOptions = {},
): MoleculeGraph | null {
  if (typeof rdkit?.get_mol !== 'function')
    throw new GraftError(
      "moleculeGraph: the first argument must be RDKit's module (await initRDKitModule() from @rdkit/rdkit)",
    );
  if (typeof smiles !== 'string') throw new GraftError(`moleculeGraph: smiles must be a string, got ${typeof smiles}`);
  const set = options.atomFeatures ?? 'default';
  if (set !== 'default' && set !== 'chemprop')
    throw new GraftError(
      `moleculeGraph: options.atomFeatures must be 'default' or 'chemprop', got ${JSON.stringify(set)}`,
    );
  return withMolecule(rdkit, smiles, (mol) => {
    return {
      ...moleculeGraphFields(moleculeFeatureGraph(rdkit, mol, set === 'default' ? 'graft' : 'chemprop')),
      featurizer: set === 'default' ? MOLECULE_FEATURIZER : CHEMPROP_FEATURIZER,
      ...(options.descriptors ? { descriptors: morganBits(mol) } : {}),
    };
  });
}

/**
 * Refuses a graph model of a kind this graft/infer does not know (a newer graft's), named in
 * the error, so it is never run as another model on weights that are not that model's.
 */
export function checkInferGraphModel(config: Readonly<Record<string, unknown>>, name: string): void {
  const model = config['model'] ?? 'gcn';
  if (!(GRAPH_MODEL_CHOICES as readonly unknown[]).includes(model))
    throw new GraftError(
      `${name}: a graph model of kind ${String(model)}: this graft/infer rebuilds ${GRAPH_MODEL_CHOICES.join(', ')}`,
    );
}
