import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadMoleculeCsv } from '../src/chem/dataset.js';
import { moleculeSplit } from '../src/chem/train-molecules.js';
import { explain } from '../src/cli/commands/explain.js';
import { exportModel, importModel } from '../src/cli/commands/interop.js';
import { quantize } from '../src/cli/commands/quantize.js';
import { trainGraphTask } from '../src/cli/commands/train-graph.js';
import { packageRoot } from '../src/core/paths.js';
import type { StoredTensor } from '../src/core/safetensors.js';
import type { GraphSample } from '../src/graph/batch.js';
import { loadModel, type KernelBinaries, type RDKitLike } from '../src/infer/index.js';
import { enableRelaxedSimd } from '../src/kernels/wasm.js';
import { reportedWeights } from '../src/nn/load-weights.js';
import type { GraphModelKind } from '../src/nn/task-models.js';
import { decodeForeignSafetensors, encodeCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import { meanRocAuc } from '../src/train/multilabel-metrics.js';
import { bitsEqual, quietly, tempDir, transposedBitsEqual } from './helpers.js';

// Graph-level runs of every --model beside the GCN through the tools that rebuild a run's
// model, on 120 small molecules written here (2 epochs each). Oracles: the run's own
// predictions.csv (exact float32 probabilities of its test split) for graft/infer's outputs;
// the float model for the int8 one (a stated bound, and the file holding int8 weights for
// every linear map named in the docs); the transposes and PyG's names written out here for
// graft export --to pyg, and the run's own weights and outputs after graft import --from pyg.

interface Case {
  model: GraphModelKind;
  features: 'default' | 'chemprop';
  hybrid?: boolean;
}
const CASES: Case[] = [
  { model: 'gcn', features: 'default' },
  { model: 'sage', features: 'default' },
  { model: 'gin', features: 'default' },
  { model: 'gine', features: 'chemprop' },
  { model: 'gat', features: 'default' },
  { model: 'gatv2', features: 'chemprop' },
  { model: 'dmpnn', features: 'chemprop' },
  { model: 'gin', features: 'chemprop', hybrid: true },
];
const nameOf = (c: Case): string => `${c.model}-${c.features}${c.hybrid ? '-hybrid' : ''}`;

const dir = tempDir('graft-graph-interop-');
const csv = join(dir, 'molecules.csv');
const TARGETS = ['polar', 'ring', 'halogen'];

/** 120 molecules: 12 cores × 10 substituents; labels by rule (a polar group, a ring core, a halogen). */
function writeMolecules(): void {
  const cores = ['C', 'CC', 'CCC', 'CCCC', 'CC(C)C', 'C1CCCCC1', 'c1ccccc1', 'c1ccncc1', 'C1CCOC1', 'c1ccoc1', 'C=CC'];
  cores.push('CC(C)(C)C');
  const groups = ['O', 'N', 'Cl', 'F', 'C(=O)O', 'C#N', 'S', 'Br', 'OC', 'C(=O)N'];
  const rows = ['smiles,polar,ring,halogen'];
  for (const c of cores)
    for (const g of groups) {
      const polar = ['O', 'N', 'C(=O)O', 'C(=O)N', 'OC'].includes(g) ? 1 : 0;
      rows.push(`${c}${g},${polar},${c.includes('1') ? 1 : 0},${['Cl', 'F', 'Br'].includes(g) ? 1 : 0}`);
    }
  writeFileSync(csv, `${rows.join('\n')}\n`);
}

function kernels(): KernelBinaries {
  enableRelaxedSimd();
  const read = (k: string): Uint8Array => readFileSync(join(packageRoot(), 'build', `graft-${k}-local.wasm`));
  return { relaxed: read('relaxed'), simd: read('simd') };
}

/** The run's test split, featurized as its molecules were (the order of its predictions.csv). */
async function testSplit(c: Case): Promise<GraphSample[]> {
  const ds = await loadMoleculeCsv(csv, {
    targets: TARGETS,
    task: 'multilabel',
    atomFeatures: c.features === 'chemprop' ? 'chemprop' : 'graft',
    cacheDir: null,
  });
  return moleculeSplit(ds, { split: 'random', hybrid: c.hybrid === true, config: { seed: 1 } }).test;
}

/** predictions.csv's probabilities [rows, targets], read back as the float32 values it holds exactly. */
function runProbabilities(run: string): Float32Array {
  const lines = readFileSync(join(run, 'predictions.csv'), 'utf8').trim().split('\n');
  const head = lines[0]!.split(',');
  const cols = TARGETS.map((t) => head.indexOf(t));
  return Float32Array.from(
    lines.slice(1).flatMap((l) => {
      const f = l.split(',');
      return cols.map((j) => Math.fround(Number(f[j])));
    }),
  );
}

const runOf = (c: Case): string => join(dir, nameOf(c));

beforeAll(async () => {
  writeMolecules();
  for (const c of CASES) {
    const args = ['--task', 'graph', '--data', csv, '--model', c.model, '--atom-features', c.features];
    const shape = ['--layers', '3', '--hidden', '16', ...(c.model.startsWith('gat') ? ['--heads', '2'] : [])];
    const run = ['--epochs', '2', '--batch-size', '32', '--threads', '1', '--no-cache', '--out', runOf(c), '--quiet'];
    const code = await quietly(() => trainGraphTask([...args, ...shape, ...run, ...(c.hybrid ? ['--hybrid'] : [])]));
    expect(code, nameOf(c)).toBe(0);
  }
}, 120_000);

describe('graft/infer on graph runs of every model', () => {
  for (const c of CASES) {
    it(`${nameOf(c)}: the exported model file and the checkpoint give the run's predictions.csv, bit for bit`, async () => {
      const run = runOf(c);
      const file = join(dir, `${nameOf(c)}.model.safetensors`);
      await quietly(() => exportModel(['--to', 'graft', '--run', run, '--out', file]));
      const test = await testSplit(c);
      const want = runProbabilities(run);
      expect(want.length).toBe(test.length * TARGETS.length);
      for (const bytes of [readFileSync(file), readFileSync(join(run, 'checkpoint.safetensors'))]) {
        const model = await loadModel(bytes, { kernels: kernels(), name: file });
        const r = await model.predictGraphs(test);
        expect(bitsEqual(r.probs!, want)).toBe(true);
        model.dispose();
      }
    });
  }

  it.each(CASES.filter((c) => c.model === 'dmpnn' || c.model === 'sage'))(
    "$model on $features features: the bundle's moleculeGraph featurizes the run's test SMILES to training's bits and the run's predictions",
    async (c) => {
      const RDKit = await (createRequire(import.meta.url)('@rdkit/rdkit') as () => Promise<RDKitLike>)();
      const b = (await import(
        join(packageRoot(), 'dist', 'infer', 'graft-infer.js')
      )) as typeof import('../src/infer/index.js');
      const ds = await loadMoleculeCsv(csv, {
        targets: TARGETS,
        task: 'multilabel',
        atomFeatures: c.features === 'chemprop' ? 'chemprop' : 'graft',
        cacheDir: null,
      });
      const { split } = moleculeSplit(ds, { split: 'random', hybrid: false, config: { seed: 1 } });
      const graphs = [...split.test].map((i) => b.moleculeGraph(RDKit, ds.smiles[i]!, { atomFeatures: c.features })!);
      for (const [k, i] of [...split.test].entries()) {
        const want = ds.graphs[i]!;
        expect(bitsEqual(graphs[k]!.x, want.x)).toBe(true);
        expect([...graphs[k]!.src, ...graphs[k]!.dst]).toEqual([...want.src, ...want.dst]);
        if (c.features === 'chemprop') expect(bitsEqual(graphs[k]!.edgeAttr!, want.bondAttr!)).toBe(true);
        else expect(graphs[k]!.edgeAttr).toBeUndefined();
      }
      const model = await b.loadModel(readFileSync(join(runOf(c), 'checkpoint.safetensors')), { kernels: kernels() });
      expect(bitsEqual((await model.predictGraphs(graphs)).probs!, runProbabilities(runOf(c)))).toBe(true);
      // A graph of the other featurizer is refused, by name.
      const other = b.moleculeGraph(RDKit, 'CCO', {
        atomFeatures: c.features === 'chemprop' ? 'default' : 'chemprop',
      })!;
      await expect(model.predictGraphs([other])).rejects.toThrow(/^predictGraphs: graph 0 was featurized by /);
      model.dispose();
    },
  );

  it('a model reading bond features refuses graphs without them, naming the graph', async () => {
    const c = CASES.find((k) => k.model === 'dmpnn')!;
    const model = await loadModel(readFileSync(join(runOf(c), 'checkpoint.safetensors')), { kernels: kernels() });
    const [g] = await testSplit(c);
    const { edgeAttr: _, ...bare } = g!;
    await expect(model.predictGraphs([g!, bare])).rejects.toThrow(
      `predictGraphs: graph 1 needs edgeAttr of ${g!.src.length} × 14 values (the model reads 14 bond features per edge), got none`,
    );
  });
});

describe('graft quantize --int8 on graph runs', () => {
  for (const c of CASES) {
    it(`${nameOf(c)}: int8 weights for every linear map; probabilities within the bound of the float model's`, async () => {
      const run = runOf(c);
      const q = join(dir, `${nameOf(c)}.int8.safetensors`);
      await quietly(() => quantize(['--run', run, '--int8', '--out', q]));
      const cp = loadCheckpoint(q);
      const int8 = [...cp.tensors.keys()].filter((k) => k.endsWith('.weight.q')).map((k) => k.slice(6, -9));
      const floats = [...cp.tensors.keys()].filter((k) => k.endsWith('.weight')).map((k) => k.slice(6, -7));
      // What is quantized: every Linear (the layers' own, the heads') but D-MPNN's W_i and W_o, which run as blocks.
      expect(floats.sort()).toEqual(c.model === 'dmpnn' ? ['message_passing.W_i', 'message_passing.W_o'] : []);
      expect(int8.length).toBeGreaterThan(1);
      const test = await testSplit(c);
      const floatModel = await loadModel(readFileSync(join(run, 'checkpoint.safetensors')), { kernels: kernels() });
      const quantized = await loadModel(readFileSync(q), { kernels: kernels(), name: q });
      const f = await floatModel.predictGraphs(test),
        r = await quantized.predictGraphs(test);
      // Each int8 GEMM errs by at most half a step of the weight's per-channel scale (max|W|/254) and of the
      // input's 7-bit scale (max|x|/254): under 1% of its output's scale, about 5% over the 4 to 7 GEMMs in
      // a row here (compounded). So no logit moves by more than 10% of the spread of the float logits; a
      // model whose int8 path were wrong (a constant, a transposed weight) moves them by about the spread.
      let lo = Infinity,
        hi = -Infinity,
        worst = 0;
      for (let i = 0; i < f.outputs.length; i++) {
        lo = Math.min(lo, f.outputs[i]!);
        hi = Math.max(hi, f.outputs[i]!);
        worst = Math.max(worst, Math.abs(r.outputs[i]! - f.outputs[i]!));
      }
      expect(hi - lo).toBeGreaterThan(0);
      expect(worst, `${nameOf(c)}: max |Δ logit| ${worst} of a spread ${hi - lo}`).toBeLessThan(0.1 * (hi - lo));
      expect(bitsEqual(r.outputs, f.outputs)).toBe(false); // the int8 path ran
      const truth = Float32Array.from(test.flatMap((g) => [...g.y]));
      const auc = (p: Float32Array): number => meanRocAuc(truth, p, TARGETS.length);
      expect(Math.abs(auc(r.probs!) - auc(f.probs!))).toBeLessThan(0.05);
      floatModel.dispose();
      quantized.dispose();
    });
  }
});

/** PyG's state_dict keys of each model (3 layers: 2 message-passing layers and the head), by torch_geometric's classes. */
const PYG_LAYER_KEYS: Record<Exclude<GraphModelKind, 'dmpnn' | 'gcn'>, string[]> = {
  sage: ['lin_l.weight', 'lin_l.bias', 'lin_r.weight'],
  gin: ['nn.0.weight', 'nn.0.bias', 'nn.2.weight', 'nn.2.bias', 'eps'],
  gine: ['nn.0.weight', 'nn.0.bias', 'nn.2.weight', 'nn.2.bias', 'eps', 'lin.weight', 'lin.bias'],
  gat: ['lin.weight', 'att_src', 'att_dst', 'bias'],
  gatv2: ['lin_l.weight', 'lin_l.bias', 'lin_r.weight', 'lin_r.bias', 'att', 'bias'],
};
const CHEMPROP_KEYS = ['W_i.weight', 'W_h.weight', 'W_o.weight', 'W_o.bias'].map((k) => `message_passing.${k}`);

function expectedKeys(c: Case): string[] {
  const head = c.hybrid ? ['dense0.weight', 'dense0.bias', 'head.weight', 'head.bias'] : ['head.weight', 'head.bias'];
  if (c.model === 'dmpnn') return [...CHEMPROP_KEYS, 'ffn0.weight', 'ffn0.bias', 'ffn1.weight', 'ffn1.bias'];
  // PyG's GCNConv: a Linear without bias (lin.weight), and the bias added after propagation.
  const layer = c.model === 'gcn' ? ['lin.weight', 'bias'] : PYG_LAYER_KEYS[c.model as keyof typeof PYG_LAYER_KEYS];
  return [...['conv1', 'conv2'].flatMap((l) => layer.map((k) => `${l}.${k}`)), ...head];
}

describe('graft export --to pyg / graft import --from pyg --task graph', () => {
  for (const c of CASES) {
    it(`${nameOf(c)}: PyG's names and layouts; import gives back the run's weights and outputs, bit for bit`, async () => {
      const run = runOf(c);
      const file = join(dir, `${nameOf(c)}.pyg.safetensors`);
      await quietly(() => exportModel(['--to', 'pyg', '--run', run, '--out', file]));
      const sd = decodeForeignSafetensors(readFileSync(file), file);
      expect([...sd.tensors.keys()].sort()).toEqual(expectedKeys(c).sort());
      // The oracle: a torch Linear's weight is Graft's [in, out] transposed; an attention vector [H, C] is [1, H, C].
      const cpFile = join(run, 'checkpoint.safetensors');
      const cp = loadCheckpoint(cpFile);
      const ours = reportedWeights(cp, cpFile);
      const prefix = c.model === 'gatv2' ? 'gatv2_' : c.model;
      for (const [name, w] of ours) {
        const pyg = name
          .replace(new RegExp(`^${prefix}(\\d+)\\.`), (_, l: string) => `conv${Number(l) + 1}.`)
          .replace(/^(conv\d+\.)weight$/, '$1lin.weight'); // the GCN's weight, as GCNConv's Linear keeps it
        const t = sd.tensors.get(pyg) as StoredTensor;
        expect(t, pyg).toBeDefined();
        const shape = (cp.tensors.get(`model.${name}`) ?? cp.tensors.get(`best.${name}`))!.shape;
        if (/weight$/.test(name)) {
          const [r, k] = shape as [number, number];
          expect(t.shape, pyg).toEqual([k, r]);
          expect(transposedBitsEqual(t.data as Float32Array, w, r, k), pyg).toBe(true);
        } else {
          expect(t.shape, pyg).toEqual(/att/.test(name) ? [1, ...shape] : shape);
          expect(bitsEqual(t.data as Float32Array, w), pyg).toBe(true);
        }
      }

      const imported = join(dir, `${nameOf(c)}.imported.safetensors`);
      await quietly(() =>
        importModel([
          ...['--from', 'pyg', file, '--task', 'graph', '--model', c.model, '--atom-features', c.features],
          ...(c.model === 'dmpnn' ? ['--layers', '3'] : ['--pool', 'max']),
          '--out',
          imported,
        ]),
      );
      const back = reportedWeights(loadCheckpoint(imported), imported);
      expect([...back.keys()].sort()).toEqual([...ours.keys()].sort());
      for (const [name, w] of ours) expect(bitsEqual(back.get(name)!, w), name).toBe(true);
      const test = await testSplit(c);
      const a = await loadModel(readFileSync(imported), { kernels: kernels(), name: imported });
      expect(bitsEqual((await a.predictGraphs(test)).probs!, runProbabilities(run))).toBe(true);
      a.dispose();
    });
  }

  it("import reads GATConv's weight under its name before PyG 2.3 (lin_src) to the same model", async () => {
    const gat = join(dir, 'gat-default.pyg.safetensors'),
      old = join(dir, 'gat-old.pyg.safetensors');
    const sd = decodeForeignSafetensors(readFileSync(gat), gat);
    const renamed = new Map([...sd.tensors].map(([k, t]) => [k.replace(/\.lin\.weight$/, '.lin_src.weight'), t]));
    expect([...renamed.keys()]).toContain('conv1.lin_src.weight');
    writeFileSync(old, encodeCheckpoint({ tensors: renamed, metadata: { format: 'pt' } }));
    const a = join(dir, 'gat-old.model.safetensors'),
      b = join(dir, 'gat-new.model.safetensors');
    await quietly(() => importModel(['--from', 'pyg', old, '--task', 'graph', '--model', 'gat', '--out', a]));
    await quietly(() => importModel(['--from', 'pyg', gat, '--task', 'graph', '--model', 'gat', '--out', b]));
    const wa = reportedWeights(loadCheckpoint(a), a),
      wb = reportedWeights(loadCheckpoint(b), b);
    expect([...wa.keys()].sort()).toEqual([...wb.keys()].sort());
    for (const [k, w] of wb) expect(bitsEqual(wa.get(k)!, w), k).toBe(true);
  });

  it('import refuses a state dict of another model, a learned ε, and atom features of another width, in one line', async () => {
    const sage = join(dir, 'sage-default.pyg.safetensors');
    const out = join(dir, 'refused.safetensors');
    const graph = (file: string, ...more: string[]) =>
      importModel(['--from', 'pyg', file, '--task', 'graph', ...more, '--out', out]);
    await expect(graph(sage, '--model', 'sage', '--dataset', 'cora')).rejects.toThrow(
      '--dataset is for node models, not --task graph',
    );
    await expect(graph(sage, '--model', 'gat')).rejects.toThrow(
      `${sage}: no gat layers (expected conv1.lin.weight, … as PyG names them, or convs.0.…)`,
    );
    await expect(graph(sage, '--model', 'sage', '--atom-features', 'chemprop')).rejects.toThrow(
      `${sage}: its first layer reads 48 atom features, but --atom-features chemprop gives 133`,
    );
    await expect(graph(join(dir, 'dmpnn-chemprop.pyg.safetensors'), '--model', 'gine')).rejects.toThrow(
      /no gine layers/,
    );
    const gine = join(dir, 'gine-chemprop.pyg.safetensors'),
      learned = join(dir, 'gine-eps.safetensors');
    const sd = decodeForeignSafetensors(readFileSync(gine), gine);
    sd.tensors.set('conv2.eps', { shape: [1], data: Float32Array.of(0.5) });
    writeFileSync(learned, encodeCheckpoint({ tensors: sd.tensors, metadata: { format: 'pt' } }));
    await expect(graph(learned, '--model', 'gine', '--atom-features', 'chemprop')).rejects.toThrow(
      `${learned}: conv2.eps is 0.5; Graft's graph GINE fixes ε = 0 (a GINEConv(train_eps=True) that learned another cannot be imported)`,
    );
  });
});

describe('graft import --from pyg --task graph refuses what it cannot import faithfully, in one line', () => {
  const out = join(dir, 'refused.safetensors');
  const graph = (file: string, ...more: string[]) =>
    importModel(['--from', 'pyg', file, '--task', 'graph', ...more, '--out', out]);
  /** The run's exported state dict with `edit` applied, written beside it. */
  function edited(c: string, name: string, edit: (t: Map<string, StoredTensor>) => void): string {
    const from = join(dir, `${c}.pyg.safetensors`),
      to = join(dir, `${c}-${name}.safetensors`);
    const sd = decodeForeignSafetensors(readFileSync(from), from);
    edit(sd.tensors);
    writeFileSync(to, encodeCheckpoint({ tensors: sd.tensors, metadata: { format: 'pt' } }));
    return to;
  }

  it('a tensor the import would leave unread: a D-MPNN with a third head layer, a GAT with edge features', async () => {
    // The exported files import (the round trips above); one more tensor is what makes each refused (keys are
    // stored sorted, so ffn2.bias is met first). Before,
    // the 3-layer head imported with ffn1 (its hidden layer) as the output and ffn2 dropped.
    const deep = edited('dmpnn-chemprop', 'ffn2', (t) => {
      t.set('ffn2.weight', { shape: [3, 3], data: new Float32Array(9) });
      t.set('ffn2.bias', { shape: [3], data: new Float32Array(3) });
    });
    await expect(graph(deep, '--model', 'dmpnn', '--atom-features', 'chemprop')).rejects.toThrow(
      `${deep}: ffn2.bias is not a tensor of a dmpnn graph model of this shape, which the import maps (a part it would drop)`,
    );
    const edge = edited('gat-default', 'edge', (t) =>
      t.set('module.conv1.lin_edge.weight', t.get('conv1.lin.weight')!),
    );
    await expect(graph(edge, '--model', 'gat')).rejects.toThrow(
      `${edge}: conv1.lin_edge.weight is not a tensor of a gat`,
    );
  });

  it("bond features or hybrid descriptors of another width than the featurizer's, naming the flag or the tensor", async () => {
    const gine = join(dir, 'gine-chemprop.pyg.safetensors');
    // The atom width is Chemprop's, the bond width not: --atom-features chemprop makes 14 bond columns.
    const narrow = edited('gine-chemprop', 'bonds', (t) => {
      for (const l of ['conv1', 'conv2']) {
        const w = t.get(`${l}.lin.weight`)!;
        const [o, i] = w.shape as [number, number];
        t.set(`${l}.lin.weight`, { shape: [o, i - 1], data: w.data.filter((_, k) => k % i !== i - 1) });
      }
    });
    await expect(graph(narrow, '--model', 'gine', '--atom-features', 'chemprop')).rejects.toThrow(
      `${narrow}: its layers read 13 bond features, but --atom-features chemprop gives 14`,
    );
    await expect(
      graph(gine, '--model', 'gine', '--atom-features', 'chemprop', '--pool', 'max'),
    ).resolves.toBeUndefined();
    const dense = edited('gin-chemprop-hybrid', 'dense', (t) => {
      const w = t.get('dense0.weight')!;
      const [o, i] = w.shape as [number, number];
      t.set('dense0.weight', { shape: [o, i / 2], data: w.data.filter((_, k) => k % i < i / 2) });
    });
    await expect(graph(dense, '--model', 'gin', '--atom-features', 'chemprop')).rejects.toThrow(
      `${dense}: dense0.weight reads 512 descriptor columns, but the hybrid's descriptors are the 1024 Morgan bits graft featurizes`,
    );
  });
});

describe('graft explain on a graph run of another featurizer version', () => {
  it('refuses in one line naming config.json (as eval, quantize and soup do)', async () => {
    const run = runOf(CASES.find((c) => c.model === 'sage')!),
      copy = join(dir, 'sage-other-featurizer');
    cpSync(run, copy, { recursive: true });
    const cfgFile = join(copy, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown>;
    expect(cfg['featurizer']).toBe('graft-atoms-v1');
    writeFileSync(cfgFile, JSON.stringify({ ...cfg, featurizer: 'graft-atoms-v0' }));
    await expect(explain(['--run', copy, '--count', '1', '--quiet'])).rejects.toThrow(
      `${cfgFile}: the run's molecules were featurized by graft-atoms-v0; this version of graft featurizes by graft-atoms-v1, so graft explain would feed its model other features: train the run again`,
    );
    // The unedited copy is explained (the refusal is the featurizer's, not the copy's).
    writeFileSync(cfgFile, JSON.stringify(cfg));
    await quietly(() => explain(['--run', copy, '--count', '1', '--method', 'saliency', '--quiet']));
    expect(existsSync(join(copy, 'explain', 'atoms.csv'))).toBe(true);
  });
});

/** Why the torch-written state dicts cannot be made here (CI has no torch), or null. */
const noTorch = ((): string | null => {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { encoding: 'utf8' });
  return r.status === 0 ? null : '/usr/bin/python3 has no torch';
})();

describe('graph-model state dicts written by torch (test/fixtures/pyg-layers/make_graph.py)', () => {
  it.skipIf(noTorch !== null)(
    `gine and dmpnn: graft import reads them, and graft/infer's outputs are those of the layers written in plain torch${noTorch ? ` (skipped: ${noTorch})` : ''}`,
    async () => {
      const d = tempDir('graft-torch-graph-');
      const script = join(packageRoot(), 'test', 'fixtures', 'pyg-layers', 'make_graph.py');
      const made = spawnSync('/usr/bin/python3', [script, d], { encoding: 'utf8' });
      expect(made.status, made.stderr).toBe(0);
      const graphs = JSON.parse(readFileSync(join(d, 'graphs.json'), 'utf8')) as {
        nodes: number;
        x: number[];
        src: number[];
        dst: number[];
        edgeAttr: number[];
      }[];
      const input = graphs.map((g) => ({
        nodes: g.nodes,
        x: Float32Array.from(g.x),
        src: Int32Array.from(g.src),
        dst: Int32Array.from(g.dst),
        edgeAttr: Float32Array.from(g.edgeAttr),
      }));
      for (const [m, flags] of [
        ['gine', ['--pool', 'sum']],
        ['dmpnn', ['--layers', '3', '--pool', 'sum']],
      ] as const) {
        const file = join(d, `${m}.model.safetensors`);
        await quietly(() =>
          importModel([
            ...['--from', 'pyg', join(d, `${m}.safetensors`), '--task', 'graph', '--model', m],
            ...['--atom-features', 'chemprop', ...flags, '--out', file],
          ]),
        );
        const model = await loadModel(readFileSync(file), { kernels: kernels(), name: file });
        const r = await model.predictGraphs(input);
        const want = JSON.parse(readFileSync(join(d, `${m}.outputs.json`), 'utf8')) as number[];
        expect(r.outputs.length).toBe(want.length);
        // float32 both sides, sums in another order: 1e-5 of the scale.
        for (let i = 0; i < want.length; i++)
          expect(Math.abs(r.outputs[i]! - want[i]!), `${m} output ${i}`).toBeLessThan(1e-5 * (1 + Math.abs(want[i]!)));
        model.dispose();
      }
    },
  );
});
