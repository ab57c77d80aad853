import { appendFileSync, cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadMoleculeCsv } from '../src/chem/dataset.js';
import { graphRunTrainer, scoreMolecules } from '../src/chem/graph-run.js';
import { smilesToGraph } from '../src/chem/featurize.js';
import { rdkit } from '../src/chem/rdkit.js';
import { FingerprintSet, morganFingerprint, packedFingerprints, tanimoto } from '../src/chem/similarity.js';
import { moleculeSplit } from '../src/chem/train-molecules.js';
import { Runtime } from '../src/runtime/runtime.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { preprocessMetadata, readPreprocess } from '../src/graph/preprocess.js';
import { SMILES } from './fixtures.js';
import { readJson, runGraftAsync, tempDir } from './helpers.js';

// graft train --task graph's predictions.csv and graft predict on a graph run. Oracles: the
// run's own split and labels rebuilt here (which rows, which truth), ROC-AUC by counting
// pairs, Tanimoto from RDKit's own fingerprint bit string, and the bytes of predictions.csv.

const dir = tempDir('graft-gpred-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

// 48 rows: the fixture's 24 SMILES and the same with a 'C' prefixed (three of those do not
// parse: rows 33, 37 and 49 are skipped, so data rows and molecules differ from there on).
const labelRows = SMILES.map((s, i) => `${s},${i % 3 === 0 ? 0 : 1},${i % 2},${i % 8 === 0 ? 1 : i === 5 ? '' : 0}`);
const data = put(
  'mols.csv',
  `${['smiles,common,mid,rare', ...labelRows, ...labelRows.map((r) => r.replace(/^([^,]+)/, 'C$1'))].join('\n')}\n`,
);
const run = join(dir, 'run');

/** predictions.csv as rows of fields (no field here holds a comma). */
const table = (file: string): string[][] =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(','));

/** ROC-AUC as P(score of a positive > score of a negative) + ½ P(tie), over all pairs. */
function pairAuc(truth: number[], score: number[]): number {
  let wins = 0,
    pairs = 0;
  truth.forEach((ti, i) => {
    if (ti === 1)
      truth.forEach((tj, j) => {
        if (tj === 0) {
          pairs++;
          wins += score[i]! > score[j]! ? 1 : score[i] === score[j] ? 0.5 : 0;
        }
      });
  });
  return wins / pairs;
}

/** Tanimoto of two RDKit Morgan fingerprints (radius 2, 2048 bits) from RDKit's '0'/'1' strings. */
async function rdkitTanimoto(a: string, b: string): Promise<number> {
  const RD = await rdkit();
  const bits = (s: string): string => {
    const m = RD.get_mol(s)!;
    try {
      return m.get_morgan_fp(JSON.stringify({ radius: 2, nBits: 2048 }));
    } finally {
      m.delete();
    }
  };
  const x = bits(a),
    y = bits(b);
  let both = 0,
    either = 0;
  for (let i = 0; i < 2048; i++) {
    if (x[i] === '1' && y[i] === '1') both++;
    if (x[i] === '1' || y[i] === '1') either++;
  }
  return both / either;
}

describe("Morgan fingerprints and Tanimoto (oracle: RDKit's own bit strings)", () => {
  it("a graph keeps the fingerprint of its parse (through the cache too); FingerprintSet and tanimoto agree with RDKit's bits", async () => {
    const graphs = await Promise.all(SMILES.map((s) => smilesToGraph(s)));
    for (const [i, s] of SMILES.entries()) expect(graphs[i]!.similarity).toEqual(await morganFingerprint(s));
    const cached = await loadMoleculeCsv(
      put('fp.csv', `${['smiles,a', ...SMILES.map((s, i) => `${s},${i % 2}`)].join('\n')}\n`),
      { targets: 'all', task: 'multilabel', cacheDir: join(dir, 'cache') },
    );
    const again = await loadMoleculeCsv(join(dir, 'fp.csv'), {
      targets: 'all',
      task: 'multilabel',
      cacheDir: join(dir, 'cache'),
    });
    expect(again.fromCache && !cached.fromCache).toBe(true);
    again.graphs.forEach((g, i) => {
      expect(g.similarity).toEqual(graphs[i]!.similarity);
    });
    const reference = SMILES.slice(0, 12),
      set = new FingerprintSet(await packedFingerprints(reference.map((s, i) => ({ graph: graphs[i]!, smiles: s }))));
    for (const q of [...SMILES.slice(10, 16), 'CC12CCC3c4ccc(O)cc4CCC3C1CCC2O']) {
      const fp = (await morganFingerprint(q))!;
      const byRdkit = Math.max(...(await Promise.all(reference.map((r) => rdkitTanimoto(q, r)))));
      expect(set.maxSimilarity(fp)).toBe(byRdkit);
      expect(
        Math.max(...(await Promise.all(reference.map(async (r) => tanimoto(fp, (await morganFingerprint(r))!))))),
      ).toBe(byRdkit);
    }
    expect(await morganFingerprint('C1CC(')).toBeNull();
    expect(new FingerprintSet(new Uint8Array(0)).maxSimilarity((await morganFingerprint('CCO'))!)).toBeNaN();
  });
});

describe('graph runs: predictions.csv and graft predict', () => {
  it("train writes predictions.csv for the test split: its rows, a probability and a call per label at the run's thresholds", async () => {
    const r = await runGraftAsync([
      'train',
      '--task',
      'graph',
      '--data',
      data,
      '--hybrid',
      '--epochs',
      '3',
      '--threads',
      '2',
      '--out',
      run,
      '--quiet',
      '--no-cache',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const rows = table(join(run, 'predictions.csv'));
    expect(rows[0]).toEqual([
      'row',
      'smiles',
      'common',
      'mid',
      'rare',
      'common_call',
      'mid_call',
      'rare_call',
      'max_similarity',
      'error',
    ]);
    // Oracle for which rows: the run's seeded split rebuilt from the data file.
    const ds = await loadMoleculeCsv(data, { targets: ['common', 'mid', 'rare'], task: 'multilabel', cacheDir: null });
    const { split } = moleculeSplit(ds, { split: 'random', hybrid: true, config: { seed: 1 } });
    expect(rows.slice(1).map((f) => [Number(f[0]), f[1]])).toEqual(
      split.test.map((i) => [ds.rows[i]! + 1, ds.smiles[i]]),
    );
    expect(rows.slice(1).every((f) => f[9] === '')).toBe(true);
    // Written exactly: each text reads back as the float32 the run's model gives, rebuilt here from its checkpoint.
    const rt = await Runtime.create({ threads: 1 });
    const ck = join(run, 'checkpoint.safetensors');
    const trainer = graphRunTrainer(rt, loadCheckpoint(ck), ck, 3);
    const probs = await scoreMolecules(
      trainer,
      'multilabel',
      split.test.map((i) => ds.graphs[i]!),
    );
    trainer.dispose();
    await rt.close();
    rows.slice(1).forEach((f, k) => {
      f.slice(2, 5).forEach((v, t) => {
        expect(Math.fround(Number(v))).toBe(probs[k * 3 + t]);
      });
    });
    // The probabilities are the ones the test figures were computed from: ROC-AUC by pairs equals metrics.json's.
    const cfg = readJson(join(run, 'config.json')) as {
      thresholds: Record<string, number>;
      inputs: { data: { path: string; sha256: string } };
    };
    const aucs = ['common', 'mid', 'rare']
      .map((label, t) => {
        const truth: number[] = [],
          score: number[] = [];
        split.test.forEach((i, k) => {
          const y = ds.y[i * 3 + t]!;
          if (!Number.isNaN(y)) {
            truth.push(y);
            score.push(Number(rows[k + 1]![2 + t]));
          }
        });
        // Each call is 1 exactly at or above the label's threshold.
        rows.slice(1).forEach((f) => {
          expect(f[5 + t]).toBe(Number(f[2 + t]) >= cfg.thresholds[label]! ? '1' : '0');
        });
        return truth.includes(0) && truth.includes(1) ? pairAuc(truth, score) : NaN;
      })
      .filter((a) => !Number.isNaN(a));
    const metrics = readJson(join(run, 'metrics.json'));
    expect(aucs.reduce((a, b) => a + b, 0) / aucs.length).toBeCloseTo(metrics['test_roc_auc'] as number, 12);
    expect(cfg.inputs.data.path).toBe(data);
    // The checkpoint itself records how its molecules were featurized (48 atom columns; the hybrid's 1024 Morgan bits).
    expect(readPreprocess(loadCheckpoint(ck).metadata, ck)).toEqual({
      version: 1,
      features: [],
      featurizer: { name: 'graft-atoms-v1', atomFeatures: 48, descriptors: 1024 },
    });
  }, 60_000);

  it("graft predict on the run's test split writes predictions.csv's bytes; on the run's data file, the same rows, every input row kept", async () => {
    const p = await runGraftAsync(['predict', '--run', run, '--threads', '1', '--out', join(dir, 'test.csv')]);
    expect(p.status, p.stderr).toBe(0);
    expect(readFileSync(join(dir, 'test.csv'), 'utf8')).toBe(readFileSync(join(run, 'predictions.csv'), 'utf8'));
    const all = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--data',
      data,
      '--threads',
      '2',
      '--out',
      join(dir, 'all.csv'),
    ]);
    expect(all.status, all.stderr).toBe(0);
    expect(all.stderr).toMatch(/3 of 48 molecules not scored \(invalid or empty SMILES; rows 32, 36, 48\)/);
    const lines = readFileSync(join(dir, 'all.csv'), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(49);
    expect(lines.slice(1).map((l) => Number(l.split(',')[0]))).toEqual(Array.from({ length: 48 }, (_, i) => i + 1));
    for (const l of readFileSync(join(run, 'predictions.csv'), 'utf8').trim().split('\n').slice(1))
      expect(lines[Number(l.split(',')[0])]).toBe(l);
    expect(lines[32]).toBe('32,CO=C(O)CCC(=O)O,,,,,,,,invalid SMILES: RDKit cannot parse it');
  }, 30_000);

  it('a run from before predictions.csv (no thresholds, hashes or fingerprints kept): the same bytes, from its data file and seeded split', async () => {
    const old = join(dir, 'old-run');
    cpSync(run, old, { recursive: true });
    const { thresholds: _t, inputs: _i, featurizer: _f, ...cfg } = readJson(join(old, 'config.json'));
    writeFileSync(join(old, 'config.json'), JSON.stringify(cfg));
    rmSync(join(old, 'train-fingerprints.safetensors'));
    const p = await runGraftAsync(['predict', '--run', old, '--out', join(dir, 'old.csv')]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stderr).toMatch(/records no SHA-256 of the run's data file/);
    expect(p.stderr).toMatch(
      /predates stored thresholds and training fingerprints: taken from .*mols\.csv and the run's seeded split/,
    );
    expect(readFileSync(join(dir, 'old.csv'), 'utf8')).toBe(readFileSync(join(run, 'predictions.csv'), 'utf8'));
  }, 30_000);

  it('new molecules: one row per input row in order, invalid and empty SMILES keep theirs; max_similarity is RDKit Tanimoto to the training molecules', async () => {
    const ds = await loadMoleculeCsv(data, { targets: ['common', 'mid', 'rare'], task: 'multilabel', cacheDir: null });
    const train = moleculeSplit(ds, { split: 'random', hybrid: true, config: { seed: 1 } }).split.train.map(
      (i) => ds.smiles[i]!,
    );
    const inTrain = train[3]!,
      estradiol = 'CC12CCC3c4ccc(O)cc4CCC3C1CCC2O';
    const f = put('new.csv', `${['id;mol', `a;${estradiol}`, 'b;C1CC(', 'c;', `d;${inTrain}`].join('\n')}\n`);
    const missing = await runGraftAsync(['predict', '--run', run, '--data', f]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(
      /new\.csv:1: no SMILES column \(none named 'smiles'; name it with --smiles\); the columns are 'id', 'mol'/,
    );
    const p = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--data',
      f,
      '--smiles',
      'mol',
      '--out',
      join(dir, 'new-pred.csv'),
    ]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stderr).toMatch(/2 of 4 molecules not scored/);
    const rows = table(join(dir, 'new-pred.csv'));
    expect(rows.map((r) => [r[0], r[1], r[9]])).toEqual([
      ['row', 'smiles', 'error'],
      ['1', estradiol, ''],
      ['2', 'C1CC(', 'invalid SMILES: RDKit cannot parse it'],
      ['3', '', 'empty SMILES'],
      ['4', inTrain, ''],
    ]);
    expect(rows[2]!.slice(2, 9).every((v) => v === '')).toBe(true);
    expect(rows[1]!.slice(2, 5).every((v) => Number(v) > 0 && Number(v) < 1)).toBe(true);
    const oracle = async (s: string): Promise<number> =>
      Math.max(...(await Promise.all(train.map((t) => rdkitTanimoto(s, t)))));
    expect(Number(rows[4]![8])).toBe(1);
    const far = await oracle(estradiol);
    expect(far).toBeLessThan(0.5);
    expect(Number(rows[1]![8])).toBeCloseTo(far, 5);
  }, 30_000);

  it("export and quantize take the run's featurizer, not this graft's: a run featurized otherwise is exported as such and refused where molecules are featurized again", async () => {
    // Oracle: the featurizer name planted in the run (a graft-atoms-v0 no graft has), in the checkpoint or, for a run whose checkpoint records none, in config.json.
    const ck = (d: string): string => join(d, 'checkpoint.safetensors');
    const inCheckpoint = join(dir, 'v0-run'),
      inConfig = join(dir, 'v0-config-run');
    for (const d of [inCheckpoint, inConfig]) cpSync(run, d, { recursive: true });
    const planted = loadCheckpoint(ck(inCheckpoint));
    saveCheckpoint(ck(inCheckpoint), {
      ...planted,
      metadata: {
        ...planted.metadata,
        ...preprocessMetadata({
          features: [],
          featurizer: { name: 'graft-atoms-v0', atomFeatures: 48, descriptors: 1024 },
        }),
      },
    });
    const { preprocess: _p, ...bare } = planted.metadata;
    saveCheckpoint(ck(inConfig), { ...planted, metadata: bare });
    writeFileSync(
      join(inConfig, 'config.json'),
      JSON.stringify({ ...readJson(join(inConfig, 'config.json')), featurizer: 'graft-atoms-v0' }),
    );
    for (const [d, where] of [
      [inCheckpoint, ck(inCheckpoint)],
      [inConfig, join(inConfig, 'config.json')],
    ] as const) {
      const e = await runGraftAsync(['export', '--to', 'graft', '--run', d, '--out', join(d, 'model.safetensors')]);
      expect(e.status, e.stderr).toBe(0);
      expect(readPreprocess(loadCheckpoint(join(d, 'model.safetensors')).metadata, 'model')!.featurizer).toEqual({
        name: 'graft-atoms-v0',
        atomFeatures: 48,
        descriptors: 1024,
      });
      expect(e.stderr).toMatch(
        /graft export: warning: the run's molecules were featurized by graft-atoms-v0, and the model file says so/,
      );
      if (d === inConfig)
        expect(e.stderr).toContain(
          `graft export: warning: ${ck(inConfig)} does not record its featurizer (a run from an older graft): graft-atoms-v0, taken from ${where}`,
        );
      for (const cmd of [['quantize', '--int8'], ['eval']]) {
        const r = await runGraftAsync([...cmd, '--run', d]);
        expect(r.status).toBe(2);
        expect(r.stderr.trim()).toBe(
          `graft ${cmd[0]}: ${where}: the run's molecules were featurized by graft-atoms-v0; this version of graft featurizes by graft-atoms-v1, so graft ${cmd[0]} would feed its model other features: train the run again`,
        );
      }
      expect(existsSync(join(d, 'model.int8.safetensors'))).toBe(false);
    }
  }, 60_000);

  it('a data file changed since the run is refused, naming it, and nothing is written', async () => {
    const ev = await runGraftAsync(['eval', '--run', run, '--threads', '1']);
    expect(ev.status, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).test_roc_auc).toBe(readJson(join(run, 'metrics.json'))['test_roc_auc']);
    appendFileSync(data, 'CCCC,1,0,0\n');
    const refused = await runGraftAsync(['eval', '--run', run]);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain(
      `${data}: changed since the run (its SHA-256 differs from the one recorded in ${join(run, 'config.json')}); graft eval would not be of the run's data`,
    );
    for (const args of [[], ['--data', data]]) {
      const p = await runGraftAsync(['predict', '--run', run, ...args, '--out', join(dir, 'refused.csv')]);
      expect(p.status).toBe(2);
      expect(p.stderr).toContain(
        `${data}: changed since the run (its SHA-256 differs from the one recorded in ${join(run, 'config.json')})`,
      );
    }
    expect(existsSync(join(dir, 'refused.csv'))).toBe(false);
  }, 30_000);

  it('regression: one value column per target, no calls', async () => {
    const reg = put(
      'reg.csv',
      `${['smiles,logp,size', ...SMILES.map((s, i) => `${s},${(i % 5) - 2},${s.length / 10}`), ...SMILES.map((s, i) => `N${s},${(i % 3) - 1},${s.length / 8}`)].join('\n')}\n`,
    );
    const out = join(dir, 'reg-run');
    const r = await runGraftAsync([
      'train',
      '--task',
      'graph',
      '--type',
      'regression',
      '--data',
      reg,
      '--epochs',
      '1',
      '--out',
      out,
      '--quiet',
      '--no-cache',
    ]);
    expect(r.status, r.stderr).toBe(0);
    const rows = table(join(out, 'predictions.csv'));
    expect(rows[0]).toEqual(['row', 'smiles', 'logp', 'size', 'max_similarity', 'error']);
    expect(
      rows.slice(1).every((f) => f.length === 6 && Number.isFinite(Number(f[2])) && f[2] !== '' && f[5] === ''),
    ).toBe(true);
  }, 30_000);
});
