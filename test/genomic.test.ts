import { writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { EigenvalueDecomposition, Matrix, solve } from 'ml-matrix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { symmetricEigen } from '../src/genomics/symmetric-eigen.js';
import { fitKernelReml, kernelBasis, predictKernel } from '../src/genomics/kernel-reml.js';
import { readGenotypes } from '../src/data/genotypes.js';
import { readPhenotypes, traitValues } from '../src/data/phenotypes.js';
import { matchSamples } from '../src/genomics/match.js';
import { qualityControl } from '../src/genomics/qc.js';
import { readRelationship, vanRadenGrm } from '../src/genomics/relationship.js';
import { knnGraph } from '../src/graph/sample-graph.js';
import { readFolds } from '../src/data/folds.js';
import { foldMetrics, kFoldSplits } from '../src/train/cv.js';
import { prepareStudy } from '../src/genomics/study-data.js';
import { runStudy, type StudyOptions } from '../src/genomics/study.js';
import { GCN_GP_DEFAULTS } from '../src/train/gcn-regressor.js';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { syntheticGenomicData, writeSyntheticGenomicData } from '../src/data/genomic-synthetic.js';
import { Runtime } from '../src/runtime/runtime.js';
import { rng, sharedData, tempDir } from './helpers.js';

const dir = tempDir('graft-gp-');
const put = (name: string, text: string | Buffer): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};

function randomSymmetric(n: number, seed: number, rank = n): Float64Array {
  const r = rng(seed),
    b = Array.from({ length: n * rank }, () => r() - 0.5),
    a = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j <= i; j++) {
      let t = 0;
      for (let k = 0; k < rank; k++) t += b[i * rank + k]! * b[j * rank + k]!;
      a[i * n + j] = a[j * n + i] = t;
    }
  return a;
}

describe('symmetricEigen (oracle: ml-matrix)', () => {
  it.each([1, 2, 3, 7, 16, 41, 90])('n = %i: same eigenvalues, A·v = λ·v, orthonormal vectors', (n) => {
    const a = randomSymmetric(n, n, Math.max(1, Math.floor(n / 2)));
    const ours = symmetricEigen(a, n);
    const ref = new EigenvalueDecomposition(
      new Matrix(Array.from({ length: n }, (_, i) => Array.from(a.subarray(i * n, i * n + n)))),
      { assumeSymmetric: true },
    );
    const refVals = [...ref.realEigenvalues].sort((x, y) => x - y);
    for (let k = 0; k < n; k++)
      expect(Math.abs(ours.values[k]! - refVals[k]!)).toBeLessThan(1e-10 * Math.max(1, Math.abs(refVals[k]!)));
    for (let k = 0; k < n; k++) {
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let j = 0; j < n; j++) av += a[i * n + j]! * ours.vectors[k * n + j]!;
        expect(Math.abs(av - ours.values[k]! * ours.vectors[k * n + i]!)).toBeLessThan(1e-10 * n);
      }
      for (let q = 0; q <= k; q++) {
        let dot = 0;
        for (let i = 0; i < n; i++) dot += ours.vectors[k * n + i]! * ours.vectors[q * n + i]!;
        expect(Math.abs(dot - (q === k ? 1 : 0))).toBeLessThan(1e-10 * n);
      }
    }
  });
});

describe('REML kernel regression (oracle: direct ml-matrix algebra)', () => {
  const n = 40,
    nt = 10;
  const kFull = randomSymmetric(n + nt, 3, 12);
  for (let i = 0; i < n + nt; i++) kFull[i * (n + nt) + i]! += 0.05;
  const r = rng(9);
  const y = Float64Array.from({ length: n }, (_, i) => 2 + 3 * kFull[i * (n + nt) + 1]! + (r() - 0.5));
  const train = Int32Array.from({ length: n }, (_, i) => i),
    test = Int32Array.from({ length: nt }, (_, i) => n + i);
  const kTrain = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) kTrain[i * n + j] = kFull[i * (n + nt) + j]!;
  const kM = new Matrix(Array.from({ length: n }, (_, i) => Array.from(kTrain.subarray(i * n, i * n + n))));
  const ones = Matrix.ones(n, 1),
    yM = Matrix.columnVector(Array.from(y));
  /** −2·REML log-likelihood (without constants) at δ, computed the long way. */
  const direct = (delta: number): { ll: number; mu: number; alpha: Matrix } => {
    const v = kM.clone().add(Matrix.eye(n).mul(delta));
    const vinv1 = solve(v, ones),
      vinvY = solve(v, yM);
    const xvx = ones.transpose().mmul(vinv1).get(0, 0),
      xvy = ones.transpose().mmul(vinvY).get(0, 0);
    const mu = xvy / xvx;
    const resid = yM.clone().sub(ones.clone().mul(mu));
    const alpha = solve(v, resid);
    const ypy = resid.transpose().mmul(alpha).get(0, 0);
    const logdet = new EigenvalueDecomposition(v, { assumeSymmetric: true }).realEigenvalues.reduce(
      (s, l) => s + Math.log(l),
      0,
    );
    return { ll: -0.5 * (logdet + Math.log(xvx) + (n - 1) * Math.log(ypy)), mu, alpha };
  };
  const fit = fitKernelReml(kernelBasis(kTrain, n), y);

  it('maximizes the restricted likelihood: no δ on a fine grid does better', () => {
    const at = direct(fit.delta).ll;
    expect(Math.abs(at - fit.logLik)).toBeLessThan(1e-6 * Math.abs(at));
    for (let t = -4; t <= 4; t += 0.05) expect(direct(10 ** t).ll).toBeLessThanOrEqual(at + 1e-9);
  });

  it('gives the BLUP: μ̂ and α = V⁻¹(y − 1μ̂), and test predictions μ̂ + K_st·α', () => {
    const d = direct(fit.delta);
    expect(fit.mu).toBeCloseTo(d.mu, 8);
    for (let i = 0; i < n; i++) expect(fit.alpha[i]!).toBeCloseTo(d.alpha.get(i, 0), 6);
    const pred = predictKernel(fit, kFull, n + nt, train, test);
    for (let s = 0; s < nt; s++) {
      let acc = d.mu;
      for (let i = 0; i < n; i++) acc += kFull[(n + s) * (n + nt) + i]! * d.alpha.get(i, 0);
      expect(pred[s]!).toBeCloseTo(acc, 6);
    }
    expect(fit.sigmaE2 / fit.sigmaG2).toBeCloseTo(fit.delta, 10);
  });
});

describe('genotypes, QC, GRM and graph', () => {
  let rt: Runtime;
  beforeAll(async () => {
    rt = await Runtime.create({ threads: 2 });
  });
  afterAll(async () => {
    await rt.close();
  });

  it('reads a gzipped CSV matrix with NA, filters by call rate and MAF, imputes the mean', async () => {
    const f = put('g.csv.gz', gzipSync('id,m1,m2,m3,m4,m5\na,0,2,1,1,NA\nb,1,2,NA,1,NA\nc,2,2,1,0,NA\nd,1,2,1,2,1\n'));
    const g = await readGenotypes(f);
    expect(g.ids).toEqual(['a', 'b', 'c', 'd']);
    expect(Array.from(g.dosage.subarray(5, 10))).toEqual([1, 2, NaN, 1, NaN]);
    const c = qualityControl(g, { minCallRate: 0.7, minMaf: 0.01 });
    // m2 monomorphic, m5 called in 1 of 4: both removed; m3's missing cell gets 2p = 1.
    expect(c.markers).toEqual(['m1', 'm3', 'm4']);
    expect(c.report).toMatchObject({
      markersIn: 5,
      removedCallRate: 1,
      removedMonomorphic: 1,
      removedMaf: 0,
      markersKept: 3,
      imputedCells: 1,
    });
    expect(c.dosage[1 * 3 + 1]).toBe(1);
  });

  it('VanRaden GRM on the engine equals the plain formula; kNN graph is symmetric with k neighbours each', async () => {
    const n = 13,
      m = 57,
      r = rng(4);
    const rows = Array.from({ length: n }, (_, i) =>
      [`s${i}`, ...Array.from({ length: m }, () => String(Math.floor(r() * 3)))].join(','),
    );
    const g = await readGenotypes(
      put('g2.csv', [`id,${Array.from({ length: m }, (_, j) => `m${j}`).join(',')}`, ...rows].join('\n')),
    );
    const c = qualityControl(g, { minMaf: 0 });
    const grm = await vanRadenGrm(rt, c);
    let denom = 0;
    for (const p of c.freq) denom += 2 * p * (1 - p);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < c.m; k++)
          s += (c.dosage[i * c.m + k]! - 2 * c.freq[k]!) * (c.dosage[j * c.m + k]! - 2 * c.freq[k]!);
        expect(grm.values[i * n + j]!).toBeCloseTo(s / denom, 4);
      }
    const kg = knnGraph(grm, 3);
    const deg = new Int32Array(n);
    for (let e = 0; e < kg.src.length; e++) {
      expect(kg.src[e]!).toBeLessThan(kg.dst[e]!);
      deg[kg.src[e]!]!++;
      deg[kg.dst[e]!]!++;
    }
    for (let i = 0; i < n; i++) expect(deg[i]!).toBeGreaterThanOrEqual(3);
    // Each node's strongest relative is among its neighbours.
    const nbr = new Set(Array.from(kg.src, (s, e) => `${s},${kg.dst[e]}`));
    for (let i = 0; i < n; i++) {
      let best = -1;
      for (let j = 0; j < n; j++)
        if (j !== i && (best < 0 || grm.values[i * n + j]! > grm.values[i * n + best]!)) best = j;
      expect(nbr.has(`${Math.min(i, best)},${Math.max(i, best)}`)).toBe(true);
    }
  });

  it('reads VCF: GT to dosage, multi-allelic and non-SNP records skipped and counted', async () => {
    const vcf = [
      '##fileformat=VCFv4.2',
      '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
      '#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3',
      '1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/0\t0|1\t1/1',
      '1\t200\trs2\tA\tG,T\t.\tPASS\t.\tGT\t0/1\t0/2\t1/1',
      '1\t300\trs3\tAT\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t1/1',
      '1\t400\t.\tC\tT\t.\tPASS\t.\tGT:DP\t./.:3\t1/0:5\t0/0:9',
      '',
    ].join('\n');
    const g = await readGenotypes(put('x.vcf.gz', gzipSync(vcf)));
    expect(g.ids).toEqual(['s1', 's2', 's3']);
    expect(g.markers).toEqual(['rs1', '1:400']);
    expect(g.skipped).toEqual({ multiallelic: 1, non_snp: 1 });
    expect(Array.from(g.dosage)).toEqual([0, NaN, 1, 1, 2, 0]);
    expect(g.sites).toEqual({ chromosome: ['1', '1'], position: [100, 400], ref: ['A', 'C'], alt: ['G', 'T'] }); // for Manhattan plots, and graft predict's REF/ALT check
  });

  it('k-fold splits are balanced and seeded; metrics match hand values', () => {
    const f = kFoldSplits(23, 5, 7);
    const counts = [0, 0, 0, 0, 0];
    for (const v of f) counts[v - 1]!++;
    expect(counts.sort()).toEqual([4, 4, 5, 5, 5]);
    expect(Array.from(kFoldSplits(23, 5, 7))).toEqual(Array.from(f));
    expect(Array.from(kFoldSplits(23, 5, 8))).not.toEqual(Array.from(f));
    const m = foldMetrics([1, 2, 3, 4], [1.5, 2.5, 2.5, 4.5]);
    expect(m.rmse).toBeCloseTo(0.5, 12);
    expect(m.r2).toBeCloseTo(1 - 1 / 5, 12);
    expect(m.r).toBeCloseTo(4.5 / Math.sqrt(5 * 4.75), 12); // Σ products of deviations 4.5; sums of squares 5 and 4.75
  });
});

describe('bad input: each error names the file and line, or the argument', () => {
  it('ragged row, non-numeric genotype, duplicated id, empty file', async () => {
    await expect(readGenotypes(put('r.csv', 'id,a,b\nx,0,1\ny,1\n'))).rejects.toThrow(
      /r\.csv:3: 2 fields, but the header has 3 \(a ragged row\)/,
    );
    await expect(readGenotypes(put('n.csv', 'id,a,b\nx,0,1\ny,1,AB\n'))).rejects.toThrow(
      /n\.csv:3: marker 'b' \(column 3\) of sample 'y': "AB" is not a genotype/,
    );
    await expect(readGenotypes(put('d.csv', 'id,a\nx,0\ny,1\nx,2\n'))).rejects.toThrow(
      /d\.csv:4: sample 'x' appears twice \(also on line 2\)/,
    );
    await expect(readGenotypes(put('e.csv', ''))).rejects.toThrow(/e\.csv: the file is empty/);
    expect(() => readPhenotypes(put('pd.csv', 'id,t\nx,1\nx,2\n'))).toThrow(/pd\.csv:3: sample 'x' appears twice/);
    expect(() => traitValues(readPhenotypes(put('pn.csv', 'id,t\nx,1\ny,tall\n')), 't')).toThrow(
      /pn\.csv:3: trait 't' of sample 'y': "tall" is not a number/,
    );
    expect(() => traitValues(readPhenotypes(put('pu.csv', 'id,t\nx,1\n')), 'u')).toThrow(
      /pu\.csv:1: no column 'u'; the columns are 't'/,
    );
  });

  it('a VCF without GT', async () => {
    const vcf =
      '##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\n1\t5\t.\tA\tC\t.\t.\t.\tDP\t7\n';
    await expect(readGenotypes(put('nogt.vcf', vcf))).rejects.toThrow(/nogt\.vcf:3: no GT field in FORMAT "DP"/);
  });

  it('no ids in common; a constant phenotype; a trait all NA', async () => {
    expect(() => matchSamples(['a', 'b'], 'g.csv', ['c'], 'p.csv')).toThrow(
      /no sample ids in common between g\.csv \(e\.g\. 'a', 'b'\) and p\.csv \(e\.g\. 'c'\)/,
    );
    const geno = put('gg.csv', 'id,m1,m2\na,0,2\nb,1,1\nc,2,0\nd,1,2\n');
    const base: StudyOptions = {
      geno,
      pheno: '',
      traits: ['t'],
      features: 'markers',
      pcs: 2,
      graph: 'knn',
      knn: 2,
      threshold: 0,
      models: ['gblup'],
      k: 2,
      repeats: 1,
      seed: 1,
      threads: 1,
      gcn: GCN_GP_DEFAULTS,
    };
    await expect(runStudy({ ...base, pheno: put('pc.csv', 'id,t\na,5\nb,5\nc,5\n') })).rejects.toThrow(
      /pc\.csv: trait 't' is constant \(5\)/,
    );
    await expect(runStudy({ ...base, pheno: put('pa.csv', 'id,t,u\na,NA,1\nb,NA,2\nz,3,3\n') })).rejects.toThrow(
      /pa\.csv: trait 't' is missing \(NA\) for every genotyped sample/,
    );
    expect(() => readFolds(put('f.csv', 'id,fold\na,1\nb,x\n'), ['a', 'b'])).toThrow(
      /f\.csv:3: fold "x" of sample 'b' is not a positive integer/,
    );
    // A NaN phenotype passed silently: it is missing, and the run says so.
    const said: string[] = [];
    const rt = await Runtime.create({ threads: 1 });
    try {
      await prepareStudy(rt, { ...base, pheno: put('pnan.csv', 'id,t\na,1\nb,NaN\nc,3\nd,2\n') }, (m) => said.push(m));
    } finally {
      await rt.close();
    }
    expect(said).toContain(
      "trait 't': 1 of 4 genotyped samples have no phenotype (NA, NaN or empty): they are candidates, predicted from the fit on the 3 phenotyped (candidates.csv)",
    );
  });
});

describe('the shipped synthetic data set', () => {
  it("regenerates byte for byte (all four files), and qtl.csv's effects reproduce truth.csv", () => {
    const d = syntheticGenomicData({ seed: 2026 });
    const out = join(dir, 'synthetic-gp');
    writeSyntheticGenomicData(out, d);
    for (const f of ['genotypes.csv.gz', 'phenotypes.csv', 'truth.csv', 'qtl.csv']) {
      expect(
        readFileSync(join(out, f)).equals(readFileSync(join(SYNTHETIC_GP_DIR, f))),
        `${f} differs from the shipped one`,
      ).toBe(true);
    }
    const n = d.ids.length,
      m = d.markers.length;
    // The complete dosages are the file's wherever the file has a value, and only NaN went missing.
    let missing = 0,
      differ = 0;
    for (let k = 0; k < n * m; k++) {
      if (Number.isNaN(d.dosage[k]!)) missing++;
      else if (d.completeDosage[k] !== d.dosage[k]) differ++;
    }
    expect(differ).toBe(0);
    expect(d.completeDosage.every((v) => v === 0 || v === 1 || v === 2)).toBe(true);
    expect(missing / (n * m)).toBeGreaterThan(0.005);
    expect(missing / (n * m)).toBeLessThan(0.02);
    // qtl.csv: trait,marker,effect; 80 per trait, by trait then marker index.
    const rows = readFileSync(join(SYNTHETIC_GP_DIR, 'qtl.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('trait,marker,effect');
    const qtl = rows.slice(1).map((l) => {
      const [trait, marker, effect] = l.split(',');
      return { trait: trait!, marker: d.markers.indexOf(marker!), effect: Number(effect) };
    });
    expect(qtl.every((q) => q.marker >= 0 && Number.isFinite(q.effect))).toBe(true);
    const truth = readFileSync(join(SYNTHETIC_GP_DIR, 'truth.csv'), 'utf8').trim().split('\n');
    expect(truth[0]).toBe('id,yield_genetic,height_genetic');
    const truthRows = truth.slice(1).map((l) => l.split(','));
    expect(truthRows.map((r) => r[0])).toEqual(d.ids);
    d.traits.forEach((t, k) => {
      const mine = qtl.filter((q) => q.trait === t.name);
      expect(mine).toHaveLength(80);
      expect(mine.map((q) => q.marker)).toEqual([...mine.map((q) => q.marker)].sort((a, b) => a - b));
      expect(mine.map((q) => q.marker)).toEqual(t.qtl.map((q) => q.marker));
      if (k > 0)
        expect(qtl.findIndex((q) => q.trait === t.name)).toBeGreaterThan(
          qtl.findIndex((q) => q.trait === d.traits[k - 1]!.name),
        );
      const g = new Float64Array(n);
      for (const q of mine) for (let i = 0; i < n; i++) g[i]! += q.effect * d.completeDosage[i * m + q.marker]!;
      const mean = g.reduce((a, b) => a + b, 0) / n;
      let worst = 0,
        worstExact = 0;
      for (let i = 0; i < n; i++) {
        worst = Math.max(worst, Math.abs(g[i]! - mean - Number(truthRows[i]![k + 1])));
        worstExact = Math.max(worstExact, Math.abs(g[i]! - mean - t.genetic[i]!));
      }
      expect(worst, `${t.name}: Σ effect·dosage (centred) against truth.csv`).toBeLessThan(1e-3);
      expect(worstExact, `${t.name}: against the in-memory genetic values`).toBeLessThan(1e-3);
      // The in-memory (unrounded) effects are exact.
      const ge = new Float64Array(n);
      for (const q of t.qtl) for (let i = 0; i < n; i++) ge[i]! += q.effect * d.completeDosage[i * m + q.marker]!;
      const me = ge.reduce((a, b) => a + b, 0) / n;
      for (let i = 0; i < n; i++) expect(ge[i]! - me).toBeCloseTo(t.genetic[i]!, 9);
    });
  });
});

describe('cross-validation study on the shipped synthetic data', () => {
  const geno = join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
    pheno = join(SYNTHETIC_GP_DIR, 'phenotypes.csv');
  const base: StudyOptions = {
    geno,
    pheno,
    traits: ['yield', 'height'],
    qc: { minMaf: 0.01, minCallRate: 0.9 },
    features: 'pcs',
    pcs: 20,
    graph: 'knn',
    knn: 5,
    threshold: 0,
    covariates: ['site'],
    models: ['gcn', 'hybrid', 'gblup', 'rrblup'],
    k: 3,
    repeats: 1,
    seed: 3,
    threads: 1,
    gcn: { ...GCN_GP_DEFAULTS, epochs: 25, patience: 0, hidden: 16, ensemble: 2 },
  };

  it('a pool of 2 workers gives exactly the results of a serial run; GBLUP reaches the accuracy the heritability allows', async () => {
    const serial = await runStudy(base);
    const pooled = await runStudy({ ...base, threads: 2 });
    expect(pooled.folds).toEqual(serial.folds);
    expect(pooled.predictions).toEqual(serial.predictions);
    // The generator's ceiling is r ≈ sqrt(h²): 0.89 for height (h² = 0.8); 300 samples reach a good share of it.
    expect(serial.table['gblup']!['height']!.r_mean).toBeGreaterThan(0.55);
    expect(serial.table['rrblup']!['height']!.r_mean).toBeGreaterThan(0.55);
    expect(serial.table['gblup']!['height']!.r_mean).toBeLessThan(0.92);
    // Against the true genetic values the shipped truth.csv holds.
    const truth = readFileSync(join(SYNTHETIC_GP_DIR, 'truth.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => l.split(','));
    const g = new Map(truth.map((r) => [r[0]!, Number(r[2])]));
    const p = serial.predictions.filter((x) => x.model === 'gblup' && x.trait === 'height');
    expect(
      foldMetrics(
        p.map((x) => g.get(serial.data.ids[x.sample]!)!),
        p.map((x) => x.predicted),
      ).r,
    ).toBeGreaterThan(0.6);
    expect(serial.table['gcn']!['height']!.folds).toBe(3);
    expect(serial.table['hybrid']!['yield']!.folds).toBe(3);
  });
});

const shared = sharedData();
const wheat = shared ? join(shared, 'wheat_bglr') : undefined;
if (!wheat || !existsSync(join(wheat, 'wheat_X.csv')))
  console.warn('SKIPPED: wheat GBLUP test needs ../shared/data/wheat_bglr (absent in this clone)');

describe.skipIf(!wheat || !existsSync(join(wheat, 'wheat_X.csv')))('published figures: BGLR wheat', () => {
  it('GBLUP with the shipped 10 folds lands in the published range (r ≈ 0.4–0.55 by environment)', async () => {
    const res = await runStudy({
      geno: join(wheat!, 'wheat_X.csv'),
      pheno: join(wheat!, 'wheat_Y.csv'),
      traits: ['all'],
      foldsFile: join(wheat!, 'wheat_sets.csv'),
      features: 'markers',
      pcs: 0,
      graph: 'knn',
      knn: 5,
      threshold: 0,
      models: ['gblup'],
      k: 10,
      repeats: 1,
      seed: 1,
      threads: 2,
      gcn: GCN_GP_DEFAULTS,
    });
    expect(res.data.traits).toEqual(['env1', 'env2', 'env4', 'env5']);
    const r = res.data.traits.map((t) => res.table['gblup']![t]!.r_mean);
    for (const v of r) expect(v).toBeGreaterThan(0.35);
    for (const v of r) expect(v).toBeLessThan(0.6);
    expect(r.reduce((a, b) => a + b, 0) / 4).toBeGreaterThan(0.42);
    expect(res.table['gblup']!['env1']!.folds).toBe(10);
  }, 120_000);
});

describe('graft gp CLI', () => {
  it('writes results.json, folds, predictions, report.md and SVGs; bad flags exit 2', async () => {
    const { spawnSync } = await import('node:child_process');
    const { packageRoot } = await import('../src/core/paths.js');
    const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const out = join(dir, 'gp-run');
    const r = spawnSync(
      process.execPath,
      [
        cli,
        'gp',
        '--geno',
        join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
        '--pheno',
        join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
        '--trait',
        'height',
        '--k',
        '3',
        '--epochs',
        '10',
        '--models',
        'gcn,gblup,rrblup',
        '--features',
        'pcs',
        '--threads',
        '2',
        '--out',
        out,
        '--quiet',
      ],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/model\s+height r \(mean ± sd\)/);
    expect(readdirSync(out).sort()).toEqual([
      'folds.csv',
      'jobs',
      'pred-vs-obs-height.svg',
      'pred-vs-obs-height.vl.json',
      'predictions.csv',
      'r-by-fold-height.svg',
      'r-by-fold-height.vl.json',
      'report.md',
      'results.json',
    ]);
    const res = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
      models: Record<string, Record<string, { r_mean: number; r_sd: number }>>;
      families: Record<string, string>;
    };
    expect(Object.keys(res.models)).toEqual(['gcn', 'gblup', 'rrblup']);
    expect(res.families).toEqual({ gcn: 'graph', gblup: 'kernel', rrblup: 'linear' });
    expect(res.models['gblup']!['height']!.r_mean).toBeGreaterThan(0.5);
    expect(readFileSync(join(out, 'predictions.csv'), 'utf8').split('\n').length).toBe(1 + 3 * 300 + 1);
    const bad = spawnSync(
      process.execPath,
      [cli, 'gp', '--geno', join(dir, 'nope.csv'), '--pheno', 'p.csv', '--trait', 't', '--out', join(dir, 'bad')],
      { encoding: 'utf8' },
    );
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/nope\.csv: cannot read: ENOENT/);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  }, 120_000);
});

describe('a relationship matrix instead of markers', () => {
  it('GBLUP from the GRM written to a file equals GBLUP from the markers; bad matrices are named by line', async () => {
    const geno = join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
      pheno = join(SYNTHETIC_GP_DIR, 'phenotypes.csv');
    const rt = await Runtime.create({ threads: 1 });
    const g = await readGenotypes(geno);
    const grm = await vanRadenGrm(rt, qualityControl(g, { minMaf: 0.01, minCallRate: 0.9 }));
    await rt.close();
    const n = grm.n;
    const rows = grm.ids.map((id, i) =>
      [id, ...Array.from(grm.values.subarray(i * n, (i + 1) * n), (v) => v.toPrecision(17))].join(','),
    );
    const relFile = put('grm.csv', `${[`id,${grm.ids.join(',')}`, ...rows].join('\n')}\n`);
    const common: StudyOptions = {
      pheno,
      traits: ['height'],
      features: 'pcs',
      pcs: 10,
      graph: 'knn',
      knn: 5,
      threshold: 0,
      models: ['gblup'],
      k: 4,
      repeats: 1,
      seed: 2,
      threads: 1,
      gcn: GCN_GP_DEFAULTS,
    };
    const fromMarkers = await runStudy({ ...common, geno });
    const fromFile = await runStudy({ ...common, relationship: relFile });
    expect(fromFile.predictions).toEqual(fromMarkers.predictions);
    await expect(runStudy({ ...common, relationship: relFile, models: ['rrblup'] })).rejects.toThrow(
      /rrBLUP needs marker genotypes/,
    );
    expect(() => readRelationship(put('asym.csv', 'id,a,b\na,1,0.5\nb,0.4,1\n'))).toThrow(
      /asym\.csv:3: not symmetric: \[b, a\] = 0\.4 but \[a, b\] = 0\.5/,
    );
    expect(() => readRelationship(put('rr.csv', 'id,a,b\na,1,0.5\nb,0.5\n'))).toThrow(
      /rr\.csv:3: 2 fields, but the header has 3/,
    );
  }, 60_000);
});
