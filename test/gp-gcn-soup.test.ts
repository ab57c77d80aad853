import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGpArgs } from '../src/cli/commands/gp.js';
import { planFinalJobs, planJobs, runCvJob, withSoupResults } from '../src/genomics/cv-jobs.js';
import { runCvJobs } from '../src/genomics/cv-pool.js';
import { gcnSoup, predictWithWeights, type GpGcnConfig } from '../src/genomics/gcn-soup.js';
import type { CvJobResult } from '../src/genomics/job-types.js';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { prepareStudy, type StudyData } from '../src/genomics/study-data.js';
import type { StudyOptions } from '../src/genomics/study.js';
import { innerValidation } from '../src/genomics/stacking.js';
import { Runtime } from '../src/runtime/runtime.js';
import {
  GCN_GP_DEFAULTS,
  gcnRegressorModel,
  trainGcnRegressor,
  type GcnRegressionInput,
  type GcnRegressionResult,
} from '../src/train/gcn-regressor.js';

// graft gp --gcn-soup: the gcn ensemble's members from one initialization, their weights souped.
// Oracles: members trained by hand with the seeds graft gp has always used (no soup: the same
// bits), the mean of the members' weights computed here, and the models the seeds build.

const study: StudyOptions = {
  geno: join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
  pheno: join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
  traits: ['height'],
  qc: { minMaf: 0.01, minCallRate: 0.9 },
  features: 'pcs',
  pcs: 10,
  graph: 'knn',
  knn: 5,
  threshold: 0,
  models: ['gcn'],
  k: 3,
  repeats: 1,
  seed: 3,
  threads: 1,
  gcn: { ...GCN_GP_DEFAULTS, epochs: 12, patience: 0, hidden: 8, layers: 2, ensemble: 3 },
};
const gcn: GpGcnConfig = study.gcn;

let rt: Runtime;
let data: StudyData;
/** Three folds by sample index; fold 1 is the test fold of every job here. */
let folds: Int32Array[];
let train: Int32Array;
const input = (trainIdx: Int32Array, extra: Partial<GcnRegressionInput> = {}): GcnRegressionInput => ({
  n: data.n,
  features: data.features,
  f: data.f,
  src: data.src,
  dst: data.dst,
  y: data.y[0]!,
  train: trainIdx,
  ...extra,
});

beforeAll(async () => {
  rt = await Runtime.create({ threads: 1 });
  data = (await prepareStudy(rt, study)).data;
  folds = [Int32Array.from({ length: data.n }, (_, i) => (i % 3) + 1)];
  train = Int32Array.from(
    Array.from({ length: data.n }, (_, i) => i).filter((i) => folds[0]![i] !== 1 && Number.isFinite(data.y[0]![i]!)),
  );
});
afterAll(async () => {
  await rt?.close();
});

describe('graft gp --gcn-soup', () => {
  it('without a soup, the gcn job is the ensemble of members seeded apart, bit for bit as before', async () => {
    const job = { model: 'gcn' as const, repeat: 0, fold: 1, traits: [0] };
    const r = await runCvJob(rt, data, folds, job, gcn);
    const mean = new Float64Array(data.n);
    for (let e = 0; e < 3; e++) {
      const m = await trainGcnRegressor(rt, input(train), { ...gcn, seed: gcn.seed + 1 + 100_003 * e });
      for (let i = 0; i < data.n; i++) mean[i]! += m.predictions[i]!;
    }
    const test = r.perTrait[0]!.test;
    expect(r.perTrait[0]!.predicted).toEqual(test.map((i) => mean[i]! / 3));
    // A train seed equal to the seed is the fit without one.
    const a = await trainGcnRegressor(rt, input(train), { ...gcn, seed: 5 });
    const b = await trainGcnRegressor(rt, input(train), { ...gcn, seed: 5, trainSeed: 5 });
    expect(b.predictions).toEqual(a.predictions);
  });

  it('members share their initial weights and differ by their train seeds', async () => {
    const build = (trainSeed: number) =>
      gcnRegressorModel<void>(
        rt,
        { ...gcn, seed: 4, trainSeed },
        { f: data.f },
        () => {
          throw new Error('not run');
        },
        () => [],
      );
    const m1 = build(4),
      m2 = build(100_007);
    const m3 = gcnRegressorModel<void>(
      rt,
      { ...gcn, seed: 100_007 },
      { f: data.f },
      () => {
        throw new Error('not run');
      },
      () => [],
    );
    const values = (m: typeof m1) => m.params().map((p) => Array.from(p.value.data() as Float32Array));
    expect(values(m2)).toEqual(values(m1));
    expect(values(m3)).not.toEqual(values(m1));
    for (const m of [m1, m2, m3]) m.dispose();
    // Dropout reads the train seed: same initialization, other weights after training.
    const a = await trainGcnRegressor(rt, input(train), { ...gcn, seed: 4, trainSeed: 4 });
    const b = await trainGcnRegressor(rt, input(train), { ...gcn, seed: 4, trainSeed: 100_007 });
    expect(b.weights.get(a.weights.keys().next().value!)).not.toEqual(a.weights.values().next().value);
  });

  it('the uniform soup is the mean of the members, and a one-member soup predicts what the member does', async () => {
    const val = innerValidation(train, gcn.valFraction, 77);
    const fits: GcnRegressionResult[] = [];
    for (const trainSeed of [4, 100_007, 200_010]) {
      const r = await trainGcnRegressor(rt, input(train, { validation: val }), { ...gcn, seed: 4, trainSeed });
      fits.push(r);
    }
    const members = fits.map((r) => ({ weights: r.weights, predictions: r.predictions }));
    const y = data.y[0]!;
    const soup = await gcnSoup(rt, data, { ...gcn, seed: 4 }, 'uniform', members, fits[0]!.scale, y, val);
    for (const [name, w] of fits[0]!.weights) {
      const hand = Float32Array.from(
        w,
        (_, i) =>
          (fits[0]!.weights.get(name)![i]! + fits[1]!.weights.get(name)![i]! + fits[2]!.weights.get(name)![i]!) / 3,
      );
      expect(soup.weights.get(name)).toEqual(hand);
    }
    expect(soup.ingredients).toEqual([0, 1, 2]);
    // The same fold's scale for every member (same training and validation nodes).
    expect(fits[1]!.scale).toEqual(fits[0]!.scale);
    const alone = await predictWithWeights(rt, data, { ...gcn, seed: 4 }, fits[1]!.weights, fits[1]!.scale);
    for (let i = 0; i < data.n; i++) expect(alone[i]).toBeCloseTo(fits[1]!.predictions[i]!, 5);
    // Greedy: starts from the member with the lowest validation MSE and never ends worse than it.
    const mse = (p: Float64Array) =>
      Array.from(val, (i) => (p[i]! - y[i]!) ** 2).reduce((s, v) => s + v, 0) / val.length;
    const greedy = await gcnSoup(rt, data, { ...gcn, seed: 4 }, 'greedy', members, fits[0]!.scale, y, val);
    const best = Math.min(...members.map((m) => mse(m.predictions)));
    expect(greedy.ingredients[0]).toBe(members.findIndex((m) => mse(m.predictions) === best));
    expect(mse(greedy.predictions)).toBeLessThanOrEqual(best + 1e-9);
  });

  it('a gcn job with a soup trains its members once and soups the very members it averages', async () => {
    const soupy: GpGcnConfig = { ...gcn, soup: 'uniform' };
    const job = { repeat: 0, fold: 1, traits: [0] };
    const ens = await runCvJob(rt, data, folds, { ...job, model: 'gcn' }, soupy);
    // Members by hand: one seed (fold 1, repeat 0), train seeds apart, one inner validation split.
    const seed = gcn.seed + 1;
    const val = innerValidation(train, gcn.valFraction, seed ^ 0x5eed);
    const fits: GcnRegressionResult[] = [];
    for (let e = 0; e < 3; e++)
      fits.push(
        await trainGcnRegressor(rt, input(train, { validation: val }), { ...gcn, seed, trainSeed: seed + 100_003 * e }),
      );
    const test = ens.perTrait[0]!.test;
    expect(ens.perTrait[0]!.predicted).toEqual(
      test.map((i) => (fits[0]!.predictions[i]! + fits[1]!.predictions[i]! + fits[2]!.predictions[i]!) / 3),
    );
    const soup = await gcnSoup(rt, data, { ...gcn, seed }, 'uniform', fits, fits[0]!.scale, data.y[0]!, val);
    // The study splits the soup into a gcn-soup result of its own, after the gcn result.
    const [plain, s] = withSoupResults([ens]);
    expect(plain!.job.model).toBe('gcn');
    expect(plain!.perTrait[0]!.soup).toBeUndefined();
    expect(plain!.perTrait[0]!.predicted).toEqual(ens.perTrait[0]!.predicted);
    expect(s!.job).toEqual({ ...job, model: 'gcn-soup' });
    expect(s!.perTrait[0]!.predicted).toEqual(test.map((i) => soup.predictions[i]!));
    expect(s!.perTrait[0]!.info['ingredients']).toBe(3);
    // No gcn-soup job is planned: the gcn job is the only one that trains the members.
    expect(planJobs(['gcn', 'gcn-soup'], 1, 2, 1).map((j) => j.model)).toEqual(['gcn', 'gcn']);
    expect(planFinalJobs(['gcn', 'gcn-soup'], 1).map((j) => j.model)).toEqual(['gcn']);
  });

  it('resuming a soup study: a gcn job cached without its soup (an older run folder) runs again and gets its soup, the same bits', async () => {
    const soupy: GpGcnConfig = { ...gcn, soup: 'uniform' };
    const job = { model: 'gcn' as const, repeat: 0, fold: 1, traits: [0] };
    const fresh = await runCvJob(rt, data, folds, job, soupy);
    expect(fresh.perTrait[0]!.soup).toBeDefined();
    const old: CvJobResult = { ...fresh, perTrait: fresh.perTrait.map(({ soup: _, ...pt }) => pt) };
    const resumed = async (cached: CvJobResult): Promise<{ r: CvJobResult; reused: boolean }> => {
      let reused = false;
      const [r] = await runCvJobs({ data, folds, gcn: soupy }, [job], 1, {
        cache: { load: () => cached, save: () => {} },
        onDone: (_, __, re) => {
          reused = re;
        },
      });
      return { r: r!, reused };
    };
    const again = await resumed(old);
    expect(again.reused).toBe(false);
    const { ms: _a, ...want } = fresh,
      { ms: _b, ...got } = again.r;
    expect(JSON.stringify(got, (k, v) => (k === 'ms' ? 0 : v))).toBe(
      JSON.stringify(want, (k, v) => (k === 'ms' ? 0 : v)),
    );
    expect(withSoupResults([again.r]).map((r) => r.job.model)).toEqual(['gcn', 'gcn-soup']);
    // A job cached with its soup is read back; without a soup study the old job is whole.
    expect((await resumed(fresh)).reused).toBe(true);
    const [plain] = await runCvJobs({ data, folds, gcn }, [job], 1, { cache: { load: () => old, save: () => {} } });
    expect(plain).toBe(old);
  });

  it('a final fit with a soup keeps the soup as a one-member GCN that predicts what the soup does', async () => {
    const soupy: GpGcnConfig = { ...gcn, soup: 'uniform' };
    // Ten samples without a phenotype: the final fit's candidates, which its models predict.
    const y = Float64Array.from(data.y[0]!, (v, i) => (i < 10 ? NaN : v));
    const withCandidates: StudyData = { ...data, y: [y] };
    const job = { model: 'gcn' as const, repeat: 0, fold: 0, traits: [0], final: true as const };
    const fin = await runCvJob(rt, withCandidates, folds, job, soupy);
    const [plain, s] = withSoupResults([fin]);
    const members = plain!.perTrait[0]!.final!.members!;
    expect(members.length).toBe(3);
    // One initialization: the shared seed is member 0's; every member has the same scale.
    const seed = gcn.seed + 7_919;
    const kept = s!.perTrait[0]!.final!;
    expect(kept.members!.length).toBe(1);
    expect(kept.members![0]!.seed).toBe(seed);
    expect(kept.members![0]!.scale).toEqual(members[0]!.scale);
    // Oracle: the uniform mean of the three kept members' weights, computed here.
    for (const [name, w] of members[0]!.weights) {
      const hand = Float32Array.from(
        w,
        (_, i) => (w[i]! + members[1]!.weights.get(name)![i]! + members[2]!.weights.get(name)![i]!) / 3,
      );
      expect(kept.members![0]!.weights.get(name)).toEqual(hand);
    }
    // Its stored test predictions are the soup model run on the study graph.
    const { soup: _, ...c } = soupy;
    const pred = await predictWithWeights(
      rt,
      withCandidates,
      { ...c, seed },
      kept.members![0]!.weights,
      members[0]!.scale,
    );
    const test = s!.perTrait[0]!.test;
    expect(test).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(Array.from(kept.memberTest![0]!)).toEqual(test.map((i) => pred[i]!));
    expect(s!.perTrait[0]!.predicted).toEqual(test.map((i) => pred[i]!));
  });

  it('the flag adds gcn-soup after gcn, and refuses what it cannot soup', () => {
    const args = ['--geno', 'g.csv', '--pheno', 'p.csv', '--trait', 't'];
    const r = parseGpArgs([...args, '--models', 'gblup,gcn', '--gcn-soup', 'greedy']);
    expect(r.o.models).toEqual(['gblup', 'gcn', 'gcn-soup']);
    expect(r.o.gcn.soup).toBe('greedy');
    expect(parseGpArgs([...args, '--models', 'gcn']).o.gcn.soup).toBeUndefined();
    expect(() => parseGpArgs([...args, '--models', 'gblup', '--gcn-soup', 'uniform'])).toThrow(/needs gcn in --models/);
    expect(() => parseGpArgs([...args, '--models', 'gcn', '--gcn-soup', 'mean'])).toThrow(/--gcn-soup/);
  });
});
