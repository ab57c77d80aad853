import { describe, expect, it } from 'vitest';
import type { MoleculeDataset } from '../src/chem/dataset.js';
import {
  DESCRIPTOR_CLIP,
  DESCRIPTOR_COUNT,
  MOLECULE_DESCRIPTORS,
  descriptorScaling,
  moleculeDescriptors,
  standardizeDescriptors,
} from '../src/chem/descriptors.js';
import { featurizeSmiles, MORGAN_BITS, type MolGraph } from '../src/chem/featurize.js';
import { denseInputs, hybridInputWidth } from '../src/chem/train-molecules.js';

// The hybrid's molecule-level descriptors. Oracles: masses and counts worked out by hand from
// the formulas (IUPAC standard atomic weights, as RDKit's amw uses), and the training rows'
// mean and sd computed here independently.

const col = (name: (typeof MOLECULE_DESCRIPTORS)[number]): number => MOLECULE_DESCRIPTORS.indexOf(name);
const smiles = ['CCO', 'c1ccccc1', 'CC(=O)Nc1ccc(O)cc1', 'C1CC'];

describe('moleculeDescriptors', () => {
  it('gives the hand-computed masses and counts, and NaN for a SMILES RDKit rejects', async () => {
    const d = await moleculeDescriptors(smiles);
    expect(d.length).toBe(smiles.length * DESCRIPTOR_COUNT);
    const at = (i: number, name: (typeof MOLECULE_DESCRIPTORS)[number]): number => d[i * DESCRIPTOR_COUNT + col(name)]!;
    // Ethanol C2H6O: 2·12.011 + 6·1.008 + 15.999; monoisotopic 2·12 + 6·1.00782503 + 15.99491462.
    expect(at(0, 'amw')).toBeCloseTo(46.069, 3);
    expect(at(0, 'exactmw')).toBeCloseTo(46.0418648, 4);
    expect([at(0, 'NumHeavyAtoms'), at(0, 'NumAtoms'), at(0, 'lipinskiHBD'), at(0, 'NumRings')]).toEqual([3, 9, 1, 0]);
    // Benzene C6H6: one aromatic ring, no sp3 carbon.
    expect(at(1, 'amw')).toBeCloseTo(78.114, 3);
    expect([at(1, 'NumRings'), at(1, 'NumAromaticRings'), at(1, 'FractionCSP3')]).toEqual([1, 1, 0]);
    // Paracetamol C8H9NO2: the OH and the NH donate, one amide bond, 3 heteroatoms, 1 of 8 carbons sp3.
    expect(at(2, 'amw')).toBeCloseTo(151.165, 3);
    expect([at(2, 'lipinskiHBD'), at(2, 'NumAmideBonds'), at(2, 'NumHeteroatoms')]).toEqual([2, 1, 3]);
    expect(at(2, 'FractionCSP3')).toBeCloseTo(0.125, 6);
    // An unclosed ring: the whole row is missing.
    expect(Array.from(d.subarray(3 * DESCRIPTOR_COUNT)).every(Number.isNaN)).toBe(true);
  });
});

describe('descriptorScaling and standardizeDescriptors', () => {
  // 4 rows of 2 columns; the scaling is fitted on rows 0 and 1 only.
  const x = Float32Array.from([1, 10, 3, 10, 5, Number.NaN, 101, 10]);

  it("fits on the given rows only (population sd), a constant column's sd is 1", () => {
    const s = descriptorScaling(x, 2, [0, 1]);
    expect(Array.from(s.mean)).toEqual([2, 10]);
    expect(Array.from(s.sd)).toEqual([1, 1]);
  });

  it('standardizes, clips at ±DESCRIPTOR_CLIP and puts 0 (the mean) for a missing value', () => {
    const z = standardizeDescriptors(x, descriptorScaling(x, 2, [0, 1]));
    expect(Array.from(z)).toEqual([-1, 0, 1, 0, 3, 0, DESCRIPTOR_CLIP, 0]);
  });

  it('refuses values that are not whole rows', () => {
    expect(() => descriptorScaling(new Float32Array(5), 2, [0])).toThrow(/5 values are not rows of 2 columns/);
  });
});

describe("denseInputs: the hybrid's dense branch input", () => {
  it('holds the Morgan bits, then the descriptors scaled by the training rows alone', async () => {
    const valid = smiles.slice(0, 3);
    const graphs = (await Promise.all(valid.map((s) => featurizeSmiles(s, {})))) as MolGraph[];
    const ds: MoleculeDataset = {
      file: 'three.csv',
      targets: ['t'],
      smiles: valid,
      lines: [2, 3, 4],
      rows: [0, 1, 2],
      graphs,
      y: new Float32Array(3),
      invalid: [],
      fromCache: false,
    };
    const train = [0, 2];
    const both = await denseInputs(ds, 'both', train);
    const raw = await moleculeDescriptors(valid);
    const j = col('exactmw');
    const m0 = raw[j]!,
      m2 = raw[2 * DESCRIPTOR_COUNT + j]!;
    const mean = (m0 + m2) / 2,
      sd = Math.abs(m0 - m2) / 2;
    expect(both.rows[1]!.length).toBe(hybridInputWidth('both'));
    expect(hybridInputWidth('both')).toBe(MORGAN_BITS + DESCRIPTOR_COUNT);
    expect(Array.from(both.rows[1]!.subarray(0, MORGAN_BITS))).toEqual(Array.from(graphs[1]!.morgan));
    // Benzene (not a training row) against ethanol's and paracetamol's mean and sd.
    expect(both.rows[1]![MORGAN_BITS + j]).toBeCloseTo((raw[DESCRIPTOR_COUNT + j]! - mean) / sd, 5);
    expect(both.scaling!.mean[j]).toBeCloseTo(mean, 4);
    const only = await denseInputs(ds, 'descriptors', train);
    expect(Array.from(only.rows[1]!)).toEqual(Array.from(both.rows[1]!.subarray(MORGAN_BITS)));
    const fp = await denseInputs(ds, 'fingerprint', train);
    expect(fp.scaling).toBeNull();
    expect(fp.rows[0]).toBe(graphs[0]!.morgan);
  });
});
