import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { explain } from '../src/cli/commands/explain.js';
import { exportModel, importModel } from '../src/cli/commands/interop.js';
import { fromRun } from '../src/cli/commands/eval.js';
import { quantize } from '../src/cli/commands/quantize.js';
import { trainNode } from '../src/cli/commands/train.js';
import { packageRoot } from '../src/core/paths.js';
import type { StoredTensor } from '../src/core/safetensors.js';
import { explainNode, fullGraph } from '../src/explain/nodes.js';
import { loadModel, type KernelBinaries } from '../src/infer/index.js';
import { enableRelaxedSimd } from '../src/kernels/wasm.js';
import type { NodeModelKind } from '../src/nn/node-models.js';
import { reportedWeights } from '../src/nn/load-weights.js';
import { Runtime } from '../src/runtime/runtime.js';
import { loadData, loadRawData, type DataChoice } from '../src/store/node-task.js';
import { decodeForeignSafetensors, encodeCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import type { NodeTrainConfig } from '../src/train/node-trainer.js';
import { bitsEqual, quietly, tempDir, transposedBitsEqual } from './helpers.js';

// The node models beside the GCN (graft train --model sage|gin|gat|gatv2) through the commands
// that rebuild a run's model: graft export --to pyg writes PyG's names and layouts (checked
// against the transpose written out here) and graft import reads them back to the same weights
// and the same predictions; graft/infer's loadModel on the exported model file gives the run's
// own predictions; graft quantize --int8 keeps them (bound below); graft explain on a GAT run
// reports attention that is the edge softmax (recomputed here in f64 from the weights).

const MODELS: NodeModelKind[] = ['sage', 'gin', 'gat', 'gatv2'];
const dir = tempDir('graft-node-interop-');
const runOf = (m: NodeModelKind): string => join(dir, m);
const prefixOf = (m: NodeModelKind): string => (m === 'gatv2' ? 'gatv2_' : m);

/** The predicted class column of a predictions.csv (graft train's or graft predict's). */
const predicted = (f: string): number[] =>
  readFileSync(f, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => Number(l.split(',')[1]));

function kernels(): KernelBinaries {
  enableRelaxedSimd();
  const read = (k: string): Uint8Array => readFileSync(join(packageRoot(), 'build', `graft-${k}-local.wasm`));
  return { relaxed: read('relaxed'), simd: read('simd') };
}

/** The run's data as graft/infer takes it: raw features (the model file applies its preprocessing). */
function rawGraph(run: string): { numNodes: number; features: Float32Array; src: Int32Array; dst: Int32Array } {
  const saved = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as DataChoice & { seed: number };
  const ds = loadRawData(saved, saved.seed);
  return { numNodes: ds.numNodes, features: ds.features, src: Int32Array.from(ds.src), dst: Int32Array.from(ds.dst) };
}

beforeAll(async () => {
  for (const m of MODELS) {
    const attention = m === 'gat' || m === 'gatv2' ? ['--hidden', '4', '--heads', '2'] : ['--hidden', '8'];
    const code = await quietly(() =>
      trainNode([
        '--model',
        m,
        '--dataset',
        'synthetic',
        '--epochs',
        '10',
        ...attention,
        '--threads',
        '1',
        '--out',
        runOf(m),
        '--quiet',
      ]),
    );
    expect(code, m).toBe(0);
  }
}, 120_000);

describe('graft export --to pyg / graft import --from pyg (node models)', () => {
  /** PyG's state_dict keys of each model as graft train builds it (2 layers), by torch_geometric's layer classes. */
  const PYG_KEYS: Record<NodeModelKind, string[]> = {
    gcn: [],
    sage: ['lin_l.weight', 'lin_l.bias', 'lin_r.weight'],
    gin: ['nn.0.weight', 'nn.0.bias', 'nn.2.weight', 'nn.2.bias', 'eps'],
    gat: ['lin.weight', 'att_src', 'att_dst', 'bias'],
    gatv2: ['lin_l.weight', 'lin_l.bias', 'lin_r.weight', 'lin_r.bias', 'att', 'bias'],
  };

  for (const m of MODELS) {
    it(`${m}: PyG's names and layouts; import gives back the same weights and predictions`, async () => {
      const run = runOf(m);
      const file = join(dir, `${m}.pyg.safetensors`);
      await quietly(() => exportModel(['--to', 'pyg', '--run', run, '--out', file]));
      const sd = decodeForeignSafetensors(readFileSync(file), file);
      const want = ['conv1', 'conv2'].flatMap((l) => PYG_KEYS[m].map((k) => `${l}.${k}`));
      expect([...sd.tensors.keys()].sort()).toEqual(want.sort());
      // The oracle: a torch Linear's weight is Graft's [in, out] transposed; an attention vector [H, C] is [1, H, C].
      const cpFile = join(run, 'checkpoint.safetensors');
      const ours = reportedWeights(loadCheckpoint(cpFile), cpFile);
      const shapes = new Map<string, number[]>();
      const cp = loadCheckpoint(cpFile);
      for (const [k, t] of cp.tensors) shapes.set(k.replace(/^(best|model)\./, ''), t.shape);
      for (const [name, w] of ours) {
        const pyg = name.replace(new RegExp(`^${prefixOf(m)}(\\d+)\\.`), (_, l: string) => `conv${Number(l) + 1}.`);
        const t = sd.tensors.get(pyg) as StoredTensor;
        expect(t, pyg).toBeDefined();
        const shape = shapes.get(name)!;
        if (/weight$/.test(name)) {
          const [r, c] = shape as [number, number];
          expect(t.shape, pyg).toEqual([c, r]);
          expect(transposedBitsEqual(t.data as Float32Array, w, r, c), pyg).toBe(true);
        } else {
          expect(t.shape, pyg).toEqual(/att/.test(name) ? [1, ...shape] : shape);
          expect(bitsEqual(t.data as Float32Array, w), pyg).toBe(true);
        }
      }
      if (m === 'gin') expect([...sd.tensors.get('conv1.eps')!.data]).toEqual([0]); // PyG's buffer, ε fixed at 0

      const imported = join(dir, `${m}-imported`);
      await quietly(() =>
        importModel(['--from', 'pyg', file, '--model', m, '--dataset', 'synthetic', '--out', imported]),
      );
      const impFile = join(imported, 'checkpoint.safetensors');
      const back = reportedWeights(loadCheckpoint(impFile), impFile);
      expect([...back.keys()].sort()).toEqual([...ours.keys()].sort());
      for (const [name, w] of ours) expect(bitsEqual(back.get(name)!, w), name).toBe(true);
      const config = JSON.parse(readFileSync(join(imported, 'config.json'), 'utf8')) as NodeTrainConfig;
      expect(config.model).toBe(m);
      // The same predictions: graft predict on the imported run gives the classes the trained run wrote.
      const out = join(dir, `${m}-imported.csv`);
      await quietly(() => fromRun(['--run', imported, '--out', out], 'predict'));
      expect(predicted(out)).toEqual(predicted(join(run, 'predictions.csv')));
    });
  }

  it('import refuses a state_dict of another model, and a GIN whose ε is not 0, in one line', async () => {
    const sage = join(dir, 'sage.pyg.safetensors');
    await expect(
      importModel(['--from', 'pyg', sage, '--model', 'gat', '--dataset', 'synthetic', '--out', join(dir, 'x')]),
    ).rejects.toThrow(`${sage}: no gat layers (expected conv1.lin.weight, … as PyG names them, or convs.0.…)`);
    const gin = join(dir, 'gin.pyg.safetensors'),
      learned = join(dir, 'gin-eps.safetensors');
    const sd = decodeForeignSafetensors(readFileSync(gin), gin);
    sd.tensors.set('conv2.eps', { shape: [1], data: Float32Array.of(0.5) });
    writeFileSync(learned, encodeCheckpoint({ tensors: sd.tensors, metadata: { format: 'pt' } }));
    await expect(
      importModel(['--from', 'pyg', learned, '--model', 'gin', '--dataset', 'synthetic', '--out', join(dir, 'y')]),
    ).rejects.toThrow(
      `${learned}: conv2.eps is 0.5; Graft's node GIN fixes ε = 0 (a GINConv(train_eps=True) that learned another cannot be imported)`,
    );
  });

  it('import refuses a tensor it would leave unread (a part the model would silently lack), naming the file and key', async () => {
    // The runs' exported files import (the round trips above): one more tensor, as a GAT with edge_dim or a
    // GCN followed by a Linear has, is what makes each refused. DataParallel's `module.` prefix is named without it.
    for (const [m, extra] of [
      ['gat', 'conv1.lin_edge.weight'],
      ['gcn', 'lin.weight'],
      ['sage', 'module.conv2.lin_r.bias'],
    ] as const) {
      const more = join(dir, `${m}-extra.safetensors`);
      // No GCN run here: a one-layer GCNConv as PyG saves it (refused before any data is read).
      const sd =
        m === 'gcn'
          ? {
              tensors: new Map([
                ['conv1.lin.weight', { shape: [2, 3], data: new Float32Array(6) }],
                ['conv1.bias', { shape: [2], data: new Float32Array(2) }],
              ]),
            }
          : decodeForeignSafetensors(readFileSync(join(dir, `${m}.pyg.safetensors`)), m);
      sd.tensors.set(extra, { shape: [2, 2], data: new Float32Array(4) });
      writeFileSync(more, encodeCheckpoint({ tensors: sd.tensors, metadata: { format: 'pt' } }));
      await expect(
        importModel(['--from', 'pyg', more, '--model', m, '--dataset', 'synthetic', '--out', join(dir, `${m}-z`)]),
        m,
      ).rejects.toThrow(`${more}: ${extra.replace(/^module\./, '')} is not a tensor of a `);
    }
  });
});

describe('graft/infer and graft quantize --int8 (node models)', () => {
  for (const m of MODELS) {
    it(`${m}: loadModel on the exported model file gives the run's predictions; int8 keeps them`, async () => {
      const run = runOf(m);
      const file = join(dir, `${m}.model.safetensors`);
      await quietly(() => exportModel(['--to', 'graft', '--run', run, '--out', file]));
      const model = await loadModel(readFileSync(file), { kernels: kernels(), name: file });
      const g = rawGraph(run);
      const float = await model.predictNodes(g);
      expect(Array.from(float.pred)).toEqual(predicted(join(run, 'predictions.csv')));

      const q = join(dir, `${m}.int8.safetensors`);
      await quietly(() => quantize(['--run', run, '--int8', '--out', q]));
      const int8 = await loadModel(readFileSync(q), { kernels: kernels(), name: q });
      const r = await int8.predictNodes(g);
      // Each GEMM's int8 error is at most half a step of the weight's per-channel scale (max|W|/254)
      // and of the input's 7-bit scale (max|x|/254): about 0.4% + 0.4% of the output's scale per
      // layer, under 2% over two layers (compounded). A node whose float top-2 logit margin is
      // above 5% of the largest |logit| therefore keeps its class (2.5× that bound); only nodes
      // nearer a tie may flip. At least a quarter of the nodes are beyond that margin, so the
      // check bites (GIN's sum aggregation spreads its logits: a third of them; the others, most).
      const C = float.classes;
      let maxAbs = 0;
      for (const v of float.logits) maxAbs = Math.max(maxAbs, Math.abs(v));
      let confident = 0;
      for (let i = 0; i < g.numNodes; i++) {
        const row = Array.from(float.logits.subarray(i * C, (i + 1) * C)).sort((a, b) => b - a);
        const margin = row[0]! - row[1]!;
        if (margin > 0.05 * maxAbs) {
          confident++;
          expect(r.pred[i], `${m}: node ${i} flipped with a float margin of ${margin}`).toBe(float.pred[i]);
        }
      }
      expect(confident / g.numNodes, m).toBeGreaterThan(0.25);
      model.dispose();
      int8.dispose();
    });
  }
});

describe('graft explain on GAT runs', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.create({ threads: 1 });
  });
  afterAll(async () => {
    await rt?.close();
  });

  it("attention: the first layer's coefficients are the edge softmax of LeakyReLU(a_src·Wx_j + a_dst·Wx_i) (f64 oracle), each destination's in-edges summing to 1", async () => {
    const run = runOf('gat');
    const saved = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as DataChoice & NodeTrainConfig;
    const ds = loadData(saved, saved.seed);
    const cpFile = join(run, 'checkpoint.safetensors');
    const weights = reportedWeights(loadCheckpoint(cpFile), cpFile);
    const spec = { config: saved, weights };
    const full = fullGraph(ds, 'gat');
    const v = ds.split.test[0]!;
    const { explanation: ex, nb } = await explainNode(rt, ds, spec, full, v, 'attention');
    const att = ex.attention!;
    expect(att.length).toBeGreaterThan(0);
    // Per (layer, destination): the in-edges sum to 1, and a self loop is among them.
    const sums = new Map<string, number>();
    for (const a of att) sums.set(`${a.layer}:${a.dst}`, (sums.get(`${a.layer}:${a.dst}`) ?? 0) + a.alpha);
    for (const [k, s] of sums) expect(Math.abs(s - 1), k).toBeLessThan(1e-5);
    expect(att.some((a) => a.layer === 1 && a.dst === 0 && a.src === 0)).toBe(true);
    // The oracle for layer 0: x' = x·W, e_ji = LeakyReLU_0.2(a_src,h·x'_j + a_dst,h·x'_i), softmax over i's in-edges (self loop added), mean over heads.
    const F = ds.numFeatures,
      H = saved.heads!,
      C = saved.hidden;
    const W = weights.get('gat0.lin.weight')!,
      aS = weights.get('gat0.att_src')!,
      aD = weights.get('gat0.att_dst')!;
    const proj = (u: number): Float64Array => {
      const y = new Float64Array(H * C);
      for (let f = 0; f < F; f++) {
        const xv = ds.features[nb.nodes[u]! * F + f]!;
        if (xv !== 0) for (let o = 0; o < H * C; o++) y[o]! += xv * W[f * H * C + o]!;
      }
      return y;
    };
    const dsts = new Set(att.filter((a) => a.layer === 0).map((a) => a.dst));
    for (const i of dsts) {
      const ins = att.filter((a) => a.layer === 0 && a.dst === i);
      const xi = proj(i);
      const expected = new Float64Array(ins.length);
      for (let h = 0; h < H; h++) {
        const logits = ins.map((a) => {
          const xj = proj(a.src);
          let s = 0;
          for (let c = 0; c < C; c++) s += aS[h * C + c]! * xj[h * C + c]! + aD[h * C + c]! * xi[h * C + c]!;
          return s > 0 ? s : 0.2 * s;
        });
        const mx = Math.max(...logits);
        const z = logits.reduce((t, l) => t + Math.exp(l - mx), 0);
        logits.forEach((l, k) => {
          expected[k]! += Math.exp(l - mx) / z / H;
        });
      }
      ins.forEach((a, k) => {
        expect(Math.abs(a.alpha - expected[k]!), `α ${a.src}→${i}`).toBeLessThan(1e-4);
      });
      // Every in-edge of i in the model's graph is there (its neighbours and itself).
      const row = new Set([
        i,
        ...Array.from(nb.src).flatMap((s, e) => (s === i ? [nb.dst[e]!] : nb.dst[e] === i ? [s] : [])),
      ]);
      expect(new Set(ins.map((a) => a.src))).toEqual(row);
    }
  });

  it('graft explain --method ig,attention writes attention.csv beside the attributions; gnnexplainer refused on a SAGE run', async () => {
    const run = runOf('gat');
    await quietly(() => explain(['--run', run, '--method', 'ig,attention', '--count', '2', '--quiet']));
    const rows = readFileSync(join(run, 'explain', 'attention.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(rows[0]).toBe('node,layer,src,dst,alpha');
    const sums = new Map<string, number>();
    for (const r of rows.slice(1)) {
      const [node, layer, , dst, alpha] = r.split(',');
      sums.set(`${node}:${layer}:${dst}`, (sums.get(`${node}:${layer}:${dst}`) ?? 0) + Number(alpha));
    }
    expect(sums.size).toBeGreaterThan(2);
    // 6 significant digits per value, a few in-edges per destination.
    for (const [k, s] of sums) expect(Math.abs(s - 1), k).toBeLessThan(1e-4);
    const ex = JSON.parse(readFileSync(join(run, 'explain', 'explanations.json'), 'utf8')) as {
      explanations: { method: string; completeness?: { relative_error: number }; top_edges: unknown[] }[];
    };
    const ig = ex.explanations.filter((e) => e.method === 'ig');
    expect(ig.length).toBe(2);
    // Integrated gradients stays complete on the GAT's neighbourhood probe (Σ attributions = Δ logit).
    for (const e of ig) expect(e.completeness!.relative_error).toBeLessThan(0.01);
    const sage = runOf('sage');
    await expect(explain(['--run', sage, '--method', 'attention', '--quiet'])).rejects.toThrow(
      `--method attention reads a GAT or GATv2 run's attention; this run's model is sage (${sage})`,
    );
  });
});

/** Why the torch-written state dicts cannot be made here (CI has no torch), or null. */
const noTorch = ((): string | null => {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : '/usr/bin/python3 has no torch';
})();

/** The fixtures make.py writes, made once (a torch start is seconds). */
let torchDir: string | null = null;
function torchMade(): string {
  if (torchDir) return torchDir;
  const d = tempDir('graft-torch-');
  const made = spawnSync('/usr/bin/python3', [join(packageRoot(), 'test', 'fixtures', 'pyg-layers', 'make.py'), d], {
    encoding: 'utf8',
  });
  expect(made.status, made.stderr).toBe(0);
  torchDir = d;
  return d;
}

describe('PyG state dicts written by torch (test/fixtures/pyg-layers/make.py)', () => {
  for (const m of ['sage', 'gat'] as const) {
    it.skipIf(noTorch !== null)(
      `${m}: graft import reads it, and graft/infer's logits are those of the layers written in plain torch${noTorch ? ` (skipped: ${noTorch})` : ''}`,
      async () => {
        const d = torchMade();
        const data = ['--edges', 'edges.csv', '--features', 'features.csv', '--labels', 'labels.csv'].map((a) =>
          a.endsWith('.csv') ? join(d, a) : a,
        );
        const run = join(d, `${m}-run`);
        await quietly(() =>
          importModel([
            '--from',
            'pyg',
            join(d, `${m}.safetensors`),
            '--model',
            m,
            ...data,
            '--no-normalize',
            '--out',
            run,
          ]),
        );
        const file = join(d, `${m}.model.safetensors`);
        await quietly(() => exportModel(['--to', 'graft', '--run', run, '--out', file]));
        const model = await loadModel(readFileSync(file), { kernels: kernels(), name: file });
        const r = await model.predictNodes(rawGraph(run));
        const want = JSON.parse(readFileSync(join(d, `${m}.logits.json`), 'utf8')) as number[];
        expect(r.logits.length).toBe(want.length);
        // float32 both sides, sums of at most a dozen terms in another order: 1e-5 of the scale.
        for (let i = 0; i < want.length; i++)
          expect(Math.abs(r.logits[i]! - want[i]!), `logit ${i}`).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!)));
        model.dispose();
      },
    );
  }
});
