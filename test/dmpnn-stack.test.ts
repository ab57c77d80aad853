// dmpnnStack and moleculeBatchGraph (nn/dmpnn-stack.ts): a batch's directed bonds and their
// features against the molecules' bond lists, and the batched model against each molecule run
// alone (the oracle: a molecule's prediction does not depend on its batch-mates), with sum and
// mean readouts; a molecule without bond features is refused by index.
import { afterAll, describe, expect, it } from 'vitest';
import { featurizeSmiles, type MolGraph } from '../src/chem/featurize.js';
import { Rng } from '../src/core/random.js';
import { dmpnnStack, type MoleculeBatchGraph, moleculeBatchGraph } from '../src/nn/dmpnn-stack.js';
import { Sequential } from '../src/nn/sequential.js';
import { Runtime } from '../src/runtime/runtime.js';
import { evalCtx } from './layer-check.js';

const rt = await Runtime.create({ threads: 2 });
afterAll(async () => {
  expect(rt.heap.stats().blocks).toBe(0);
  await rt.close();
});

const SMILES = ['CC(=O)Oc1ccccc1C(=O)O', 'C', 'F/C=C/Cl', 'C[N+](C)(C)C', 'OCC1OC(O)C(O)C(O)C1O'];

describe('dmpnnStack on a batch of molecules', () => {
  it("moleculeBatchGraph: offsets, both directions of every bond with the bond's features", async () => {
    const gs = (await Promise.all(SMILES.map((s) => featurizeSmiles(s, { atomFeatures: 'chemprop' })))) as MolGraph[];
    const b = moleculeBatchGraph(rt.heap, gs, 133, 14);
    try {
      const off = Array.from(b.offsets.data());
      const want = [0];
      for (const g of gs) want.push(want[want.length - 1]! + g.atoms);
      expect(off).toEqual(want);
      const bonds = gs.flatMap((g, m) =>
        Array.from(g.src, (s, k) => ({
          a: off[m]! + s,
          c: off[m]! + g.dst[k]!,
          f: g.bondAttr!.subarray(k * 14, k * 14 + 14),
        })),
      );
      expect(b.graph.edges).toBe(2 * bonds.length);
      const col = b.graph.adj.colIdx.data(),
        to = b.graph.dstOf.data(),
        attr = b.graph.edgeAttr!.data();
      for (let k = 0; k < b.graph.edges; k++) {
        const e = b.graph.edgeIds[k]!,
          bond = bonds[e >> 1]!;
        expect([col[k], to[k]]).toEqual(e % 2 === 0 ? [bond.a, bond.c] : [bond.c, bond.a]);
        expect(Array.from(attr.subarray(k * 14, k * 14 + 14))).toEqual(Array.from(bond.f));
      }
    } finally {
      b.free();
    }
  });

  for (const pool of ['mean', 'sum'] as const)
    it(`${pool} readout: each molecule's output in the batch equals the molecule run alone`, async () => {
      const gs = (await Promise.all(SMILES.map((s) => featurizeSmiles(s, { atomFeatures: 'chemprop' })))) as MolGraph[];
      let batch: MoleculeBatchGraph | null = null;
      const model = new Sequential(
        dmpnnStack(
          rt.heap,
          new Rng(4),
          () => batch!.graph,
          () => batch!.offsets,
          { atomFeatures: 133, bondFeatures: 14, hidden: 16, depth: 3, pool, ffnLayers: 2, dropout: 0.2, out: 3 },
        ),
      );
      expect(model.params().map((p) => p.name)).toEqual([
        'message_passing.W_i.weight',
        'message_passing.W_h.weight',
        'message_passing.W_o.weight',
        'message_passing.W_o.bias',
        'ffn0.weight',
        'ffn0.bias',
        'ffn1.weight',
        'ffn1.bias',
      ]);
      const run = async (ms: MolGraph[]): Promise<Float32Array> => {
        batch = moleculeBatchGraph(rt.heap, ms, 133, 14);
        try {
          const y = await model.forward(evalCtx(rt), batch.x);
          const out = (y.data() as Float32Array).slice();
          model.release();
          return out;
        } finally {
          batch.free();
        }
      };
      const all = await run(gs);
      expect(all.length).toBe(SMILES.length * 3);
      for (let m = 0; m < gs.length; m++) {
        const alone = await run([gs[m]!]);
        alone.forEach((v, j) => {
          expect(Math.abs(all[m * 3 + j]! - v), `molecule ${m}, output ${j}`).toBeLessThanOrEqual(
            1e-6 * (1 + Math.abs(v)),
          );
        });
      }
      model.dispose();
    });

  it('refuses a molecule without bond features, naming it', async () => {
    const g = (await featurizeSmiles('CCO', {}))!;
    expect(() => moleculeBatchGraph(rt.heap, [g], 48, 14)).toThrow(/molecules\[0\]\.bondAttr/);
  });
});
