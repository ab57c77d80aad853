import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { soup } from '../src/cli/commands/soup.js';
import { reportedWeights } from '../src/nn/load-weights.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { SMILES } from './fixtures.js';
import { bitsEqual, readJson, runGraftAsync, tempDir } from './helpers.js';

// graft soup on graph runs (molecules, the hybrid): the soup's weights are the members' mean
// computed here, graft eval scores its folder as graft soup reported, graft predict reads it
// (thresholds and training fingerprints in place), and the sparse soup keeps its zeros.

const dir = tempDir('graft-soup-graph-');
const rows = SMILES.map((s, i) => `${s},${i % 3 === 0 ? 0 : 1},${i % 2}`);
const data = join(dir, 'mols.csv');
writeFileSync(data, `${['smiles,a,b', ...rows, ...rows.map((r) => `C${r}`)].join('\n')}\n`);
const at = (name: string): string => join(dir, name);
const train = async (name: string, extra: string[]): Promise<void> => {
  const args = ['train', '--task', 'graph', '--data', data, '--hybrid', '--epochs', '2', '--hidden', '16'];
  const r = await runGraftAsync([...args, '--threads', '2', '--quiet', '--no-cache', '--out', at(name), ...extra]);
  expect(r.status, r.stderr).toBe(0);
};

describe('graft soup (graph runs)', () => {
  it('uniform and sparse soups of two molecule runs: the mean by hand, read back by graft eval and graft predict; the sparse soup at its sparsity', async () => {
    await Promise.all([train('a', ['--train-seed', '1']), train('b', ['--train-seed', '2', '--lr', '0.003'])]);
    const runs = `${at('a')},${at('b')}`;
    expect(await soup(['--runs', runs, '--out', at('uniform'), '--quiet'])).toBe(0);
    const wa = reportedWeights(loadCheckpoint(join(at('a'), 'checkpoint.safetensors')), 'a'),
      wb = reportedWeights(loadCheckpoint(join(at('b'), 'checkpoint.safetensors')), 'b');
    const made = loadCheckpoint(join(at('uniform'), 'checkpoint.safetensors'));
    expect(made.tensors.size).toBe(wa.size);
    for (const [name, a] of wa) {
      const want = a.map((x, i) => Math.fround((x + wb.get(name)![i]!) / 2));
      expect(bitsEqual(made.tensors.get(`model.${name}`)!.data as Float32Array, want), name).toBe(true);
    }
    const reported = readJson(join(at('uniform'), 'soup.json')) as { soup: Record<string, number> };
    const [ev, pr] = await Promise.all([
      runGraftAsync(['eval', '--run', at('uniform')]),
      runGraftAsync(['predict', '--run', at('uniform'), '--data', data, '--out', at('pred.csv')]),
    ]);
    expect(ev.status, ev.stderr).toBe(0);
    expect((JSON.parse(ev.stdout) as Record<string, number>)['test_roc_auc']).toBe(reported.soup['test_roc_auc']);
    expect(pr.status, pr.stderr).toBe(0);
    expect(readFileSync(at('pred.csv'), 'utf8').split('\n')[0]).toMatch(/^row,smiles,a,b,a_call,b_call/);

    expect(
      await soup(['--runs', runs, '--method', 'sparse', '--sparsity', '0.5', '--out', at('sparse'), '--quiet']),
    ).toBe(0);
    const sp = loadCheckpoint(join(at('sparse'), 'checkpoint.safetensors'));
    let zeros = 0,
      n = 0;
    for (const t of sp.tensors.values())
      if (t.shape.length >= 2) {
        n += t.data.length;
        zeros += (t.data as Float32Array).filter((x) => x === 0).length;
      }
    expect(zeros).toBe(Math.round(0.5 * n));
  }, 180_000);
});
