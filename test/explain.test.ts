import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runtime } from '../src/runtime/runtime.js';
import { Rng } from '../src/core/random.js';
import type { NodeDataset } from '../src/graph/node-data.js';
import { buildNodeGcn, KIPF_DEFAULTS, type NodeTrainConfig } from '../src/train/node-trainer.js';
import { attribute, identitySpace } from '../src/explain/attribution.js';
import { columnObjective } from '../src/explain/graph-probe.js';
import { explainNode, fullNorm, neighbourhood, nodeProbe } from '../src/explain/nodes.js';
import { explainMolecule, moleculeProbe } from '../src/explain/molecules.js';
import { markerSpace } from '../src/explain/marker-space.js';
import { gblupEffects, predictFromEffects, rrBlupEffects } from '../src/explain/marker-effects.js';
import { explainGenomic, fitGenomicMembers } from '../src/explain/genomic.js';
import { spearman } from '../src/explain/rank.js';
import { mapFromNames, readGenomeMap } from '../src/explain/genome-map.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { prepareStudy } from '../src/genomics/study-data.js';
import { fitKernelReml, kernelBasis, predictKernel, trainBlock } from '../src/genomics/kernel-reml.js';
import { GCN_GP_DEFAULTS } from '../src/train/gcn-regressor.js';
import { graphModel, type GraphTrainConfig } from '../src/train/graph-model.js';
import { smilesToGraph, toSample } from '../src/chem/featurize.js';
import { SMILES } from './fixtures.js';

// Explanations against oracles: closed forms for a linear GCN, completeness of integrated
// gradients, finite differences for the edge gradient, the linear map of marker features,
// and the baselines' marker effects reproducing their own predictions.

let rt: Runtime;
beforeAll(async () => {
  rt = await Runtime.create({ threads: 2 });
});
afterAll(async () => {
  await rt.close();
});

/** A small node task: n nodes on a ring with chords, F features, C classes. */
function tinyGraph(n = 40, F = 8, C = 3, seed = 3): NodeDataset {
  const r = new Rng(seed);
  const src: number[] = [],
    dst: number[] = [];
  for (let i = 0; i < n; i++) {
    src.push(i);
    dst.push((i + 1) % n);
    if (i % 3 === 0) {
      src.push(i);
      dst.push((i + 7) % n);
    }
  }
  const features = Float32Array.from({ length: n * F }, () => (r.next() < 0.4 ? r.next() : 0));
  return {
    name: 'tiny',
    numNodes: n,
    numFeatures: F,
    numClasses: C,
    features,
    labels: Int32Array.from({ length: n }, (_, i) => i % C),
    split: { train: Int32Array.of(0), val: Int32Array.of(1), test: Int32Array.from({ length: 10 }, (_, i) => 20 + i) },
    src: Int32Array.from(src),
    dst: Int32Array.from(dst),
    ids: Array.from({ length: n }, (_, i) => `n${i}`),
  };
}

/** Random weights of the node GCN of `config` (the names and shapes buildNodeGcn gives). */
function randomWeights(ds: NodeDataset, config: NodeTrainConfig, seed: number): Map<string, Float32Array> {
  const seq = buildNodeGcn(rt, ds.numFeatures, ds.numClasses, config, () => {
    throw new Error('unused');
  });
  const r = new Rng(seed);
  const w = new Map(
    seq.params().map((p) => [p.name, Float32Array.from({ length: p.value.size }, () => r.normal() * 0.7)]),
  );
  seq.dispose();
  return w;
}

describe('where markers sit', () => {
  it('a map file (marker, chromosome, position), names that carry it, and clear errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'graft-map-'));
    const f = join(dir, 'map.csv');
    writeFileSync(f, 'SNP.names,Chromosome,Position\nm1,2,30\nm2,1,10\n');
    expect(readGenomeMap(f, ['m2', 'm1'])).toEqual({ chromosome: ['1', '2'], position: [10, 30], source: f });
    expect(() => readGenomeMap(f, ['m1', 'm9'])).toThrow(/map\.csv: 1 of 2 markers are not in the map \(first: m9\)/);
    writeFileSync(f, 'name,where\nm1,2\n');
    expect(() => readGenomeMap(f, ['m1'])).toThrow(/map\.csv:1: a map needs chromosome and position columns/);
    expect(mapFromNames(['chr5_1168', '5:2000', 'c3_m7'])).toEqual({
      chromosome: ['5', '5', '3'],
      position: [1168, 2000, 7],
      source: 'marker names',
    });
    expect(mapFromNames(['wPt-0538', 'c1_m1'])).toBeNull();
    expect(spearman([1, 2, 3, 4], [10, 20, 30, 40])).toBeCloseTo(1, 12);
    expect(spearman([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
  });
});

describe('attributions of a linear GCN equal their closed form', () => {
  it('one GCN layer, node v, class c: feature IG = x_uj·W_jc·Â_vu·(½ off v), edge IG = Â_vu·(x_u·W)_c / 2; saliency and gradient × input too', async () => {
    const ds = tinyGraph();
    const config: NodeTrainConfig = { ...KIPF_DEFAULTS, layers: 1, dropout: 0 };
    const weights = randomWeights(ds, config, 5);
    const full = fullNorm(ds);
    const v = 9,
      c = 1,
      F = ds.numFeatures,
      C = ds.numClasses;
    const nb = neighbourhood(full, v, 1);
    const { probe, x } = nodeProbe(rt, ds, { config, weights }, nb);
    try {
      const W = weights.get('gcn0.weight')!;
      const avu = (u: number): number => {
        for (let k = nb.norm.rowPtr[0]!; k < nb.norm.rowPtr[1]!; k++)
          if (nb.norm.colIdx[k] === u) return nb.norm.vals[k]!;
        return 0;
      };
      const obj = columnObjective({ kind: 'node', node: 0 }, c, C);
      const ig = await attribute(probe, identitySpace(x, F), obj, 'ig', { steps: 8, edges: true });
      const sal = await attribute(probe, identitySpace(x, F), obj, 'saliency', { edges: true });
      const gxi = await attribute(probe, identitySpace(x, F), obj, 'gxi', { edges: true });
      for (let u = 0; u < nb.nodes.length; u++) {
        for (let j = 0; j < F; j++) {
          const grad = avu(u) * W[j * C + c]!;
          expect(ig.features[u * F + j]!).toBeCloseTo(x[u * F + j]! * grad * (u === 0 ? 1 : 0.5), 5);
          expect(sal.features[u * F + j]!).toBeCloseTo(Math.abs(grad), 5);
          expect(gxi.features[u * F + j]!).toBeCloseTo(x[u * F + j]! * grad, 5);
        }
      }
      for (let e = 0; e < nb.src.length; e++) {
        const [a, b] = [nb.src[e]!, nb.dst[e]!];
        const u = a === 0 ? b : b === 0 ? a : -1; // only edges at v carry v's output
        let xw = 0;
        if (u >= 0) for (let j = 0; j < F; j++) xw += x[u * F + j]! * W[j * C + c]!;
        expect(ig.edges![e]!).toBeCloseTo(u >= 0 ? (avu(u) * xw) / 2 : 0, 5);
        expect(gxi.edges![e]!).toBeCloseTo(u >= 0 ? avu(u) * xw : 0, 5);
      }
      expect(ig.completeness!.error).toBeLessThan(1e-5);
    } finally {
      probe.dispose();
    }
  });
});

describe('the edge gradient (sddmm in both GCN layer orders) against finite differences', () => {
  it('∂φ/∂mask_e of a 2-layer GCN (a widening layer, then a narrowing one) matches central differences', async () => {
    const ds = tinyGraph(30, 6, 3, 8);
    const config: NodeTrainConfig = { ...KIPF_DEFAULTS, layers: 2, hidden: 12, dropout: 0 };
    const nb = neighbourhood(fullNorm(ds), 4, 2);
    const { probe, x } = nodeProbe(rt, ds, { config, weights: randomWeights(ds, config, 11) }, nb);
    try {
      const obj = columnObjective({ kind: 'node', node: 0 }, 2, 3);
      const E = nb.src.length,
        mask = Float32Array.from({ length: E }, (_, e) => 0.3 + 0.05 * (e % 7));
      const r = await probe.run([{ x, edgeMask: mask }], obj, { grads: true, edgeGrads: true });
      const h = 1e-2;
      let checked = 0;
      for (let e = 0; e < E; e++) {
        const up = Float32Array.from(mask),
          down = Float32Array.from(mask);
        up[e]! += h;
        down[e]! -= h;
        const f = await probe.run(
          [
            { x, edgeMask: up },
            { x, edgeMask: down },
          ],
          obj,
        );
        const fd = (f.values[0]! - f.values[1]!) / (2 * h);
        expect(Math.abs(r.edgeGrads[0]![e]! - fd)).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
        if (Math.abs(fd) > 1e-3) checked++;
      }
      expect(checked).toBeGreaterThan(3);
    } finally {
      probe.dispose();
    }
  });
});

describe('integrated gradients: completeness (attributions add up to φ(x) − φ(baseline))', () => {
  const within = (c: { error: number; expected: number }): boolean =>
    c.error <= Math.max(0.01 * Math.abs(c.expected), 1e-4);

  it('node model (2 layers, ReLU): features and edges, zero and mean baselines', async () => {
    const ds = tinyGraph(40, 8, 3, 2);
    const config: NodeTrainConfig = { ...KIPF_DEFAULTS, layers: 2, hidden: 16, dropout: 0 };
    const spec = { config, weights: randomWeights(ds, config, 4) };
    const full = fullNorm(ds);
    for (const baseline of ['zero', 'mean'] as const) {
      for (const v of [3, 17, 25]) {
        const { explanation } = await explainNode(rt, ds, spec, full, v, 'ig', { steps: 64, baseline, tolerance: 0 });
        expect(within(explanation.completeness!), JSON.stringify(explanation.completeness)).toBe(true);
      }
    }
  });

  it('graph-level model (max pooling) and the hybrid with descriptors, on molecules', async () => {
    const graphs = await Promise.all(SMILES.slice(0, 8).map((s) => smilesToGraph(s)));
    for (const hybrid of [false, true]) {
      const F = graphs[0]!.x.length / graphs[0]!.atoms;
      const config: GraphTrainConfig = {
        task: 'multilabel',
        layers: 3,
        hidden: 16,
        dropout: 0,
        pool: 'max',
        lr: 1e-3,
        weightDecay: 0,
        epochs: 1,
        batchSize: 8,
        shardSize: 8,
        patience: 0,
        seed: 3,
        ...(hybrid ? { hybrid: { descriptors: 1024, denseHidden: 8 } } : {}),
      };
      const m = graphModel(rt, F, 2, config, () => {
        throw new Error('unused');
      });
      const weights = new Map(m.params().map((p) => [p.name, (p.value.data() as Float32Array).slice()]));
      m.dispose();
      const spec = { config, features: F, targets: 2, weights };
      for (const g of graphs) {
        const sample = toSample(g!, new Float32Array(2), hybrid);
        const probe = moleculeProbe(rt, spec, sample);
        try {
          const ex = await explainMolecule(probe, spec, sample, 1, 'ig', { steps: 64, tolerance: 0 });
          expect(within(ex.completeness!), JSON.stringify(ex.completeness)).toBe(true);
          expect(ex.atoms.length).toBe(g!.atoms);
        } finally {
          probe.dispose();
        }
      }
    }
  });
});

const SYN = join(import.meta.dirname, '..', 'data', 'synthetic-gp');
const synthetic = {
  geno: join(SYN, 'genotypes.csv.gz'),
  pheno: join(SYN, 'phenotypes.csv'),
  traits: ['yield', 'height'],
  features: 'markers' as const,
  pcs: 50,
  graph: 'knn' as const,
  knn: 5,
  threshold: 0,
};

describe.skipIf(!existsSync(SYN))('genomic explanations on the synthetic set', () => {
  it('the marker map: features rebuilt from the markers, and its transpose is the adjoint (⟨F(a), g⟩ = ⟨a, Fᵀ(g)⟩), with one block and with 3', async () => {
    for (const branches of [1, 3]) {
      const { data, markers } = await prepareStudy(
        rt,
        { ...synthetic, ...(branches > 1 ? { branches } : {}) },
        () => {},
        { markers: true },
      );
      const space = await markerSpace(rt, data, markers!);
      try {
        expect(space.mapError).toBeLessThan(1e-2);
        const r = new Rng(branches);
        const a = Float32Array.from({ length: space.values.length }, () => r.normal());
        const g = Float32Array.from({ length: data.n * data.f }, () => r.normal());
        const fa = await space.toModel(a),
          gt = await space.gradToSpace(g);
        let lhs = 0,
          rhs = 0;
        for (let k = 0; k < fa.length; k++) lhs += fa[k]! * g[k]!;
        for (let k = 0; k < a.length; k++) rhs += a[k]! * gt[k]!;
        expect(Math.abs(lhs - rhs)).toBeLessThan(1e-3 * Math.abs(lhs) + 1e-2);
      } finally {
        space.dispose();
      }
    }
  });

  it("rrBLUP's effects and GBLUP's back-solved effects reproduce each model's own predictions", async () => {
    const { data, markers } = await prepareStudy(rt, synthetic, () => {}, { markers: true });
    const t = 1;
    const rr = rrBlupEffects(data, markers!, t);
    const gb = gblupEffects(data, markers!, t, true)!;
    const all = Int32Array.from({ length: data.n }, (_, i) => i);
    const direct = (k: Float64Array): Float64Array => {
      const fit = fitKernelReml(
        kernelBasis(trainBlock(k, data.n, gb.train), gb.train.length),
        Float64Array.from(gb.train, (i) => data.y[t]![i]!),
      );
      return predictKernel(fit, k, data.n, gb.train, all);
    };
    const gPred = direct(data.grm),
      fromEffects = predictFromEffects(markers!, gb);
    const m = markers!.clean.m;
    const rPred = direct(data.markerKernel);
    for (let i = 0; i < data.n; i++) {
      expect(fromEffects[i]!).toBeCloseTo(gPred[i]!, 3);
      let s = rr.mu;
      for (let j = 0; j < m; j++) s += markers!.w[i * m + j]! * rr.perSd[j]!;
      expect(s).toBeCloseTo(rPred[i]!, 3);
    }
    expect(gblupEffects(data, markers!, t, false)).toBeNull();
  });

  it('the GCN ensemble: completeness in trait units; attributions of randomized weights rank differently (Adebayo et al.)', async () => {
    const { data, markers } = await prepareStudy(rt, { ...synthetic, traits: ['height'] }, () => {}, { markers: true });
    const cfg = { ...GCN_GP_DEFAULTS, ensemble: 2, epochs: 60 };
    const members = await fitGenomicMembers(rt, data, 0, cfg);
    const ex = await explainGenomic(rt, data, markers!, cfg, members, { method: 'ig', steps: 32, tolerance: 0 });
    const c = ex.completeness!;
    expect(c.error).toBeLessThanOrEqual(Math.max(0.01 * Math.abs(c.expected), 1e-4));
    expect(ex.mapError).toBeLessThan(1e-2);
    // The sanity check: the same models with their weights shuffled (same values, other places).
    const r = new Rng(99);
    const shuffled = members.map((m) => ({
      ...m,
      weights: new Map(
        [...m.weights].map(([k, w]) => {
          const s = Float32Array.from(w);
          r.shuffle(s as unknown as number[]);
          return [k, s];
        }),
      ),
    }));
    const rnd = await explainGenomic(rt, data, markers!, cfg, shuffled, { method: 'ig', steps: 32 });
    const rho = spearman(ex.importance, rnd.importance);
    expect(rho).toBeLessThan(0.5);
  });
});
