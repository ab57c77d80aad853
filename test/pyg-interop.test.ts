import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadData, type DataChoice } from '../src/store/node-task.js';
import { loadModel, type KernelBinaries } from '../src/infer/index.js';
import { decodeForeignSafetensors, encodeCheckpoint, loadCheckpoint } from '../src/train/checkpoint.js';
import type { NodeTrainConfig } from '../src/train/node-trainer.js';
import { bitsEqual, runGraftAsync, sharedData, tempDir } from './helpers.js';

// Weights from and to PyTorch Geometric. The fixture (test/fixtures/pyg-cora) is a 2-layer
// GCN trained on Cora with PyTorch 1.13 by bench/pyg_cora.py: its state_dict as PyG's
// GCNConv names it, and its eval-mode logits, computed by PyTorch.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixture = join(root, 'test', 'fixtures', 'pyg-cora');
const stateDict = join(fixture, 'state_dict.safetensors');
const meta = JSON.parse(readFileSync(join(fixture, 'meta.json'), 'utf8')) as {
  test_accuracy: number;
  nodes: number;
  classes: number;
};
const kernels: KernelBinaries = { simd: readFileSync(join(root, 'build', 'graft-simd-local.wasm')) };
const shared = sharedData();
if (!shared) console.warn('test/pyg-interop.test.ts: Cora tests skipped: no ../shared/data');

async function ok(args: string[]): Promise<string> {
  const r = await runGraftAsync(args);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

async function logitsOf(run: string): Promise<{ logits: Float32Array; pred: Int32Array }> {
  const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as NodeTrainConfig & DataChoice;
  const ds = loadData(config, config.seed);
  const model = await loadModel(readFileSync(join(run, 'checkpoint.safetensors')), { kernels, backend: 'simd' });
  return model.predictNodes({ numNodes: ds.numNodes, features: ds.features, src: ds.src, dst: ds.dst });
}

const tensorsOf = (file: string): Map<string, Float32Array> =>
  new Map([...decodeForeignSafetensors(readFileSync(file), file).tensors].map(([k, t]) => [k, t.data as Float32Array]));

describe.skipIf(!shared)('PyG interop on Cora', () => {
  it("a PyG-trained GCN imported into Graft gives PyTorch's logits within 1e-4, and its test accuracy", async () => {
    const run = join(tempDir('graft-pyg-'), 'run');
    await ok(['import', '--from', 'pyg', stateDict, '--model', 'gcn', '--dataset', 'cora', '--out', run]);
    const want = new Float32Array(new Uint8Array(readFileSync(join(fixture, 'logits.f32'))).buffer);
    const got = await logitsOf(run);
    expect(got.logits.length).toBe(meta.nodes * meta.classes);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got.logits[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-4);
    const ev = JSON.parse(await ok(['eval', '--run', run])) as { test_accuracy: number };
    expect(ev.test_accuracy).toBeCloseTo(meta.test_accuracy, 4);
  });

  it('round trips are bitwise: PyG → Graft → PyG, and Graft → PyG → Graft', async () => {
    const dir = tempDir('graft-pyg-rt-');
    await ok(['import', '--from', 'pyg', stateDict, '--model', 'gcn', '--out', join(dir, 'imported')]);
    await ok(['export', '--to', 'pyg', '--run', join(dir, 'imported'), '--out', join(dir, 'back.safetensors')]);
    const a = tensorsOf(stateDict),
      b = tensorsOf(join(dir, 'back.safetensors'));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, t] of a) expect(bitsEqual(b.get(k)!, t), k).toBe(true);

    const trained = join(dir, 'trained');
    await ok(['train', '--dataset', 'cora', '--epochs', '20', '--threads', '2', '--out', trained, '--quiet']);
    await ok(['export', '--to', 'pyg', '--run', trained, '--out', join(dir, 'trained.pyg.safetensors')]);
    await ok([
      'import',
      '--from',
      'pyg',
      join(dir, 'trained.pyg.safetensors'),
      '--model',
      'gcn',
      '--out',
      join(dir, 'reimported'),
    ]);
    const orig = loadCheckpoint(join(trained, 'checkpoint.safetensors')),
      again = loadCheckpoint(join(dir, 'reimported', 'checkpoint.safetensors'));
    for (const name of ['gcn0.weight', 'gcn0.bias', 'gcn1.weight', 'gcn1.bias']) {
      expect(
        bitsEqual(
          again.tensors.get(`model.${name}`)!.data as Float32Array,
          orig.tensors.get(`best.${name}`)!.data as Float32Array,
        ),
        name,
      ).toBe(true);
    }
    const p1 = await logitsOf(trained),
      p2 = await logitsOf(join(dir, 'reimported'));
    expect(bitsEqual(p1.logits, p2.logits)).toBe(true);
  });

  it('graft export --to graft writes the reported weights alone, which graft/infer runs to the same bits', async () => {
    const dir = tempDir('graft-export-');
    const run = join(dir, 'run');
    await ok(['train', '--dataset', 'cora', '--epochs', '20', '--threads', '2', '--out', run, '--quiet']);
    await ok(['export', '--to', 'graft', '--run', run]);
    const small = join(run, 'model.safetensors');
    expect(statSync(small).size).toBeLessThan(statSync(join(run, 'checkpoint.safetensors')).size / 2); // no Adam moments, no last-epoch copy
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as NodeTrainConfig & DataChoice;
    const ds = loadData(config, config.seed);
    const g = { numNodes: ds.numNodes, features: ds.features, src: ds.src, dst: ds.dst };
    const a = await (await loadModel(readFileSync(small), { kernels })).predictNodes(g);
    const b = await (await loadModel(readFileSync(join(run, 'checkpoint.safetensors')), { kernels })).predictNodes(g);
    expect(bitsEqual(a.logits, b.logits)).toBe(true);
  });

  it('refuses a state_dict that does not fit, naming the file and the tensor', async () => {
    const dir = tempDir('graft-pyg-bad-');
    const sd = decodeForeignSafetensors(readFileSync(stateDict), stateDict);
    const without = new Map(sd.tensors);
    without.delete('conv2.bias');
    writeFileSync(join(dir, 'nobias.safetensors'), encodeCheckpoint({ tensors: without, metadata: {} }));
    let r = await runGraftAsync([
      'import',
      '--from',
      'pyg',
      join(dir, 'nobias.safetensors'),
      '--model',
      'gcn',
      '--out',
      join(dir, 'a'),
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nobias\.safetensors: conv2\.bias is missing/);
    r = await runGraftAsync([
      'import',
      '--from',
      'pyg',
      stateDict,
      '--model',
      'gcn',
      '--dataset',
      'citeseer',
      '--out',
      join(dir, 'b'),
    ]);
    expect(r.stderr).toMatch(/state_dict\.safetensors reads 1433 features, but citeseer has 3703/);
    r = await runGraftAsync(['import', '--from', 'onnx', stateDict, '--out', join(dir, 'c')]);
    expect(r.stderr).toMatch(/--from must be 'pyg'/);
    r = await runGraftAsync(['import', '--from', 'pyg', stateDict, '--layers', '3', '--out', join(dir, 'd')]);
    expect(r.stderr).toMatch(/--layers 3, but .* holds 2 GCN layers/);
  });
});
