import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readLongPhenotypes, traitValues } from '../src/data/phenotypes.js';
import { readJson, runGraftAsync, sharedData, tempDir } from './helpers.js';

// Long-format phenotypes (one row per genotype × environment, as trial exports come):
// graft gp --env COL runs each trait per environment. The oracle is the same data pivoted by
// hand into the wide format graft gp already reads: the same results, bit for bit.

const SYN = join(import.meta.dirname, '..', 'data', 'synthetic-gp');

describe('long-format phenotypes', () => {
  const dir = tempDir('graft-long-');
  const put = (name: string, text: string): string => { const f = join(dir, name); writeFileSync(f, text); return f; };

  it('pivots to trait@environment columns, averages replicates, keeps missing cells missing', () => {
    const f = put('long.csv', 'env,plot,id,yield,height\nA,1,g1,1.0,10\nB,2,g1,2.0,NA\nA,3,g2,3.0,30\nA,4,g2,5.0,50\nB,5,g3,NA,70\n');
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
    expect(() => readLongPhenotypes(f, { env: 'trial' }, ['yield'])).toThrow(/bad\.csv:1: no environment column 'trial'; the columns are 'id', 'env', 'yield'/);
    expect(() => readLongPhenotypes(f, { env: 'env' }, ['yield'])).toThrow(/bad\.csv:3: genotype 'g2': empty environment/);
    expect(() => readLongPhenotypes(put('nan.csv', 'id,env,yield\ng1,A,tall\n'), { env: 'env' }, ['yield'])).toThrow(/nan\.csv:2: trait 'yield' of genotype 'g1' in 'A': "tall" is not a number/);
    expect(() => readLongPhenotypes(f, { env: 'env' }, ['weight'])).toThrow(/bad\.csv:1: no trait column 'weight'/);
  });

  it('graft gp --env gives the results of the same data pivoted by hand, bit for bit', async () => {
    // The synthetic set's two traits become one trait measured in two "environments".
    const wide = readFileSync(join(SYN, 'phenotypes.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
    const long = put('syn-long.csv', ['id,trial,value', ...wide.flatMap((c) => [`${c[0]},east,${c[2]}`, `${c[0]},west,${c[3]}`])].join('\n') + '\n');
    const pivot = put('syn-wide.csv', ['id,value@east,value@west', ...wide.map((c) => `${c[0]},${c[2]},${c[3]}`)].join('\n') + '\n');
    const common = ['gp', '--geno', join(SYN, 'genotypes.csv.gz'), '--k', '3', '--models', 'gcn,gblup,rkhs', '--epochs', '30', '--ensemble', '1', '--threads', '2', '--quiet'];
    const a = await runGraftAsync([...common, '--pheno', long, '--env', 'trial', '--trait', 'value', '--out', join(dir, 'a')]);
    expect(a.status, a.stderr).toBe(0);
    const b = await runGraftAsync([...common, '--pheno', pivot, '--trait', 'value@east,value@west', '--out', join(dir, 'b')]);
    expect(b.status, b.stderr).toBe(0);
    const models = (d: string): unknown => readJson(join(dir, d, 'results.json'))['models'];
    expect(models('a')).toEqual(models('b'));
    expect(Object.keys((models('a') as Record<string, object>)['gblup']!)).toEqual(['value@east', 'value@west']);
    const bad = await runGraftAsync([...common, '--pheno', long, '--id', 'id', '--trait', 'value', '--out', join(dir, 'c')]);
    expect(bad.stderr).toMatch(/--id COL names the genotype column of long-format phenotypes: it goes with --env COL/);
  });
});

const shared = sharedData();
describe.skipIf(!shared)('DROPS maize (long format, 10 trials)', () => {
  it('graft gp --env Experiment: per-trial GBLUP equals per-trial rrBLUP (the same model written two ways), in a plausible range', async () => {
    const D = join(shared!, 'maize_drops');
    const out = join(tempDir('graft-drops-'), 'run');
    const r = await runGraftAsync(['gp', '--geno', join(D, 'dropsMarkers.csv.gz'), '--pheno', join(D, 'dropsPheno.csv'), '--env', 'Experiment', '--trait', 'grain.yield',
      '--models', 'gblup,rrblup', '--k', '5', '--threads', '2', '--quiet', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    const models = readJson(join(out, 'results.json'))['models'] as Record<string, Record<string, { r_mean: number }>>;
    const gblup = models['gblup']!, rrblup = models['rrblup']!;
    expect(Object.keys(gblup)).toHaveLength(10);
    for (const [env, v] of Object.entries(gblup)) {
      // GBLUP and marker BLUP are one model (VanRaden 2008); their REML fits differ only by rounding and the optimizer's end point.
      expect(Math.abs(v.r_mean - rrblup[env]!.r_mean), env).toBeLessThan(0.02);
      // A plausibility range for genomic prediction of yield within one trial, not a published figure.
      expect(v.r_mean, env).toBeGreaterThan(0.2);
      expect(v.r_mean, env).toBeLessThan(0.9);
    }
  });
});
