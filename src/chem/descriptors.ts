import { GraftError } from '../core/errors.js';
import { rdkit } from './rdkit.js';

// Molecule-level descriptors for the hybrid's dense branch: RDKit's 2D descriptors as
// MinimalLib computes them (JMolDescriptors: counts, ring counts, Lipinski's donors and
// acceptors, TPSA, Crippen logP and MR, connectivity and shape indices), the kind of
// "features" Chemprop feeds beside its D-MPNN (its rdkit_2d set is a superset of these).
// They are standardized on the training split only, so no statistic of the validation or
// test molecules leaks into training.

/** The descriptors, in column order: MinimalLib's get_descriptors() keys (RDKit 2026.09). */
export const MOLECULE_DESCRIPTORS = [
  'exactmw',
  'amw',
  'lipinskiHBA',
  'lipinskiHBD',
  'NumRotatableBonds',
  'NumHBD',
  'NumHBA',
  'NumHeavyAtoms',
  'NumAtoms',
  'NumHeteroatoms',
  'NumAmideBonds',
  'FractionCSP3',
  'NumRings',
  'NumAromaticRings',
  'NumAliphaticRings',
  'NumSaturatedRings',
  'NumHeterocycles',
  'NumAromaticHeterocycles',
  'NumSaturatedHeterocycles',
  'NumAliphaticHeterocycles',
  'NumSpiroAtoms',
  'NumBridgeheadAtoms',
  'NumAtomStereoCenters',
  'NumUnspecifiedAtomStereoCenters',
  'labuteASA',
  'tpsa',
  'CrippenClogP',
  'CrippenMR',
  'chi0v',
  'chi1v',
  'chi2v',
  'chi3v',
  'chi4v',
  'chi0n',
  'chi1n',
  'chi2n',
  'chi3n',
  'chi4n',
  'hallKierAlpha',
  'kappa1',
  'kappa2',
  'kappa3',
  'Phi',
] as const;

/** Columns of a molecule's descriptor row. */
export const DESCRIPTOR_COUNT = MOLECULE_DESCRIPTORS.length;

/**
 * Standardized values are clipped to ±DESCRIPTOR_CLIP: a few molecules (SIDER's peptides of
 * mass above 1,500) sit ten or more training sds out, and one such input would swamp the
 * dense branch's ReLU units for every molecule it shares a batch with.
 */
export const DESCRIPTOR_CLIP = 5;

/**
 * RDKit's 2D descriptors of each SMILES, row-major [smiles.length, DESCRIPTOR_COUNT] in
 * MOLECULE_DESCRIPTORS order; a row RDKit cannot parse, or a value it gives as non-finite, is
 * NaN (standardizeDescriptors puts the training mean there).
 * @example const d = await moleculeDescriptors(['CCO']); // d[0] = exactmw 46.0419, d[7] = NumHeavyAtoms 3
 */
export async function moleculeDescriptors(smiles: readonly string[]): Promise<Float32Array> {
  const RD = await rdkit();
  const out = new Float32Array(smiles.length * DESCRIPTOR_COUNT).fill(NaN);
  smiles.forEach((s, i) => {
    if (s.trim() === '') return;
    const mol = RD.get_mol(s);
    if (!mol) return;
    try {
      if (!mol.is_valid()) return;
      const d = JSON.parse(mol.get_descriptors()) as Record<string, number>;
      MOLECULE_DESCRIPTORS.forEach((k, j) => {
        const v = d[k];
        if (typeof v === 'number' && Number.isFinite(v)) out[i * DESCRIPTOR_COUNT + j] = v;
      });
    } finally {
      mol.delete();
    }
  });
  return out;
}

/** Per-column mean and standard deviation of the training rows: what standardizeDescriptors applies. */
export interface DescriptorScaling {
  mean: Float64Array;
  sd: Float64Array;
}

/**
 * Mean and (population) sd of each column over the rows `fit` of `x` [rows, cols], NaNs
 * left out; a column with no finite value gets mean 0, and a constant one sd 1 (it then
 * standardizes to 0 everywhere).
 */
export function descriptorScaling(x: Float32Array, cols: number, fit: readonly number[]): DescriptorScaling {
  if (!Number.isInteger(cols) || cols < 1 || x.length % cols !== 0)
    throw new GraftError(`descriptorScaling: ${x.length} values are not rows of ${cols} columns`);
  const mean = new Float64Array(cols),
    sd = new Float64Array(cols);
  for (let j = 0; j < cols; j++) {
    let n = 0,
      sum = 0;
    for (const r of fit) {
      const v = x[r * cols + j]!;
      if (!Number.isNaN(v)) {
        n++;
        sum += v;
      }
    }
    const m = n ? sum / n : 0;
    let ss = 0;
    for (const r of fit) {
      const v = x[r * cols + j]!;
      if (!Number.isNaN(v)) ss += (v - m) * (v - m);
    }
    const s = n ? Math.sqrt(ss / n) : 0;
    mean[j] = m;
    sd[j] = s > 0 ? s : 1;
  }
  return { mean, sd };
}

/** (x − mean)/sd per column, clipped to ±DESCRIPTOR_CLIP, NaN to 0 (the mean): a new array. */
export function standardizeDescriptors(x: Float32Array, scaling: DescriptorScaling): Float32Array {
  const cols = scaling.mean.length;
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const j = i % cols;
    const z = (x[i]! - scaling.mean[j]!) / scaling.sd[j]!;
    out[i] = Number.isNaN(z) ? 0 : Math.max(-DESCRIPTOR_CLIP, Math.min(DESCRIPTOR_CLIP, z));
  }
  return out;
}
