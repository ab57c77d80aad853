import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/infer/index.js';
import { writeDrugCsv } from './fixtures/drug-molecules.js';
import { readJson, runGraftAsync, tempDir } from './helpers.js';

// A hybrid run whose dense branch reads RDKit descriptors (graft train --task graph --hybrid
// --hybrid-inputs descriptors|both) used afterwards. Oracles: the run's own predictions.csv
// and metrics.json (written by training, which built the dense inputs itself), and a run whose
// recorded scaling was changed (its predictions must change: the scaling is read, not ignored).
// Every other consumer refuses in one line naming the run's file.

const dir = tempDir('graft-descruns-');
const data = writeDrugCsv(dir);
const runs = { both: join(dir, 'both'), descriptors: join(dir, 'desc') };

async function train(inputs: 'both' | 'descriptors', out: string): Promise<void> {
  const r = await runGraftAsync([
    'train',
    '--task',
    'graph',
    '--data',
    data,
    '--hybrid',
    '--hybrid-inputs',
    inputs,
    '--epochs',
    '2',
    '--threads',
    '2',
    '--out',
    out,
    '--quiet',
    '--no-cache',
  ]);
  expect(r.status, r.stderr).toBe(0);
}

/** A copy of a run whose config.json is changed by `edit`. */
function editedRun(from: string, name: string, edit: (cfg: Record<string, unknown>) => void): string {
  const to = join(dir, name);
  cpSync(from, to, { recursive: true });
  const cfg = readJson(join(to, 'config.json'));
  edit(cfg);
  writeFileSync(join(to, 'config.json'), JSON.stringify(cfg));
  return to;
}

type Scaling = { names: string[]; mean: number[]; sd: number[] };

describe('graft predict and graft eval on a descriptor hybrid', () => {
  it.each(['both', 'descriptors'] as const)(
    "--hybrid-inputs %s: predict rewrites the run's predictions.csv to the byte, eval gives its test ROC-AUC",
    async (inputs) => {
      const run = runs[inputs];
      await train(inputs, run);
      expect(readJson(join(run, 'config.json'))['hybrid_inputs']).toBe(inputs);
      const out = join(dir, `${inputs}-test.csv`);
      const p = await runGraftAsync(['predict', '--run', run, '--threads', '1', '--out', out]);
      expect(p.status, p.stderr).toBe(0);
      expect(readFileSync(out, 'utf8')).toBe(readFileSync(join(run, 'predictions.csv'), 'utf8'));
      const ev = await runGraftAsync(['eval', '--run', run, '--threads', '1']);
      expect(ev.status, ev.stderr).toBe(0);
      expect(JSON.parse(ev.stdout).test_roc_auc).toBe(readJson(join(run, 'metrics.json'))['test_roc_auc']);
    },
    90_000,
  );

  it('scores new molecules (--data) as training scored them: each test row of predictions.csv is a row of the output', async () => {
    const out = join(dir, 'all.csv');
    const p = await runGraftAsync(['predict', '--run', runs.both, '--data', data, '--threads', '2', '--out', out]);
    expect(p.status, p.stderr).toBe(0);
    const all = new Set(readFileSync(out, 'utf8').trim().split('\n'));
    const test = readFileSync(join(runs.both, 'predictions.csv'), 'utf8').trim().split('\n');
    expect(all.size).toBe(readFileSync(data, 'utf8').trim().split('\n').length);
    for (const line of test) expect(all.has(line), line).toBe(true);
  }, 60_000);

  it('reads the recorded scaling: shifted means give other predictions', async () => {
    const shifted = editedRun(runs.descriptors, 'shifted', (cfg) => {
      const s = cfg['descriptor_scaling'] as Scaling;
      s.mean = s.mean.map((m, j) => m + 3 * s.sd[j]!);
    });
    const out = join(dir, 'shifted.csv');
    const p = await runGraftAsync(['predict', '--run', shifted, '--threads', '1', '--out', out]);
    expect(p.status, p.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).not.toBe(readFileSync(join(runs.descriptors, 'predictions.csv'), 'utf8'));
  }, 60_000);

  it('refuses a config.json whose scaling is missing or of the wrong length, naming the file', async () => {
    const missing = editedRun(runs.both, 'missing', (cfg) => {
      delete cfg['descriptor_scaling'];
    });
    const short = editedRun(runs.both, 'short', (cfg) => {
      const s = cfg['descriptor_scaling'] as Scaling;
      s.sd = s.sd.slice(1);
    });
    for (const [run, what] of [
      [missing, /: no descriptor_scaling \(the training split's mean and sd of the 43 RDKit descriptors/],
      [short, /: descriptor_scaling .* must be 43 finite means and 43 positive sds, got 43 and 42$/],
    ] as const)
      for (const cmd of ['predict', 'eval']) {
        const r = await runGraftAsync(
          cmd === 'eval' ? [cmd, '--run', run] : [cmd, '--run', run, '--out', join(run, 'p.csv')],
        );
        expect(r.status).toBe(2);
        const line = r.stderr.trim();
        expect(line.split('\n')).toHaveLength(1);
        expect(line.startsWith(`graft ${cmd}: ${join(run, 'config.json')}`)).toBe(true);
        expect(line).toMatch(what);
        expect(existsSync(join(run, 'p.csv'))).toBe(false);
      }
  }, 60_000);
});

describe('the other consumers refuse a descriptor hybrid in one line', () => {
  it('graft explain, export, quantize --int8 and soup name the run and what is not supported', async () => {
    const run = runs.both;
    const cfgFile = join(run, 'config.json');
    const refusal = (cmd: string): string =>
      `graft ${cmd}: ${cfgFile}: the run's hybrid reads RDKit descriptors (hybrid_inputs both), scaled on its training split; graft ${cmd} is not supported on such runs (graft predict and graft eval are)`;
    const cases: [string, string[], string][] = [
      ['explain', ['explain', '--run', run, '--quiet'], join(run, 'explain')],
      ['explain', ['explain', '--run', run, '--method', 'kernelshap', '--quiet'], join(run, 'explain')],
      [
        'export',
        ['export', '--to', 'graft', '--run', run, '--out', join(dir, 'm.safetensors')],
        join(dir, 'm.safetensors'),
      ],
      ['quantize', ['quantize', '--int8', '--run', run], join(run, 'model.int8.safetensors')],
      ['soup', ['soup', '--runs', `${run},${runs.descriptors}`, '--out', join(dir, 'soup')], join(dir, 'soup')],
    ];
    for (const [cmd, args, written] of cases) {
      const r = await runGraftAsync(args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim()).toBe(refusal(cmd));
      expect(existsSync(written)).toBe(false);
    }
  }, 60_000);

  it("graft/infer's loadModel refuses the model, naming the file and the dense branch's width", async () => {
    const bytes = readFileSync(join(runs.both, 'checkpoint.safetensors'));
    await expect(loadModel(bytes, { name: 'both.safetensors' })).rejects.toThrow(
      /^both\.safetensors: a hybrid whose dense branch reads 1067 columns \(RDKit descriptors scaled on its training split, not the 1024-bit fingerprint\): graft\/infer does not support such models/,
    );
  });
});
