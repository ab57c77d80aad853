import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Matrix, solve } from 'ml-matrix';
import { readLongPhenotypes, traitValues } from '../src/data/phenotypes.js';
import { fitAcrossEnvironments, fitGxE, hiddenRecords, multiEnvColumns } from '../src/genomics/multi-env.js';
import { readJson, rng, runGraftAsync, sharedData, tempDir } from './helpers.js';

// Long-format phenotypes (one row per genotype × environment, as trial exports come):
// graft gp --env COL runs each trait per environment. The oracle is the same data pivoted by
// hand into the wide format graft gp already reads: the same results, bit for bit.

const SYN = join(import.meta.dirname, '..', 'data', 'synthetic-gp');

describe('long-format phenotypes', () => {
  const dir = tempDir('graft-long-');
  const put = (name: string, text: string): string => {
    const f = join(dir, name);
    writeFileSync(f, text);
    return f;
  };

  it('pivots to trait@environment columns, averages replicates, keeps missing cells missing', () => {
    const f = put(
      'long.csv',
      'env,plot,id,yield,height\nA,1,g1,1.0,10\nB,2,g1,2.0,NA\nA,3,g2,3.0,30\nA,4,g2,5.0,50\nB,5,g3,NA,70\n',
    );
    const p = readLongPhenotypes(f, { env: 'env', id: 'id' }, 'all');
    expect(p.environments).toEqual(['A', 'B']);
    expect(p.traits).toEqual(['plot', 'yield', 'height']); // every numeric column besides id and environment
    const q = readLongPhenotypes(f, { env: 'env', id: 'id' }, ['yield', 'height']);
    expect(q.table.ids).toEqual(['g1', 'g2', 'g3']);
    expect(q.table.columns).toEqual(['yield@A', 'yield@B', 'height@A', 'height@B']);
    expect([...traitValues(q.table, 'yield@A')]).toEqual([1, 4, NaN]); // g2's two plots in A averaged
    expect([...traitValues(q.table, 'yield@B')]).toEqual([2, NaN, NaN]);
    expect([...traitValues(q.table, 'height@B')]).toEqual([NaN, NaN, 70]);
    expect(q.replicated).toBe(1);
  });

  it('names the file and line, or the column, of what is wrong', () => {
    const f = put('bad.csv', 'id,env,yield\ng1,A,1\ng2,,2\n');
    expect(() => readLongPhenotypes(f, { env: 'trial' }, ['yield'])).toThrow(
      /bad\.csv:1: no environment column 'trial'; the columns are 'id', 'env', 'yield'/,
    );
    expect(() => readLongPhenotypes(f, { env: 'env' }, ['yield'])).toThrow(
      /bad\.csv:3: genotype 'g2': empty environment/,
    );
    expect(() => readLongPhenotypes(put('nan.csv', 'id,env,yield\ng1,A,tall\n'), { env: 'env' }, ['yield'])).toThrow(
      /nan\.csv:2: trait 'yield' of genotype 'g1' in 'A': "tall" is not a number/,
    );
    expect(() => readLongPhenotypes(f, { env: 'env' }, ['weight'])).toThrow(/bad\.csv:1: no trait column 'weight'/);
  });

  it('graft gp --env gives the results of the same data pivoted by hand, bit for bit', async () => {
    // The synthetic set's two traits become one trait measured in two "environments".
    const wide = readFileSync(join(SYN, 'phenotypes.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    const long = put(
      'syn-long.csv',
      `${['id,trial,value', ...wide.flatMap((c) => [`${c[0]},east,${c[2]}`, `${c[0]},west,${c[3]}`])].join('\n')}\n`,
    );
    const pivot = put(
      'syn-wide.csv',
      `${['id,value@east,value@west', ...wide.map((c) => `${c[0]},${c[2]},${c[3]}`)].join('\n')}\n`,
    );
    const common = [
      'gp',
      '--geno',
      join(SYN, 'genotypes.csv.gz'),
      '--k',
      '3',
      '--models',
      'gcn,gblup,rkhs',
      '--epochs',
      '30',
      '--ensemble',
      '1',
      '--threads',
      '2',
      '--quiet',
    ];
    const a = await runGraftAsync([
      ...common,
      '--pheno',
      long,
      '--env',
      'trial',
      '--trait',
      'value',
      '--out',
      join(dir, 'a'),
    ]);
    expect(a.status, a.stderr).toBe(0);
    const b = await runGraftAsync([
      ...common,
      '--pheno',
      pivot,
      '--trait',
      'value@east,value@west',
      '--out',
      join(dir, 'b'),
    ]);
    expect(b.status, b.stderr).toBe(0);
    const models = (d: string): unknown => readJson(join(dir, d, 'results.json'))['models'];
    expect(models('a')).toEqual(models('b'));
    expect(Object.keys((models('a') as Record<string, object>)['gblup']!)).toEqual(['value@east', 'value@west']);
    const bad = await runGraftAsync([
      ...common,
      '--pheno',
      long,
      '--id',
      'id',
      '--trait',
      'value',
      '--out',
      join(dir, 'c'),
    ]);
    expect(bad.stderr).toMatch(/--id COL names the genotype column of long-format phenotypes: it goes with --env COL/);
    for (const [flags, message] of [
      [
        ['--pheno', pivot, '--trait', 'value@east', '--scheme', 'cv2'],
        /--scheme cv1\|cv2\|cv0 is a multi-environment CV scheme: it goes with --env COL/,
      ],
      [
        ['--pheno', long, '--env', 'trial', '--trait', 'value', '--scheme', 'cv0'],
        /--scheme cv0 predicts a new environment: only the across-environment models can/,
      ],
      [['--pheno', long, '--env', 'trial', '--trait', 'value', '--scheme', 'cv3'], /--scheme/],
    ] as const) {
      const e = await runGraftAsync([...common, ...flags, '--out', join(dir, 'd')]);
      expect(e.status).toBe(2);
      expect(e.stderr).toMatch(message);
    }
    const across = await runGraftAsync([
      'gp',
      '--geno',
      join(SYN, 'genotypes.csv.gz'),
      '--k',
      '3',
      '--pheno',
      pivot,
      '--trait',
      'value@east',
      '--models',
      'across',
      '--threads',
      '1',
      '--quiet',
      '--out',
      join(dir, 'e'),
    ]);
    expect(across.stderr).toMatch(
      /--models across fits every environment of long-format phenotypes: it needs --env COL/,
    );
  });
});

describe('the across-environment main-effect model (oracle: the weighted mixed model by direct algebra)', () => {
  const n = 24,
    r = rng(9);
  const z = Array.from({ length: n }, () => Array.from({ length: 30 }, () => Math.floor(r() * 3) - 1));
  const k = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++)
      k[i * n + j] = z[i]!.reduce((s, v, q) => s + v * z[j]![q]!, 0) / 15 + (i === j ? 0.05 : 0);
  const g = z.map((row) => row[0]! - row[1]! + 0.5 * row[2]!);
  // Three environments with their own level; some cells missing, so genotypes have 1-3 records.
  const y = [0, 5, -3].map((level, e) =>
    Float64Array.from(g, (v, i) => ((i + e) % 5 === 0 ? NaN : level + v + (r() - 0.5))),
  );
  const fold = Int32Array.from({ length: n }, (_, i) => 1 + (i % 4));

  it("gives μ̂_e + μ̂ + K[s, train]·V⁻¹(m − μ̂) with V = K + δ·N⁻¹ and m the genotypes' centred means", () => {
    for (const scheme of ['cv1', 'cv2', 'cv0'] as const) {
      const hidden = hiddenRecords(scheme, fold, 2, 1);
      const rows = Int32Array.from(
        Array.from({ length: n }, (_, i) => i).filter((i) => fold[i] === 2 && Number.isFinite(y[1]![i]!)),
      );
      const a = fitAcrossEnvironments(k, n, y, [0, 1, 2], 1, hidden, rows);
      // The oracle: centre each environment on its training mean, average per genotype, solve the GLS + BLUP.
      const sum = new Array(n).fill(0),
        cnt = new Array(n).fill(0),
        level: number[] = [];
      for (let c = 0; c < 3; c++) {
        const ok = Array.from({ length: n }, (_, i) => i).filter((i) => Number.isFinite(y[c]![i]!) && !hidden(i, c));
        level[c] = ok.length ? ok.reduce((s, i) => s + y[c]![i]!, 0) / ok.length : NaN;
        for (const i of ok) {
          sum[i] += y[c]![i]! - level[c]!;
          cnt[i]++;
        }
      }
      const train = Array.from({ length: n }, (_, i) => i).filter((i) => cnt[i] > 0);
      if (scheme === 'cv1') expect(train.some((i) => fold[i] === 2)).toBe(false);
      else expect(train.some((i) => fold[i] === 2)).toBe(true); // seen in other environments
      expect(a.genotypes).toBe(train.length);
      const v = new Matrix(train.map((i) => train.map((j) => k[i * n + j]! + (i === j ? a.fit.delta / cnt[i] : 0))));
      const ones = Matrix.ones(train.length, 1),
        m = Matrix.columnVector(train.map((i) => sum[i] / cnt[i]));
      const vi1 = solve(v, ones),
        viM = solve(v, m);
      const mu = ones.transpose().mmul(viM).get(0, 0) / ones.transpose().mmul(vi1).get(0, 0);
      const alpha = solve(v, m.clone().sub(ones.clone().mul(mu)));
      const lvl =
        scheme === 'cv0'
          ? (() => {
              let s = 0,
                q = 0;
              for (const c of [0, 2])
                for (let i = 0; i < n; i++)
                  if (Number.isFinite(y[c]![i]!) && !hidden(i, c)) {
                    s += y[c]![i]!;
                    q++;
                  }
              return s / q;
            })()
          : level[1]!;
      rows.forEach((s, q) => {
        const gs = train.reduce((acc, t, ti) => acc + k[s * n + t]! * alpha.get(ti, 0), 0);
        expect(a.predicted[q]).toBeCloseTo(lvl + mu + gs, 8);
      });
    }
  });

  it("G + G×E: the main effect plus the BLUP of the target environment's residuals (direct algebra); a new environment gets the main effect alone", () => {
    for (const scheme of ['cv1', 'cv2', 'cv0'] as const) {
      const hidden = hiddenRecords(scheme, fold, 3, 2);
      const rows = Int32Array.from(
        Array.from({ length: n }, (_, i) => i).filter((i) => fold[i] === 3 && Number.isFinite(y[2]![i]!)),
      );
      const gxe = fitGxE(k, n, y, [0, 1, 2], 2, hidden, rows);
      const inEnv = Array.from({ length: n }, (_, i) => i).filter((i) => Number.isFinite(y[2]![i]!) && !hidden(i, 2));
      const main = fitAcrossEnvironments(k, n, y, [0, 1, 2], 2, hidden, Int32Array.from([...rows, ...inEnv]));
      if (scheme === 'cv0') {
        expect(gxe.deviation).toBeNull();
        rows.forEach((_, q) => {
          expect(gxe.predicted[q]).toBe(main.predicted[q]);
        });
        continue;
      }
      const resid = inEnv.map((i, a) => y[2]![i]! - main.predicted[rows.length + a]!);
      const delta = gxe.deviation!.delta;
      const v = new Matrix(inEnv.map((i) => inEnv.map((j) => k[i * n + j]! + (i === j ? delta : 0))));
      const ones = Matrix.ones(inEnv.length, 1),
        rv = Matrix.columnVector(resid);
      const mu = ones.transpose().mmul(solve(v, rv)).get(0, 0) / ones.transpose().mmul(solve(v, ones)).get(0, 0);
      const alpha = solve(v, rv.clone().sub(ones.clone().mul(mu)));
      rows.forEach((s, q) => {
        const ge = mu + inEnv.reduce((acc, t, ti) => acc + k[s * n + t]! * alpha.get(ti, 0), 0);
        expect(gxe.predicted[q]).toBeCloseTo(main.predicted[q]! + ge, 8);
      });
    }
  });

  it('groups trait@environment columns by trait; a column without @ is an error', () => {
    expect(multiEnvColumns(['y@A', 'h@A', 'y@B', 'y@x@C'], 'cv2')).toEqual({
      scheme: 'cv2',
      traitOf: [0, 1, 0, 2],
      envOf: ['A', 'A', 'B', 'C'],
    });
    expect(() => multiEnvColumns(['yield'], 'cv1')).toThrow(/'yield' is not trait@environment/);
  });
});

const shared = sharedData();
describe.skipIf(!shared)('DROPS maize (long format, 10 trials)', () => {
  it('graft gp --env Experiment: per-trial GBLUP equals per-trial rrBLUP (the same model written two ways), in a plausible range', async () => {
    const D = join(shared!, 'maize_drops');
    const out = join(tempDir('graft-drops-'), 'run');
    const r = await runGraftAsync([
      'gp',
      '--geno',
      join(D, 'dropsMarkers.csv.gz'),
      '--pheno',
      join(D, 'dropsPheno.csv'),
      '--env',
      'Experiment',
      '--trait',
      'grain.yield',
      '--models',
      'gblup,rrblup',
      '--k',
      '5',
      '--threads',
      '2',
      '--quiet',
      '--out',
      out,
    ]);
    expect(r.status, r.stderr).toBe(0);
    const models = readJson(join(out, 'results.json'))['models'] as Record<string, Record<string, { r_mean: number }>>;
    const gblup = models['gblup']!,
      rrblup = models['rrblup']!;
    expect(Object.keys(gblup)).toHaveLength(10);
    for (const [env, v] of Object.entries(gblup)) {
      // GBLUP and marker BLUP are one model (VanRaden 2008); their REML fits differ only by rounding and the optimizer's end point.
      expect(Math.abs(v.r_mean - rrblup[env]!.r_mean), env).toBeLessThan(0.02);
      // A plausibility range for genomic prediction of yield within one trial, not a published figure.
      expect(v.r_mean, env).toBeGreaterThan(0.2);
      expect(v.r_mean, env).toBeLessThan(0.9);
    }
  });

  it('the across-environment models: CV2 beats CV1 on average; G×E beats the main effect under CV2 and equals it under CV0', async () => {
    const D = join(shared!, 'maize_drops');
    const dir = tempDir('graft-drops-schemes-');
    const mean: Record<string, number> = {};
    for (const scheme of ['cv1', 'cv2', 'cv0']) {
      const out = join(dir, scheme);
      const r = await runGraftAsync([
        'gp',
        '--geno',
        join(D, 'dropsMarkers.csv.gz'),
        '--pheno',
        join(D, 'dropsPheno.csv'),
        '--env',
        'Experiment',
        '--trait',
        'grain.yield',
        '--models',
        'across,gxe',
        '--scheme',
        scheme,
        '--k',
        '5',
        '--threads',
        '2',
        '--quiet',
        '--out',
        out,
      ]);
      expect(r.status, r.stderr).toBe(0);
      const res = readJson(join(out, 'results.json'));
      expect(res['protocol']).toMatch(new RegExp(scheme.toUpperCase()));
      for (const m of ['across', 'gxe']) {
        const v = Object.values((res['models'] as Record<string, Record<string, { r_mean: number }>>)[m]!);
        expect(v).toHaveLength(10);
        mean[`${m} ${scheme}`] = v.reduce((s, x) => s + x.r_mean, 0) / v.length;
      }
    }
    expect(mean['across cv2']!).toBeGreaterThan(mean['across cv1']! + 0.03);
    // The G×E deviation adds the target trial's other genotypes, which CV2 leaves in (measured: 0.699 against 0.659).
    expect(mean['gxe cv2']!).toBeGreaterThan(mean['across cv2']! + 0.02);
    expect(mean['gxe cv0']).toBe(mean['across cv0']);
    expect(mean['across cv0']!).toBeGreaterThan(0.3);
  });
});
