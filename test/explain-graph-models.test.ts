import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadMoleculeCsv, type MoleculeDataset } from '../src/chem/dataset.js';
import { toSample } from '../src/chem/featurize.js';
import { explain } from '../src/cli/commands/explain.js';
import { trainGraphTask } from '../src/cli/commands/train-graph.js';
import type { GraphSample } from '../src/graph/batch.js';
import { columnObjective } from '../src/explain/graph-probe.js';
import { explainMolecule, moleculeAttention, moleculeProbe, type GraphModelSpec } from '../src/explain/molecules.js';
import type { GraphModelKind } from '../src/nn/task-models.js';
import { Runtime } from '../src/runtime/runtime.js';
import { graphModel, type GraphTrainConfig } from '../src/train/graph-model.js';
import { writeDrugCsv } from './fixtures/drug-molecules.js';
import { readJson, tempDir } from './helpers.js';

// graft explain for graph-level models other than the GCN, on the repository's own drug
// fixture (Chemprop's atom and bond features). Oracles: integrated gradients' completeness
// (atom and bond attributions add up to f(x) − f(baseline)), gradient × input of the bond
// features against central finite differences of the output along each bond's feature row,
// and GAT/GATv2 attention against the edge softmax recomputed in f64 from the layer weights.

const dir = tempDir('graft-explain-gm-');
const csv = writeDrugCsv(dir);
let ds: MoleculeDataset;
let rt: Runtime;
beforeAll(async () => {
  ds = await loadMoleculeCsv(csv, {
    targets: 'all',
    task: 'multilabel',
    atomFeatures: 'chemprop',
    cacheDir: dir,
    invalid: 'fail',
  });
  rt = await Runtime.create({ threads: 2 });
}, 60_000);
afterAll(async () => {
  await rt?.close();
});

const configOf = (model: GraphModelKind, hybrid = false): GraphTrainConfig => ({
  task: 'multilabel',
  model,
  ...(model === 'gat' || model === 'gatv2' ? { heads: 2 } : {}),
  ...(model === 'gine' || model === 'dmpnn' ? { edgeFeatures: 14 } : {}),
  layers: 3,
  hidden: 16,
  dropout: 0,
  pool: model === 'dmpnn' ? 'mean' : 'max',
  lr: 1e-3,
  weightDecay: 0,
  epochs: 1,
  batchSize: 8,
  shardSize: 8,
  patience: 0,
  seed: 5,
  ...(hybrid ? { hybrid: { descriptors: 1024, denseHidden: 8 } } : {}),
});

/** A model's freshly drawn weights as a spec (the explainers load them as a run's checkpoint). */
function specOf(config: GraphTrainConfig): GraphModelSpec {
  const m = graphModel(rt, 133, 2, config, () => {
    throw new Error('unused');
  });
  const weights = new Map(m.params().map((p) => [p.name, (p.value.data() as Float32Array).slice()]));
  m.dispose();
  return { config, features: 133, targets: 2, weights };
}

const sampleOf = (i: number, hybrid = false): GraphSample => toSample(ds.graphs[i]!, new Float32Array(2), hybrid);
/** Molecules with rings, branches and heteroatoms: diclofenac, ciprofloxacin, losartan. */
const PICKED = [5, 27, 38];

describe('graph-level explanations of every model on the drug fixture', () => {
  it('the fixture: 100 real SMILES that RDKit parses, both labels with both classes', () => {
    expect(ds.graphs).toHaveLength(100);
    expect(ds.invalid).toHaveLength(0);
    for (let t = 0; t < 2; t++) {
      const col = Array.from({ length: 100 }, (_, i) => ds.y[i * 2 + t]);
      expect(col.filter((v) => v === 1).length).toBeGreaterThan(10);
      expect(col.filter((v) => v === 0).length).toBeGreaterThan(10);
    }
  });

  it.each([
    ['sage', false],
    ['gin', false],
    ['gine', false],
    ['gat', false],
    ['gatv2', false],
    ['dmpnn', false],
    ['gine', true],
  ] as const)('%s (hybrid: %s): integrated gradients complete over atoms and bonds', async (model, hybrid) => {
    const spec = specOf(configOf(model, hybrid));
    const bonded = model === 'gine' || model === 'dmpnn';
    for (const i of PICKED) {
      const g = sampleOf(i, hybrid);
      const probe = moleculeProbe(rt, spec, g);
      try {
        const ex = await explainMolecule(probe, spec, g, 1, 'ig', { steps: 64, tolerance: 0 });
        const c = ex.completeness!;
        // Midpoint rule on a piecewise-linear path, 64 steps: within 1% of f(x) − f(baseline) (and 1e-4).
        expect(c.error, JSON.stringify(c)).toBeLessThanOrEqual(Math.max(0.01 * Math.abs(c.expected), 1e-4));
        expect(ex.atoms).toHaveLength(g.nodes);
        let atomSum = 0;
        for (const v of ex.atoms) atomSum += v;
        if (bonded) {
          expect(ex.bonds).toHaveLength(g.src.length);
          let bondSum = 0;
          for (const v of ex.bonds!) bondSum += v;
          // The bonds carry part of the output: without them the atoms alone are not complete.
          expect(Math.abs(bondSum)).toBeGreaterThan(1e-4);
          expect(Math.abs(atomSum + bondSum - c.expected)).toBeCloseTo(c.error, 4);
        } else {
          expect(ex.bonds).toBeNull();
          expect(Math.abs(atomSum - c.expected)).toBeCloseTo(c.error, 4);
        }
      } finally {
        probe.dispose();
      }
    }
  });

  it.each(['gine', 'dmpnn'] as const)(
    '%s: gradient × input of each bond equals the central difference of the output along its feature row',
    async (model) => {
      // Sum pooling: no max to switch between atoms within the difference's step.
      const spec = specOf({ ...configOf(model), pool: 'sum' });
      for (const i of PICKED) {
        const g = sampleOf(i);
        const probe = moleculeProbe(rt, spec, g);
        try {
          const ex = await explainMolecule(probe, spec, g, 0, 'gxi');
          // d/ds f(bond b's features × s) at s = 1 is Σ_c e_bc ∂f/∂e_bc (both directed bonds).
          const E = g.src.length,
            h = 1e-3;
          const copies = [];
          for (let b = 0; b < E; b++)
            for (const s of [1 + h, 1 - h]) {
              const edgeMask = new Float32Array(E).fill(1);
              edgeMask[b] = s;
              copies.push({ x: g.x, edgeMask });
            }
          const r = await probe.run(copies, columnObjective({ kind: 'graph' }, 0, 2));
          let scale = 0;
          for (const v of ex.bonds!) scale = Math.max(scale, Math.abs(v));
          expect(scale).toBeGreaterThan(0);
          // float32 rounding of f, amplified by 1/(2h), plus 1% of the largest bond score.
          const noise = (4 * 2 ** -23 * Math.abs(ex.value)) / (2 * h);
          for (let b = 0; b < E; b++) {
            const fd = (r.values[2 * b]! - r.values[2 * b + 1]!) / (2 * h);
            expect(Math.abs(fd - ex.bonds![b]!), `bond ${b}: fd ${fd} vs ${ex.bonds![b]}`).toBeLessThanOrEqual(
              1e-2 * scale + noise,
            );
          }
        } finally {
          probe.dispose();
        }
      }
    },
  );

  it.each(['gat', 'gatv2'] as const)(
    '%s: attention per layer equals the edge softmax recomputed in f64 from the weights, each atom in-edges summing to 1',
    async (model) => {
      const spec = specOf(configOf(model));
      for (const i of PICKED) {
        const g = sampleOf(i);
        const att = await moleculeAttention(rt, spec, g);
        const want = referenceAttention(spec, g, model);
        expect(att.layers).toHaveLength(2);
        att.layers.forEach((l, layer) => {
          const sums = new Float64Array(g.nodes);
          for (let k = 0; k < l.alpha.length; k++) {
            sums[l.dst[k]!]! += l.alpha[k]!;
            const ref = want[layer]!.get(`${l.src[k]}>${l.dst[k]}`);
            expect(ref, `edge ${l.src[k]} → ${l.dst[k]}`).toBeDefined();
            expect(Math.abs(l.alpha[k]! - ref!)).toBeLessThan(1e-5);
            // A self loop has no bond; an edge between bonded atoms names its bond.
            if (l.src[k] === l.dst[k]) expect(l.bond[k]).toBe(-1);
            else expect([g.src[l.bond[k]!], g.dst[l.bond[k]!]].sort()).toEqual([l.src[k], l.dst[k]].sort());
          }
          // Every atom reads itself and each bonded neighbour once.
          expect(l.alpha.length).toBe(g.nodes + 2 * g.src.length);
          for (const s of sums) expect(Math.abs(s - 1)).toBeLessThan(1e-5);
        });
      }
    },
  );

  it('a model that takes bonds whole refuses GNNExplainer; attention is refused for a model without it', async () => {
    const spec = specOf(configOf('sage'));
    const g = sampleOf(0);
    const probe = moleculeProbe(rt, spec, g);
    try {
      await expect(explainMolecule(probe, spec, g, 0, 'gnnexplainer')).rejects.toThrow(
        /^explainMolecule: GNNExplainer learns soft bond masks, which a sage model/,
      );
    } finally {
      probe.dispose();
    }
    await expect(moleculeAttention(rt, spec, g)).rejects.toThrow(
      /^moleculeAttention: attention is a GAT or GATv2 model's; this model is sage$/,
    );
  });
});

describe('graft explain --run on graph runs of gine and gat', () => {
  const run = (model: string) => join(dir, `run-${model}`);
  const trained = async (model: string) => {
    const out = run(model);
    const args = ['--task', 'graph', '--data', csv, '--model', model, '--atom-features', 'chemprop', '--hidden', '16'];
    const opts = ['--epochs', '2', '--batch-size', '16', '--threads', '2', '--out', out, '--quiet'];
    expect(await trainGraphTask([...args, ...(model === 'gat' ? ['--heads', '2'] : []), ...opts])).toBe(0);
    return out;
  };

  it('gine: atom and bond attributions (ig), drawings with bonds, completeness in explanations.json', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const r = await trained('gine');
      await explain(['--run', r, '--count', '2', '--target', 'halogen', '--quiet']);
      const out = join(r, 'explain');
      const doc = readJson(join(out, 'explanations.json'));
      const rows = doc['explanations'] as {
        method: string;
        completeness: { error: number; expected: number };
        file: string;
      }[];
      expect(rows).toHaveLength(2);
      for (const { completeness: c } of rows)
        expect(c.error).toBeLessThanOrEqual(Math.max(0.01 * Math.abs(c.expected), 1e-4));
      const bonds = readFileSync(join(out, 'bonds.csv'), 'utf8').trim().split('\n');
      expect(bonds[0]).toBe(
        'molecule,line,smiles,label,method,bond,begin,end,begin_element,end_element,attributed,score',
      );
      expect(bonds.slice(1).every((l) => l.split(',').at(-2) === 'features')).toBe(true);
      const atoms = readFileSync(join(out, 'atoms.csv'), 'utf8').trim().split('\n');
      expect(atoms.length).toBeGreaterThan(2);
      for (const e of rows) expect(existsSync(join(out, e.file))).toBe(true);
      expect(readFileSync(join(out, rows[0]!.file), 'utf8')).toMatch(/<path class='bond-\d+ [^>]*style='fill:#/); // a bond highlighted
      await expect(explain(['--run', r, '--method', 'attention', '--overwrite', '--quiet'])).rejects.toThrow(
        `--method attention reads a GAT or GATv2 run's attention coefficients; this run's model is gine (${r})`,
      );
    } finally {
      log.mockRestore();
    }
  }, 60_000);

  it('gat: --method attention writes attention.csv (each atom in-edges summing to 1) and a drawing per molecule', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      const r = await trained('gat');
      await explain(['--run', r, '--count', '2', '--method', 'attention,ig', '--quiet']);
      const out = join(r, 'explain');
      const lines = readFileSync(join(out, 'attention.csv'), 'utf8').trim().split('\n');
      expect(lines[0]).toBe('molecule,line,smiles,layer,src,dst,bond,alpha');
      const sums = new Map<string, number>();
      for (const l of lines.slice(1)) {
        const f = l.split(',');
        const key = `${f[0]}/${f.at(-5)}/${f.at(-3)}`;
        sums.set(key, (sums.get(key) ?? 0) + Number(f.at(-1)));
      }
      for (const [k, s] of sums) expect(Math.abs(s - 1), k).toBeLessThan(1e-4);
      expect(existsSync(join(out, 'molecules', '1-attention.svg'))).toBe(true);
      expect(existsSync(join(out, 'atoms.csv'))).toBe(true);
      expect(existsSync(join(out, 'bonds.csv'))).toBe(false);
      await expect(explain(['--run', r, '--method', 'gnnexplainer', '--overwrite', '--quiet'])).rejects.toThrow(
        /^--method gnnexplainer learns soft bond masks, which only a GCN weights its bonds by; this run's model is gat/,
      );
    } finally {
      log.mockRestore();
    }
  }, 60_000);
});

/**
 * Per GAT layer, α (head mean) of each directed edge "src>dst", recomputed in f64 from the
 * weights: the message graph of the molecule's bonds both ways plus a self loop per atom,
 * logits per head, softmax over each destination's in-edges, and (to feed the next layer) the
 * layer's output ELU(Σ α·x'_src + bias) with heads concatenated.
 */
function referenceAttention(spec: GraphModelSpec, g: GraphSample, model: 'gat' | 'gatv2'): Map<string, number>[] {
  const n = g.nodes,
    H = spec.config.heads!,
    C = spec.config.hidden / H,
    W = spec.weights;
  const edges: [number, number][] = [];
  for (let b = 0; b < g.src.length; b++) edges.push([g.src[b]!, g.dst[b]!], [g.dst[b]!, g.src[b]!]);
  for (let i = 0; i < n; i++) edges.push([i, i]);
  let x: number[][] = Array.from({ length: n }, (_, i) => Array.from(g.x.subarray(i * 133, (i + 1) * 133)));
  const lin = (v: number[], w: Float32Array, out: number, b?: Float32Array): number[] =>
    Array.from({ length: out }, (_, o) => v.reduce((s, a, k) => s + a * w[k * out + o]!, b ? b[o]! : 0));
  const leaky = (z: number): number => (z > 0 ? z : 0.2 * z);
  const result: Map<string, number>[] = [];
  for (let l = 0; l < 2; l++) {
    const name = model === 'gat' ? `gat${l}` : `gatv2_${l}`,
      inF = x[0]!.length;
    let values: number[][];
    let logit: (s: number, d: number, h: number) => number;
    if (model === 'gat') {
      const w = W.get(`${name}.lin.weight`)!,
        as = W.get(`${name}.att_src`)!,
        ad = W.get(`${name}.att_dst`)!;
      values = x.map((v) => lin(v, w, H * C));
      const dot = (v: number[], a: Float32Array, h: number): number => {
        let s = 0;
        for (let c = 0; c < C; c++) s += v[h * C + c]! * a[h * C + c]!;
        return s;
      };
      logit = (s, d, h) => leaky(dot(values[s]!, as, h) + dot(values[d]!, ad, h));
    } else {
      const xl = x.map((v) => lin(v, W.get(`${name}.lin_l.weight`)!, H * C, W.get(`${name}.lin_l.bias`)!));
      const xr = x.map((v) => lin(v, W.get(`${name}.lin_r.weight`)!, H * C, W.get(`${name}.lin_r.bias`)!));
      const att = W.get(`${name}.att`)!;
      values = xl;
      logit = (s, d, h) => {
        let z = 0;
        for (let c = 0; c < C; c++) z += att[h * C + c]! * leaky(xl[s]![h * C + c]! + xr[d]![h * C + c]!);
        return z;
      };
    }
    expect(inF).toBe(l === 0 ? 133 : spec.config.hidden);
    const alpha = new Map<string, number>();
    const out = Array.from({ length: n }, () => new Array<number>(H * C).fill(0));
    for (let h = 0; h < H; h++) {
      for (let d = 0; d < n; d++) {
        const ins = edges.filter((e) => e[1] === d);
        const z = ins.map(([s]) => logit(s, d, h));
        const m = Math.max(...z);
        const ex = z.map((v) => Math.exp(v - m));
        const sum = ex.reduce((a, b) => a + b, 0);
        ins.forEach(([s], k) => {
          const a = ex[k]! / sum;
          const key = `${s}>${d}`;
          alpha.set(key, (alpha.get(key) ?? 0) + a / H);
          for (let c = 0; c < C; c++) out[d]![h * C + c]! += a * values[s]![h * C + c]!;
        });
      }
    }
    result.push(alpha);
    const bias = W.get(`${name}.bias`)!;
    x = out.map((row) =>
      row.map((v, k) => {
        const y = v + bias[k]!;
        return y > 0 ? y : Math.expm1(y);
      }),
    );
  }
  return result;
}
