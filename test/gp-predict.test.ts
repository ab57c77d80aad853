import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Matrix, inverse } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticGenomicData } from '../src/data/genomic-synthetic.js';
import { readGenotypes } from '../src/data/genotypes.js';
import { phenotypeOutliers } from '../src/genomics/study-data.js';
import { qualityControl } from '../src/genomics/qc.js';
import { keptModelFile, loadKeptModel, loadScoringBasis } from '../src/genomics/kept-models.js';
import { vanRadenGrm } from '../src/genomics/relationship.js';
import { Runtime } from '../src/runtime/runtime.js';
import { runStudy } from '../src/genomics/study.js';
import { GCN_GP_DEFAULTS } from '../src/train/gcn-regressor.js';
import { keptGpRun } from './gp-kept-run.js';
import { runGraftAsync, tempDir } from './helpers.js';

// graft gp's candidates (genotyped, not phenotyped) and graft predict on its kept models.
// Oracles: GBLUP's candidate predictions and reliabilities by direct ml-matrix algebra from
// the kept variance ratio; graft predict on the candidates' own genotypes (bit for bit for
// the kernel and linear models, within a stated tolerance for boost's GCN part); held-out
// phenotypes are not needed here (the README's Arabidopsis figure does that by hand).

const dir = tempDir('graft-gp-predict-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

const data = syntheticGenomicData({ samples: 80, chromosomes: 2, markersPerChromosome: 60, seed: 7 });
const n = data.ids.length,
  m = data.markers.length;
const candidates = data.ids.filter((_, i) => i % 5 === 2); // 16 candidates
const isCandidate = new Set(candidates);

function vcf(ids: string[], rows: number[], swapEvery = 0): string {
  const head = [
    '##fileformat=VCFv4.2',
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
    ['#CHROM', 'POS', 'ID', 'REF', 'ALT', 'QUAL', 'FILTER', 'INFO', 'FORMAT', ...ids].join('\t'),
  ];
  const gt = (d: number, swap: boolean): string => (Number.isNaN(d) ? './.' : ['0/0', '0/1', '1/1'][swap ? 2 - d : d]!);
  const body = data.markers.map((name, j) => {
    const swap = swapEvery > 0 && j % swapEvery === 0;
    return [
      '1',
      String(1000 + j),
      name,
      swap ? 'G' : 'A',
      swap ? 'A' : 'G',
      '.',
      'PASS',
      '.',
      'GT',
      ...rows.map((i) => gt(data.dosage[i * m + j]!, swap)),
    ].join('\t');
  });
  return `${[...head, ...body].join('\n')}\n`;
}

type Row = {
  id: string;
  trait: string;
  model: string;
  prediction: string;
  sd: string;
  reliability: string;
  rank: string;
};
function readRows(file: string): Row[] {
  const [head, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  expect(head).toBe('id,trait,model,prediction,sd,reliability,rank');
  return lines.map((l) => {
    const [id, trait, model, prediction, sd, reliability, rank] = l.split(',');
    return {
      id: JSON.parse(id!),
      trait: trait!,
      model: model!,
      prediction: prediction!,
      sd: sd!,
      reliability: reliability!,
      rank: rank!,
    };
  });
}
const key = (r: Row): string => `${r.id}|${r.trait}|${r.model}`;

let geno = '',
  pheno = '',
  run = '',
  gpStderr = '';
const fast = ['--epochs', '12', '--ensemble', '2', '--k', '3', '--threads', '1', '--quiet'];

beforeAll(async () => {
  geno = put(
    'geno.vcf',
    vcf(
      data.ids,
      data.ids.map((_, i) => i),
    ),
  );
  // Candidates have no phenotype.
  const r = await keptGpRun(
    dir,
    data,
    geno,
    (i) => isCandidate.has(data.ids[i]!),
    fast.filter((a) => a !== '--quiet'),
  );
  pheno = r.pheno;
  run = r.run;
  gpStderr = r.stderr;
  expect(r.status, r.stderr).toBe(0);
}, 120_000);

describe('graft gp: candidates', () => {
  it('writes candidates.csv for every default model: each candidate once per model, ranked by prediction', () => {
    const rows = readRows(join(run, 'candidates.csv'));
    for (const model of ['boost', 'gblup', 'rkhs', 'rrblup']) {
      const mine = rows.filter((r) => r.model === model);
      expect(mine.map((r) => r.id).sort()).toEqual([...candidates].sort());
      const preds = mine.map((r) => Number(r.prediction));
      expect(mine.map((r) => Number(r.rank))).toEqual(mine.map((_, k) => k + 1));
      for (let k = 1; k < preds.length; k++) expect(preds[k]!).toBeLessThanOrEqual(preds[k - 1]!);
      // sd: the ensemble's spread (boost's GCN members); reliability: GBLUP and RKHS only.
      for (const r of mine) {
        expect(r.sd === '').toBe(model !== 'boost');
        expect(r.reliability === '').toBe(model === 'boost' || model === 'rrblup');
        if (r.reliability !== '') {
          expect(Number(r.reliability)).toBeGreaterThan(0);
          expect(Number(r.reliability)).toBeLessThanOrEqual(1);
        }
      }
    }
    const report = readFileSync(join(run, 'report.md'), 'utf8');
    expect(report).toContain('## Candidates');
    expect(report).toContain(`| 1 | ${rows.find((r) => r.model === 'boost' && r.rank === '1')!.id} (`);
  });

  it('flags the phenotype more than 6 robust SDs from the median (warning and report line), and keeps it', async () => {
    // One phenotyped sample gets an entry error (×100 + 300).
    const y = data.traits[0]!.values;
    const bad = put(
      'pheno-outlier.csv',
      `${['id,yield', ...data.ids.map((id, i) => `${id},${i === 0 ? (y[i]! * 100 + 300).toFixed(5) : y[i]!.toFixed(5)}`)].join('\n')}\n`,
    );
    const out = join(dir, 'outlier');
    const r = await runGraftAsync([
      'gp',
      '--geno',
      geno,
      '--pheno',
      bad,
      '--trait',
      'yield',
      '--models',
      'gblup',
      '--out',
      out,
      ...fast.filter((a) => a !== '--quiet'),
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(gpStderr).not.toContain('robust SDs');
    expect(r.stderr).toMatch(
      new RegExp(
        `warning: trait 'yield': 1 phenotype\\(s\\) more than 6 robust SDs from the median \\(${data.ids[0]} = `,
      ),
    );
    expect(readFileSync(join(out, 'report.md'), 'utf8')).toMatch(
      new RegExp(`Warning: trait yield: 1 phenotype\\(s\\) more than 6 robust SDs .*${data.ids[0]}`),
    );
    expect(readFileSync(join(out, 'predictions.csv'), 'utf8')).toContain(`"${data.ids[0]}",yield,gblup,1,`); // kept: scored in its fold
    // Oracle: median and MAD by hand on a small vector.
    const v = Float64Array.from([1, 2, 3, 4, 5, 6, 7, 100, NaN]);
    const o = phenotypeOutliers(v, ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']);
    // median 4.5, MAD median(|v − 4.5|) = 2, robust SD 2.9652: only 100 is beyond 6 of them.
    expect(o.map((x) => x.id)).toEqual(['h']);
    expect(o[0]!.robustZ).toBeCloseTo((100 - 4.5) / (1.4826 * 2), 10);
  });

  it("GBLUP's candidates and reliabilities match the mixed-model algebra (ml-matrix) at the kept variance ratio", async () => {
    const kept = loadKeptModel(keptModelFile(join(run, 'models'), 'gblup', 'yield')).final.kernel!;
    const g = await readGenotypes(geno);
    const rt = await Runtime.create({ threads: 1 });
    const grm = (await vanRadenGrm(rt, qualityControl(g, { minMaf: 0.01, minCallRate: 0.9 }))).values;
    await rt.close();
    const train = Array.from(kept.train),
      y = train.map((i) => Number(readFileSync(pheno, 'utf8').trim().split('\n')[i + 1]!.split(',')[1]));
    const V = new Matrix(train.map((a) => train.map((b) => grm[a * n + b]! + (a === b ? kept.delta : 0))));
    const Vi = inverse(V),
      one = Matrix.ones(train.length, 1),
      Y = Matrix.columnVector(y);
    const mu = one.transpose().mmul(Vi).mmul(Y).get(0, 0) / one.transpose().mmul(Vi).mmul(one).get(0, 0);
    const alpha = Vi.mmul(Matrix.sub(Y, Matrix.mul(one, mu)));
    const onev1 = one.transpose().mmul(Vi).mmul(one).get(0, 0);
    const rows = readRows(join(run, 'candidates.csv')).filter((r) => r.model === 'gblup');
    for (const r of rows) {
      const s = data.ids.indexOf(r.id);
      const k = Matrix.columnVector(train.map((t) => grm[s * n + t]!));
      const pred = mu + k.transpose().mmul(alpha).get(0, 0);
      expect(Math.abs(Number(r.prediction) - pred)).toBeLessThan(1e-4 * (1 + Math.abs(pred)));
      // Henderson: PEV/σg² = K_ss − kᵀPk, P = V⁻¹ − V⁻¹1(1ᵀV⁻¹1)⁻¹1ᵀV⁻¹.
      const P = Matrix.sub(Vi, Vi.mmul(one).mmul(one.transpose()).mmul(Vi).div(onev1));
      const kss = grm[s * n + s]!,
        pev = kss - k.transpose().mmul(P).mmul(k).get(0, 0);
      expect(Math.abs(Number(r.reliability) - (1 - pev / kss))).toBeLessThan(1e-4);
    }
  });
});

describe('graft predict on a gp run', () => {
  it("scores the candidates' genotypes as graft gp did: bit for bit for the kernel and linear models, boost within tolerance", async () => {
    const rows = data.ids.flatMap((id, i) => (isCandidate.has(id) ? [i] : []));
    const file = put('cand.vcf', vcf(candidates, rows));
    const out = join(dir, 'cand-pred.csv');
    const r = await runGraftAsync(['predict', '--run', run, '--geno', file, '--out', out, '--threads', '1']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/: 16 samples; (\d+) of the model's \1 markers present \(100\.0%\)/);
    const inGp = new Map(readRows(join(run, 'candidates.csv')).map((x) => [key(x), x]));
    const mine = readRows(out);
    expect(mine.length).toBe(inGp.size);
    for (const p of mine) {
      const q = inGp.get(key(p))!;
      if (p.model !== 'boost') {
        expect(p.prediction).toBe(q.prediction);
        expect(p.reliability).toBe(q.reliability);
        expect(p.rank).toBe(q.rank);
      }
    }
    // boost: RKHS (bit for bit) plus the GCN on its residuals, which in gp had the candidate in
    // its graph during training and in predict joins the graph afterwards: stated tolerance.
    const b = mine.filter((p) => p.model === 'boost');
    const x = b.map((p) => Number(p.prediction)),
      y = b.map((p) => Number(inGp.get(key(p))!.prediction));
    const sd = Math.sqrt(y.reduce((a, v) => a + (v - y.reduce((s, w) => s + w, 0) / y.length) ** 2, 0) / y.length);
    for (let k = 0; k < x.length; k++) expect(Math.abs(x[k]! - y[k]!)).toBeLessThan(0.25 * sd);
    // Each new sample joins the graph alone: its prediction does not depend on the others in the file (same bits, 2 threads).
    const few = put('few.vcf', vcf(candidates.slice(0, 3), rows.slice(0, 3)));
    const r3 = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--geno',
      few,
      '--out',
      join(dir, 'few.csv'),
      '--models',
      'boost',
      '--threads',
      '2',
    ]);
    expect(r3.status, r3.stderr).toBe(0);
    const full = new Map(b.map((p) => [p.id, p.prediction]));
    expect(readRows(join(dir, 'few.csv')).map((p) => p.prediction)).toEqual(
      readRows(join(dir, 'few.csv')).map((p) => full.get(p.id)),
    );
  }, 60_000);

  it('recodes a VCF whose REF/ALT are swapped against the training coding, to the same predictions', async () => {
    const rows = data.ids.flatMap((id, i) => (isCandidate.has(id) ? [i] : []));
    const plain = join(dir, 'plain.csv'),
      swapped = join(dir, 'swapped.csv');
    const a = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--geno',
      put('c1.vcf', vcf(candidates, rows)),
      '--out',
      plain,
      '--models',
      'gblup,rrblup',
      '--threads',
      '1',
    ]);
    const s = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--geno',
      put('c2.vcf', vcf(candidates, rows, 3)),
      '--out',
      swapped,
      '--models',
      'gblup,rrblup',
      '--threads',
      '1',
    ]);
    expect(a.status, a.stderr).toBe(0);
    expect(s.status, s.stderr).toBe(0);
    expect(s.stderr).toMatch(
      new RegExp(`${Math.ceil(m / 3)} marker\\(s\\) have REF/ALT swapped against the training coding: recoded`),
    );
    expect(readFileSync(swapped, 'utf8')).toBe(readFileSync(plain, 'utf8'));
  }, 60_000);

  it('refuses genotypes with under 90% of the markers unless --min-overlap lowers it', async () => {
    const qcKept = (
      JSON.parse(readFileSync(join(run, 'results.json'), 'utf8')) as { data: { qc: { markersKept: number } } }
    ).data.qc.markersKept;
    const keep = data.markers.slice(0, Math.floor(m * 0.75));
    const rowsOf = (i: number): string =>
      [
        data.ids[i],
        ...keep.map((_, j) => {
          const v = data.dosage[i * m + j]!;
          return Number.isNaN(v) ? 'NA' : String(v);
        }),
      ].join(',');
    const file = put('partial.csv', `${[['id', ...keep].join(','), rowsOf(2), rowsOf(7)].join('\n')}\n`);
    const r = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--geno',
      file,
      '--out',
      join(dir, 'partial-pred.csv'),
      '--models',
      'gblup',
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      new RegExp(
        `${file}: \\d+ of the model's ${qcKept} markers are present \\([67]\\d\\.\\d%\\); graft predict needs at least 90% \\(--min-overlap lowers it`,
      ),
    );
    expect(r.stderr).not.toMatch(/\n\s+at /); // one line, no stack
    expect(existsSync(join(dir, 'partial-pred.csv'))).toBe(false);
    const ok = await runGraftAsync([
      'predict',
      '--run',
      run,
      '--geno',
      file,
      '--out',
      join(dir, 'partial-pred.csv'),
      '--models',
      'gblup',
      '--min-overlap',
      '0.6',
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readRows(join(dir, 'partial-pred.csv')).length).toBe(2);
  }, 60_000);

  it('says what to do on a gp run kept without models', async () => {
    const bare = join(dir, 'bare');
    const g = await runGraftAsync([
      'gp',
      '--geno',
      geno,
      '--pheno',
      pheno,
      '--trait',
      'yield',
      '--models',
      'gblup',
      '--out',
      bare,
      ...fast,
    ]);
    expect(g.status, g.stderr).toBe(0);
    expect(existsSync(join(bare, 'candidates.csv'))).toBe(true); // candidates even without --keep-models
    const r = await runGraftAsync(['predict', '--run', bare, '--geno', geno]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(
      /scoring\.safetensors not found: the run kept no models to score new samples; run graft gp again with --keep-models/,
    );
  }, 60_000);
});

describe('kept model files', () => {
  it('refuse a scoring basis of other data than the one they were kept with (a file copied from another run)', () => {
    const models = join(run, 'models'),
      basis = loadScoringBasis(models),
      file = keptModelFile(models, 'rkhs', 'yield');
    expect(loadKeptModel(file, basis).final.kernel!.kernel).toBe('gaussian');
    expect(() => loadKeptModel(file, { ...basis, ids: [...basis.ids].reverse() })).toThrow(
      /kept-rkhs-yield\.safetensors: kept from other data than .*scoring\.safetensors/,
    );
    expect(() => loadKeptModel(file, { ...basis, relDiag: basis.relDiag.map((v) => v * 1.01) })).toThrow(
      /kept from other data/,
    );
  });
});

describe('a failed graft gp', () => {
  it('leaves no job manifest that blocks the corrected run in the same folder', async () => {
    const out = join(dir, 'failed');
    const bad = await runGraftAsync([
      'gp',
      '--geno',
      geno,
      '--pheno',
      pheno,
      '--trait',
      'no_such_trait',
      '--models',
      'gblup',
      '--out',
      out,
      ...fast,
    ]);
    expect(bad.status).not.toBe(0);
    expect(existsSync(join(out, 'jobs', 'manifest.json'))).toBe(false);
    const good = await runGraftAsync([
      'gp',
      '--geno',
      geno,
      '--pheno',
      pheno,
      '--trait',
      'yield',
      '--models',
      'gblup',
      '--out',
      out,
      ...fast,
    ]);
    expect(good.status, good.stderr).toBe(0);
    expect(existsSync(join(out, 'results.json'))).toBe(true);
  }, 60_000);
});

describe('candidates through the kept models (the scoring graft predict uses) against the fit on the full kernel', () => {
  it('agree within float32 rounding for every kernel model, per environment too (across, gxe)', async () => {
    const y = data.traits[0]!.values;
    const geno2 = put(
      'geno2.vcf',
      vcf(
        data.ids,
        data.ids.map((_, i) => i),
      ),
    );
    // Long format: environment A for all phenotyped, B for most; candidates have no record.
    const long = put(
      'long.csv',
      `${['id,env,yield', ...data.ids.flatMap((id, i) => (isCandidate.has(id) ? [] : [`${id},A,${y[i]!.toFixed(5)}`, ...(i % 4 === 1 ? [] : [`${id},B,${(y[i]! + 1 + 0.3 * Math.sin(i)).toFixed(5)}`])]))].join('\n')}\n`,
    );
    const base = {
      geno: geno2,
      features: 'markers' as const,
      pcs: 10,
      graph: 'knn' as const,
      knn: 5,
      threshold: 0,
      k: 3,
      repeats: 1,
      seed: 1,
      threads: 1,
      gcn: { ...GCN_GP_DEFAULTS, epochs: 5, ensemble: 1 },
    };
    const studies = [
      await runStudy({
        ...base,
        pheno: pheno,
        traits: ['yield'],
        models: ['gblup', 'rkhs', 'rkhs-ka', 'rrblup'],
        final: 'if-candidates',
      }),
      await runStudy({
        ...base,
        pheno: long,
        traits: ['yield'],
        long: { env: 'env' },
        models: ['across', 'gxe', 'gblup'],
        final: true,
      }),
    ];
    let compared = 0;
    for (const res of studies) {
      for (const fit of res.final!.fits) {
        for (const pt of fit.perTrait) {
          const trait = res.data.traits[pt.trait]!;
          expect(pt.test.length).toBeGreaterThan(0);
          pt.test.forEach((i, q) => {
            const row = res.final!.candidates.find(
              (c) => c.id === res.data.ids[i] && c.trait === trait && c.model === fit.job.model,
            )!;
            expect(Math.abs(row.prediction - pt.predicted[q]!), `${fit.job.model} ${trait} ${row.id}`).toBeLessThan(
              1e-4 * (1 + Math.abs(pt.predicted[q]!)),
            );
            compared++;
          });
        }
      }
    }
    expect(compared).toBeGreaterThan(16 * 6);
  }, 60_000);
});
