// Conjugation is the one Chemprop column evaluated by Graft rather than read from RDKit
// (MinimalLib does not expose it). RDKit's hybridization, read from RDKit itself, depends on
// it: an atom with four orbitals (neighbours + Hs + lone pairs) and at most three neighbours
// + Hs is SP2 exactly when one of its bonds is conjugated, else SP3 (RDKit's setHybridization).
// So on real molecules (the first 400 of Tox21), every such atom's RDKit hybridization is an
// independent check of the conjugation computed here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHEMPROP_ATOM_LAYOUT as A, CHEMPROP_BOND_LAYOUT as B, chempropGraph } from '../src/graph/chemprop-features.js';
import { rdkit } from '../src/chem/rdkit.js';
import { sharedData } from './helpers.js';

/** Outer-shell electrons of the elements these molecules hold (RDKit's periodic table). */
const NOUTER: Record<number, number> = {
  5: 3,
  6: 4,
  7: 5,
  8: 6,
  9: 7,
  14: 4,
  15: 5,
  16: 6,
  17: 7,
  34: 6,
  35: 7,
  53: 7,
};

const data = sharedData();
const tox21 = data ? join(data, 'moleculenet', 'tox21.csv') : undefined;

describe.skipIf(!tox21)('conjugation against RDKit hybridization (Tox21)', () => {
  it('every four-orbital atom with ≤ 3 neighbours + Hs: SP2 exactly when it has a conjugated bond', async () => {
    const RD = await rdkit();
    const smiles = readFileSync(tox21!, 'utf8')
      .split('\n')
      .slice(1, 401)
      .map((l) => l.split(',')[0]!.trim());
    let checked = 0;
    for (const s of smiles) {
      const mol = RD.get_mol(s);
      if (!mol?.is_valid()) {
        mol?.delete();
        continue;
      }
      try {
        const g = chempropGraph(RD, mol);
        const j = JSON.parse(mol.get_json()) as {
          defaults: { atom: { z: number; impHs: number; chg: number; nRad: number }; bond: { bo: number } };
          molecules: {
            atoms: { z?: number; impHs?: number; chg?: number; nRad?: number }[];
            bonds: { atoms: number[]; bo?: number }[];
          }[];
        };
        const m = j.molecules[0]!,
          d = j.defaults;
        const valence = new Array<number>(g.atoms).fill(0),
          degree = new Array<number>(g.atoms).fill(0),
          conj = new Array<boolean>(g.atoms).fill(false);
        m.bonds.forEach((b, k) => {
          for (const a of b.atoms) {
            valence[a]! += b.bo ?? d.bond.bo;
            degree[a]!++;
            if (g.bondAttr[k * 14 + B.conjugated] === 1) conj[a] = true;
          }
        });
        m.atoms.forEach((at, a) => {
          const z = at.z ?? d.atom.z,
            hs = at.impHs ?? d.atom.impHs,
            chg = at.chg ?? d.atom.chg,
            rad = at.nRad ?? d.atom.nRad;
          const nouter = NOUTER[z];
          if (nouter === undefined) return;
          const v = valence[a]! + hs,
            deg = degree[a]! + hs,
            free = nouter - (v + chg);
          const norbs = v + nouter - chg < 8 ? deg + Math.trunc((free - rad) / 2) + rad : deg + Math.trunc(free / 2);
          if (norbs !== 4 || deg > 3) return;
          const sp2 = g.x[a * 133 + A.hybridization + 1] === 1;
          expect(sp2, `${s}: atom ${a} (Z ${z}) RDKit SP2 ${sp2}, conjugated bond ${conj[a]}`).toBe(conj[a]);
          checked++;
        });
      } finally {
        mol.delete();
      }
    }
    expect(checked).toBeGreaterThan(1000); // 1,282 atoms in these 400 molecules
  });
});
