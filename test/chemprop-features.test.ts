// Chemprop v1's atom and bond features (graph/chemprop-features.ts) against vectors built here
// from Chemprop's definition (its onek_encoding_unk lists, restated below) and atom and bond
// properties written by hand for each molecule: ethanol, benzene, pyrrole, charged atoms, a
// chiral centre (both hands), a double bond with E, Z and no stereo, an isotope and a dummy
// atom (the "other" slots). Then: the features per directed bond in D-MPNN's message graph,
// and the featurized-graph cache keyed by the feature set.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { directedBonds } from '../src/graph/chemprop-features.js';
import { loadMoleculeCsv } from '../src/chem/dataset.js';
import { featurizeSmiles } from '../src/chem/featurize.js';
import { MessageGraph } from '../src/graph/message-graph.js';
import { Runtime } from '../src/runtime/runtime.js';

// Chemprop v1's choices (featurization.py's ATOM_FEATURES), each one-hot with an "other" slot last.
const ATOMIC_NUM = Array.from({ length: 100 }, (_, i) => i); // holds Z − 1
const DEGREE = [0, 1, 2, 3, 4, 5];
const FORMAL_CHARGE = [-1, -2, 1, 2, 0];
const CHIRAL_TAG = [0, 1, 2, 3]; // unspecified, CW, CCW, other
const NUM_HS = [0, 1, 2, 3, 4];
const HYBRIDIZATION = ['SP', 'SP2', 'SP3', 'SP3D', 'SP3D2'];
const STEREO = [0, 1, 2, 3, 4, 5]; // NONE, ANY, Z, E, CIS, TRANS

function onek<T>(value: T, choices: T[]): number[] {
  const e = new Array<number>(choices.length + 1).fill(0);
  const i = choices.indexOf(value);
  e[i < 0 ? choices.length : i] = 1;
  return e;
}

interface Atom {
  z: number;
  degree: number;
  charge: number;
  chiral: number;
  hs: number;
  hyb: string;
  aromatic: boolean;
  mass: number;
}
const atomVec = (a: Atom): number[] => [
  ...onek(a.z - 1, ATOMIC_NUM),
  ...onek(a.degree, DEGREE),
  ...onek(a.charge, FORMAL_CHARGE),
  ...onek(a.chiral, CHIRAL_TAG),
  ...onek(a.hs, NUM_HS),
  ...onek(a.hyb, HYBRIDIZATION),
  a.aromatic ? 1 : 0,
  Math.fround(a.mass * 0.01),
];

interface Bond {
  type: 'single' | 'double' | 'triple' | 'aromatic';
  conjugated: boolean;
  ring: boolean;
  stereo: number;
}
const bondVec = (b: Bond): number[] => [
  0,
  b.type === 'single' ? 1 : 0,
  b.type === 'double' ? 1 : 0,
  b.type === 'triple' ? 1 : 0,
  b.type === 'aromatic' ? 1 : 0,
  b.conjugated ? 1 : 0,
  b.ring ? 1 : 0,
  ...onek(b.stereo, STEREO),
];

// RDKit's atomic weights (its periodic table; Chemprop reads them with Atom.GetMass()).
const C = 12.011,
  N = 14.007,
  O = 15.999,
  F = 18.998,
  Cl = 35.453;
const sp3 = (z: number, degree: number, hs: number, mass: number, more: Partial<Atom> = {}): Atom => ({
  z,
  degree,
  charge: 0,
  chiral: 0,
  hs,
  hyb: 'SP3',
  aromatic: false,
  mass,
  ...more,
});
const single: Bond = { type: 'single', conjugated: false, ring: false, stereo: 0 };

const CASES: { smiles: string; atoms: Atom[]; bonds: Bond[] }[] = [
  { smiles: 'CCO', atoms: [sp3(6, 4, 3, C), sp3(6, 4, 2, C), sp3(8, 2, 1, O)], bonds: [single, single] },
  {
    smiles: 'c1ccccc1',
    atoms: Array.from({ length: 6 }, () => sp3(6, 3, 1, C, { hyb: 'SP2', aromatic: true })),
    bonds: Array.from({ length: 6 }, () => ({ type: 'aromatic', conjugated: true, ring: true, stereo: 0 })),
  },
  {
    // Pyrrole: the NH is aromatic and SP2 (its lone pair is in the ring's π system).
    smiles: '[nH]1cccc1',
    atoms: [
      sp3(7, 3, 1, N, { hyb: 'SP2', aromatic: true }),
      ...Array.from({ length: 4 }, () => sp3(6, 3, 1, C, { hyb: 'SP2', aromatic: true })),
    ],
    bonds: Array.from({ length: 5 }, () => ({ type: 'aromatic', conjugated: true, ring: true, stereo: 0 })),
  },
  {
    // A quaternary ammonium: charge +1, four carbons, no H.
    smiles: 'C[N+](C)(C)C',
    atoms: [sp3(6, 4, 3, C), sp3(7, 4, 0, N, { charge: 1 }), sp3(6, 4, 3, C), sp3(6, 4, 3, C), sp3(6, 4, 3, C)],
    bonds: [single, single, single, single],
  },
  {
    // Acetate: the carboxylate is conjugated (C=O and C–O⁻), its oxygens SP2; the methyl bond is not.
    smiles: 'CC(=O)[O-]',
    atoms: [
      sp3(6, 4, 3, C),
      sp3(6, 3, 0, C, { hyb: 'SP2' }),
      sp3(8, 1, 0, O, { hyb: 'SP2' }),
      sp3(8, 1, 0, O, { hyb: 'SP2', charge: -1 }),
    ],
    bonds: [
      single,
      { type: 'double', conjugated: true, ring: false, stereo: 0 },
      { type: 'single', conjugated: true, ring: false, stereo: 0 },
    ],
  },
  ...(['@', '@@'] as const).map((hand) => ({
    // L- and D-alanine: the α carbon's chiral tag is CCW for @ and CW for @@ (RDKit's SMILES reading).
    smiles: `C[C${hand}H](N)C(=O)O`,
    atoms: [
      sp3(6, 4, 3, C),
      sp3(6, 4, 1, C, { chiral: hand === '@' ? 2 : 1 }),
      sp3(7, 3, 2, N),
      sp3(6, 3, 0, C, { hyb: 'SP2' }),
      sp3(8, 1, 0, O, { hyb: 'SP2' }),
      sp3(8, 2, 1, O, { hyb: 'SP2' }),
    ],
    bonds: [
      single,
      single,
      single,
      { type: 'double', conjugated: true, ring: false, stereo: 0 } as Bond,
      { type: 'single', conjugated: true, ring: false, stereo: 0 } as Bond,
    ],
  })),
  ...(
    [
      ['F/C=C/Cl', 3], // E
      ['F/C=C\\Cl', 2], // Z
      ['FC=CCl', 0], // no stereo given
    ] as const
  ).map(([smiles, stereo]) => ({
    // Halogens give no π electrons in RDKit's rule, so this double bond is not conjugated.
    smiles,
    atoms: [sp3(9, 1, 0, F), sp3(6, 3, 1, C, { hyb: 'SP2' }), sp3(6, 3, 1, C, { hyb: 'SP2' }), sp3(17, 1, 0, Cl)],
    bonds: [single, { type: 'double', conjugated: false, ring: false, stereo } as Bond, single],
  })),
  {
    // Butadiene: all three bonds conjugated; the terminal carbons have 2 Hs.
    smiles: 'C=CC=C',
    atoms: [
      sp3(6, 3, 2, C, { hyb: 'SP2' }),
      sp3(6, 3, 1, C, { hyb: 'SP2' }),
      sp3(6, 3, 1, C, { hyb: 'SP2' }),
      sp3(6, 3, 2, C, { hyb: 'SP2' }),
    ],
    bonds: [
      { type: 'double', conjugated: true, ring: false, stereo: 0 },
      { type: 'single', conjugated: true, ring: false, stereo: 0 },
      { type: 'double', conjugated: true, ring: false, stereo: 0 },
    ],
  },
  {
    // Acetonitrile: a triple bond, SP carbons and nitrogen; the C–C bond is conjugated in RDKit's rule
    // only if the methyl had ≤ 3 neighbours + Hs (it has 4), so it is not.
    smiles: 'CC#N',
    atoms: [sp3(6, 4, 3, C), sp3(6, 2, 0, C, { hyb: 'SP' }), sp3(7, 1, 0, N, { hyb: 'SP' })],
    bonds: [single, { type: 'triple', conjugated: false, ring: false, stereo: 0 }],
  },
  // An isotope label: the mass is the isotope's (¹³C, RDKit's isotope table).
  { smiles: '[13CH4]', atoms: [sp3(6, 4, 4, 13.00335484)], bonds: [] },
  {
    // A dummy atom (Z = 0): atomic number, hybridization in their "other" slots, mass 0.
    smiles: '*C',
    atoms: [
      { z: 0, degree: 1, charge: 0, chiral: 0, hs: 0, hyb: 'UNSPECIFIED', aromatic: false, mass: 0 },
      sp3(6, 4, 3, C),
    ],
    bonds: [single],
  },
];

describe("Chemprop v1's molecule features", () => {
  for (const c of CASES)
    it(`${c.smiles}: every atom's 133 and every bond's 14 columns`, async () => {
      const g = (await featurizeSmiles(c.smiles, { atomFeatures: 'chemprop' }))!;
      expect(g.atoms).toBe(c.atoms.length);
      expect(g.x.length).toBe(c.atoms.length * 133);
      c.atoms.forEach((a, i) => {
        expect(Array.from(g.x.subarray(i * 133, (i + 1) * 133)), `atom ${i}`).toEqual(atomVec(a));
      });
      expect(g.bondAttr!.length).toBe(c.bonds.length * 14);
      c.bonds.forEach((b, i) => {
        expect(Array.from(g.bondAttr!.subarray(i * 14, (i + 1) * 14)), `bond ${i}`).toEqual(bondVec(b));
      });
    });

  it("graft's own features stay the default (48 columns, no bond features)", async () => {
    const g = (await featurizeSmiles('CCO', {}))!;
    expect(g.x.length).toBe(3 * 48);
    expect(g.bondAttr).toBeUndefined();
  });
});

describe('bond features in the message graph', () => {
  const rtP = Runtime.create({ threads: 1 });
  afterAll(async () => {
    const rt = await rtP;
    expect(rt.heap.stats().blocks).toBe(0);
    await rt.close();
  });

  it("each directed bond carries its bond's features; its reverse is the other direction of the same bond", async () => {
    const rt = await rtP;
    // Salicylic acid: a ring, a conjugated carboxyl, a phenol.
    const g = (await featurizeSmiles('OC(=O)c1ccccc1O', { atomFeatures: 'chemprop' }))!;
    const d = directedBonds(g.src, g.dst, g.bondAttr!, 14);
    const mg = MessageGraph.fromEdges(rt.heap, g.atoms, d.src, d.dst, { edgeAttr: { data: d.attr, dim: 14 } });
    try {
      expect(mg.edges).toBe(2 * g.src.length);
      const col = mg.adj.colIdx.data(),
        to = mg.dstOf.data(),
        attr = mg.edgeAttr!.data(),
        rev = mg.reverse()!.data();
      for (let k = 0; k < mg.edges; k++) {
        const e = mg.edgeIds[k]!,
          b = e >> 1;
        const [from, into] = e % 2 === 0 ? [g.src[b], g.dst[b]] : [g.dst[b], g.src[b]];
        expect([col[k], to[k]]).toEqual([from, into]);
        expect(Array.from(attr.subarray(k * 14, (k + 1) * 14))).toEqual(
          Array.from(g.bondAttr!.subarray(b * 14, (b + 1) * 14)),
        );
        expect(mg.edgeIds[rev[k]!]).toBe(e ^ 1);
      }
    } finally {
      mg.free();
    }
  });
});

describe('the featurized-graph cache', () => {
  it('is keyed by the feature set: each set gets its own file and reads back the same bits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'graft-chemprop-'));
    try {
      const csv = join(dir, 'm.csv');
      writeFileSync(csv, 'smiles,y\nCCO,1\nc1ccccc1O,0\nC[C@H](N)C(=O)[O-],1\nF/C=C/Cl,0\nnot-a-smiles,1\n');
      const opts = { targets: 'all' as const, task: 'multilabel' as const, cacheDir: join(dir, 'cache') };
      const a = await loadMoleculeCsv(csv, { ...opts, atomFeatures: 'chemprop' });
      expect(a.fromCache).toBe(false);
      expect(a.invalid.map((r) => r.line)).toEqual([6]);
      const g = await loadMoleculeCsv(csv, opts);
      expect(g.fromCache).toBe(false); // graft's features: not the chemprop file
      expect(readdirSync(join(dir, 'cache')).length).toBe(2);
      const b = await loadMoleculeCsv(csv, { ...opts, atomFeatures: 'chemprop' });
      expect(b.fromCache).toBe(true);
      a.graphs.forEach((ga, i) => {
        const gb = b.graphs[i]!;
        expect(gb.x).toEqual(ga.x);
        expect(gb.bondAttr).toEqual(ga.bondAttr);
        expect(gb.x.length).toBe(ga.atoms * 133);
      });
      expect((await loadMoleculeCsv(csv, opts)).graphs[0]!.x.length).toBe(3 * 48);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
