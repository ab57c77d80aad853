import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticGenomicData } from '../src/data/genomic-synthetic.js';
import { loadGenomicModels, saveGenomicModels } from '../src/explain/genomic-models.js';
import { keptModelFile, loadKeptModel, loadScoringBasis } from '../src/genomics/kept-models.js';
import type { StudyData } from '../src/genomics/study-data.js';
import { loadModel } from '../src/infer/index.js';
import { decodeCheckpoint } from '../src/train/checkpoint.js';
import { keptGpRun } from './gp-kept-run.js';
import { runGraftAsync, tempDir } from './helpers.js';

// graft gp --gcn-soup --keep-models: the soup kept as an ordinary gp GCN model of one member.
// Oracles: the uniform mean of the kept gcn ensemble's weights (the members it was souped
// from), computed here and written as a one-member model file by hand; graft/infer on that
// file; candidates.csv's gcn rows (the ensemble, which graft predict must still score as before).

const dir = tempDir('graft-gp-soup-kept-');
const data = syntheticGenomicData({ samples: 70, chromosomes: 2, markersPerChromosome: 40, seed: 11 });
const n = data.ids.length,
  m = data.markers.length;
const isCandidate = (i: number): boolean => i % 7 === 3; // 10 candidates

function csvGenotypes(rows: number[]): string {
  const head = ['id', ...data.markers].join(',');
  return `${[head, ...rows.map((i) => [data.ids[i]!, ...Array.from({ length: m }, (_, j) => data.dosage[i * m + j]!)].join(','))].join('\n')}\n`;
}

let run = '';
let genoFile = '';
beforeAll(async () => {
  genoFile = join(dir, 'geno.csv');
  writeFileSync(genoFile, csvGenotypes(Array.from({ length: n }, (_, i) => i)));
  const r = await keptGpRun(dir, data, genoFile, isCandidate, [
    '--models',
    'gcn',
    '--gcn-soup',
    'uniform',
    '--features',
    'pcs',
    '--pcs',
    '8',
    '--epochs',
    '10',
    '--hidden',
    '8',
    '--ensemble',
    '3',
    '--k',
    '2',
    '--threads',
    '1',
    '--quiet',
  ]);
  run = r.run;
  expect(r.status, r.stderr).toBe(0);
}, 120_000);

const inputsOf = (models: string) => {
  const cp = decodeCheckpoint(readFileSync(join(models, 'inputs.safetensors')));
  return {
    n: cp.tensors.get('features')!.shape[0]!,
    features: cp.tensors.get('features')!.data as Float32Array,
    src: cp.tensors.get('src')!.data as Int32Array,
    dst: cp.tensors.get('dst')!.data as Int32Array,
  };
};

/** graft predict's rows for the candidates' genotypes by the soup and the ensemble, by id|model. */
async function predictCandidates(extra: string[], outName: string): Promise<Map<string, string[]>> {
  const file = join(dir, 'cand.csv');
  writeFileSync(file, csvGenotypes(Array.from({ length: n }, (_, i) => i).filter(isCandidate)));
  const out = join(dir, outName);
  const r = await runGraftAsync([
    'predict',
    '--run',
    run,
    '--geno',
    file,
    '--models',
    'gcn-soup,gcn',
    '--out',
    out,
    '--threads',
    '1',
    ...extra,
  ]);
  expect(r.status, r.stderr).toBe(0);
  const rows = readFileSync(out, 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => l.split(','));
  return new Map(rows.map((c) => [`${c[0]}|${c[2]}`, c]));
}

describe('graft gp --gcn-soup --keep-models', () => {
  it('writes the soup as a one-member gp model file: the mean of the kept members, run by graft/infer', async () => {
    const models = join(run, 'models');
    const read = (f: string) => {
      const cp = decodeCheckpoint(readFileSync(f));
      return { fp: cp.metadata['fit_sha256']!, config: JSON.parse(cp.metadata['config']!) };
    };
    const ens = read(join(models, 'gcn-yield.safetensors'));
    const members = loadGenomicModels(join(models, 'gcn-yield.safetensors'), ens.fp)!;
    const soup = loadGenomicModels(join(models, 'gcn-soup-yield.safetensors'), ens.fp)!;
    expect(members.length).toBe(3);
    expect(soup.length).toBe(1);
    // One initialization: every member has the same scale, and the soup carries it.
    for (const e of members) expect(e.scale).toEqual(members[0]!.scale);
    expect(soup[0]!.scale).toEqual(members[0]!.scale);
    const mean = new Map<string, Float32Array>();
    for (const [name, w] of members[0]!.weights) {
      const sum = Float64Array.from(w);
      for (const e of members.slice(1)) {
        const v = e.weights.get(name)!;
        for (let i = 0; i < v.length; i++) sum[i]! += v[i]!;
      }
      mean.set(
        name,
        Float32Array.from(sum, (v) => v / members.length),
      );
      expect(soup[0]!.weights.get(name)).toEqual(mean.get(name));
    }
    // graft/infer reads the soup like any gp GCN model file: the same bits as a hand-written one-member file.
    const input = inputsOf(models);
    const shape = JSON.parse(decodeCheckpoint(readFileSync(join(models, 'gcn-yield.safetensors'))).metadata['shape']!);
    const hand = join(dir, 'hand-soup.safetensors');
    saveGenomicModels(hand, [{ seed: soup[0]!.seed, scale: members[0]!.scale, weights: mean }], 'hand', ens.config, {
      f: shape.features,
      featureBlocks: shape.blocks,
    } as unknown as StudyData);
    const got = await (await loadModel(readFileSync(join(models, 'gcn-soup-yield.safetensors')))).predictGenomic(input);
    const want = await (await loadModel(readFileSync(hand))).predictGenomic(input);
    expect([...got]).toEqual([...want]);
    // And its candidates in candidates.csv are the soup's predictions of them (transductive, same graph).
    const ids = JSON.parse(decodeCheckpoint(readFileSync(join(models, 'inputs.safetensors'))).metadata['ids']!);
    const rows = readFileSync(join(run, 'candidates.csv'), 'utf8').trim().split('\n').slice(1);
    const soupRows = rows.map((l) => l.split(',')).filter((c) => c[2] === 'gcn-soup');
    expect(soupRows.length).toBe(10);
    for (const c of soupRows) {
      const i = ids.indexOf(JSON.parse(c[0]!));
      expect(Number(c[3])).toBeCloseTo(got[i]!, 5);
      expect(c[4]).toBe(''); // one model: no members' spread
    }
  });

  it('keeps kept-gcn-soup-<trait> for graft predict, which scores new genotypes with it (--models gcn-soup picks it)', async () => {
    const models = join(run, 'models');
    const basis = loadScoringBasis(models);
    const kept = loadKeptModel(keptModelFile(models, 'gcn-soup', 'yield'), basis);
    expect(kept.model).toBe('gcn-soup');
    expect(kept.final.members!.length).toBe(1);
    const rows = [...(await predictCandidates([], 'pred.csv')).values()];
    const soupRows = rows.filter((c) => c[2] === 'gcn-soup');
    expect(soupRows.length).toBe(10);
    // The soup and the ensemble it replaces rank the candidates alike here (new samples joined to the
    // study's graph afterwards, as for gcn): predictions of the same scale, each within the trait's spread.
    const inGp = new Map(
      readFileSync(join(run, 'candidates.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','))
        .filter((c) => c[2] === 'gcn-soup')
        .map((c) => [c[0], Number(c[3])]),
    );
    const y = data.traits[0]!.values;
    const sd = Math.sqrt(y.reduce((a, v) => a + v * v, 0) / y.length - (y.reduce((a, v) => a + v, 0) / y.length) ** 2);
    for (const c of soupRows) expect(Math.abs(Number(c[3]) - inGp.get(c[0])!)).toBeLessThan(0.5 * sd);
  }, 60_000);

  const bounds = new Map<string, number>();
  it('graft quantize --int8 --trait: the soup and the ensemble in int8, within the bound their quantization steps give, read by graft/infer', async () => {
    const models = join(run, 'models');
    const input = inputsOf(models);
    for (const model of ['gcn-soup', 'gcn']) {
      const r = await runGraftAsync(['quantize', '--run', run, '--int8', '--trait', 'yield', '--model', model]);
      expect(r.status, r.stderr).toBe(0);
      const q = JSON.parse(r.stdout) as {
        out: string;
        max_abs_diff: number;
        bound: number;
        bytes: Record<string, number>;
      };
      const floatFile = join(models, `${model}-yield.safetensors`);
      expect(q.out).toBe(join(models, `${model}-yield.int8.safetensors`));
      // graft/infer reads the int8 file; its difference from the float model is the one reported.
      const float = await (await loadModel(readFileSync(floatFile))).predictGenomic(input);
      const int8 = await (await loadModel(readFileSync(q.out))).predictGenomic(input);
      let worst = 0;
      for (let i = 0; i < float.length; i++) worst = Math.max(worst, Math.abs(int8[i]! - float[i]!));
      // (here on this process's backend, there on the CLI's: float rounding may differ in the last bits)
      expect(Math.abs(worst - q.max_abs_diff)).toBeLessThan(1e-4 * q.max_abs_diff);
      expect(worst).toBeGreaterThan(0); // quantized, not the float weights
      expect(worst, model).toBeLessThanOrEqual(q.bound);
      bounds.set(model, q.bound);
    }
  }, 60_000);

  it('graft predict --int8 scores new genotypes with the int8 files: near the float models, no spread; a missing file is named', async () => {
    const float = await predictCandidates([], 'pred-float.csv'),
      int8 = await predictCandidates(['--int8'], 'pred-int8.csv');
    expect(int8.size).toBe(20);
    let differs = false;
    for (const [key, c] of int8) {
      const f = float.get(key)!;
      const model = c[2]!;
      // The quantization's bound on the study's samples; a new sample's inputs lie in about the same ranges.
      expect(Math.abs(Number(c[3]) - Number(f[3])), key).toBeLessThanOrEqual(bounds.get(model)!);
      differs ||= c[3] !== f[3];
      expect(c[4]).toBe(''); // the members' mean only: no spread
    }
    expect(differs).toBe(true);
    rmSync(join(run, 'models', 'gcn-soup-yield.int8.safetensors'));
    const r = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--geno',
      join(dir, 'cand.csv'),
      '--models',
      'gcn-soup',
      '--int8',
      '--out',
      join(dir, 'x.csv'),
    ]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${join(run, 'models', 'gcn-soup-yield.int8.safetensors')} not found`);
  }, 60_000);
});
