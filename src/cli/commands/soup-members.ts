import { join } from 'node:path';
import { GraftError } from '../../core/errors.js';
import type { RecordedInputs } from '../../core/input-files.js';
import { checkInputs } from '../../core/input-files.js';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import { graphRunTrainer, type GraphRunConfig } from '../../chem/graph-run.js';
import { moleculeOutputs, moleculeReport, moleculeSplit } from '../../chem/train-molecules.js';
import { stackTargets } from '../../graph/batch.js';
import type { Tensor } from '../../memory/tensor.js';
import type { Parameter } from '../../nn/layer.js';
import { loadWeights } from '../../nn/load-weights.js';
import { modelWeights } from '../../infer/model-file.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { PruneMask } from '../../soup/prune.js';
import type { Weights } from '../../soup/average.js';
import type { GraphTrainer } from '../../train/graph-trainer.js';
import type { StepSync } from '../../train/step.js';
import { accuracy } from '../../train/metrics.js';
import { chooseThresholds, meanRocAuc, multilabelReport } from '../../train/multilabel-metrics.js';
import { predictNodes, trainNodeClassifier, type NodeTrainConfig } from '../../train/node-trainer.js';
import { scoreRunData } from '../score-run.js';
import type { RunModel } from '../run-model.js';

// What graft soup needs of a node or graph run folder besides its weights: which members may
// be averaged (one architecture, one data file and split, one initialization), a held-out score
// for the greedy recipe, test figures of a model and of the members' ensemble, and retraining a
// member by its own recipe from a pruned start with the pruned weights held at zero.

/** A member run as graft soup reads it: the folder, its model, its reported weights and their shapes. */
export interface SoupRun {
  dir: string;
  run: RunModel;
  weights: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
}

/** A member run's reported weights and their shapes. */
export function soupRun(dir: string, run: RunModel): SoupRun {
  const weights = modelWeights(run.model, '');
  const shapes = new Map<string, number[]>();
  for (const name of weights.keys())
    shapes.set(name, [...run.model.checkpoint.tensors.get(`${run.model.prefix}${name}`)!.shape]);
  return { dir, run, weights, shapes };
}

/** What the members must share, with what a difference means. */
const SHARED: Record<'node' | 'graph', [key: string, why: string][]> = {
  node: [
    ['model', 'another architecture'],
    ['layers', 'another architecture'],
    ['hidden', 'another architecture'],
    ['heads', 'another architecture'],
    ['dataset', 'another data set'],
    ['edges', 'another data file'],
    ['features', 'another data file'],
    ['labels', 'another data file'],
    ['normalize', 'other preprocessing'],
    ['seed', 'another initialization (members share --seed and differ in --train-seed, --lr, --dropout, --epochs)'],
  ],
  graph: [
    ['type', 'another task'],
    ['targets', 'other targets'],
    ['smiles', 'another SMILES column'],
    ['hybrid', 'another architecture'],
    ['layers', 'another architecture'],
    ['hidden', 'another architecture'],
    ['pool', 'another architecture'],
    ['data', 'another data file'],
    ['split', 'another split'],
    [
      'seed',
      'another split and initialization (members share --seed and differ in --train-seed, --lr, --dropout, --epochs)',
    ],
  ],
};

/**
 * Refuses members that cannot make one soup: another kind of run, architecture, data file
 * (by the SHA-256 each run recorded), split or initialization seed than the first member.
 * One line naming the run, what differs and both values.
 */
export function checkSoupMembers(members: readonly SoupRun[]): void {
  const first = members[0]!;
  for (const m of members.slice(1)) {
    if (m.run.kind !== first.run.kind)
      throw new GraftError(
        `${m.dir}: a ${m.run.kind} run, ${first.dir} a ${first.run.kind} run: one soup is of one task`,
      );
    for (const [key, why] of SHARED[first.run.kind]) {
      const a = JSON.stringify(first.run.config[key] ?? null),
        b = JSON.stringify(m.run.config[key] ?? null);
      if (a !== b) throw new GraftError(`${m.dir}: ${key} is ${b}, ${first.dir}'s is ${a}: ${why}`);
    }
    const fi = (first.run.config['inputs'] ?? {}) as RecordedInputs,
      mi = (m.run.config['inputs'] ?? {}) as RecordedInputs;
    for (const role of new Set([...Object.keys(fi), ...Object.keys(mi)]))
      if (fi[role]?.sha256 !== mi[role]?.sha256)
        throw new GraftError(
          `${m.dir}: its ${role} file (SHA-256 ${mi[role]?.sha256.slice(0, 12) ?? 'none'}…) is not ${first.dir}'s (${fi[role]?.sha256.slice(0, 12) ?? 'none'}…): another data file`,
        );
    for (const [name, shape] of first.shapes) {
      const s = m.shapes.get(name);
      if (!s || s.join('×') !== shape.join('×'))
        throw new GraftError(
          `${m.dir}: parameter ${name} is ${s ? `[${s.join('×')}]` : 'missing'}, ${first.dir}'s [${shape.join('×')}]: another architecture`,
        );
    }
    for (const name of m.shapes.keys())
      if (!first.shapes.has(name))
        throw new GraftError(`${m.dir}: has a parameter ${name} that ${first.dir} has not: another architecture`);
  }
}

/** A node or graph task scored and retrained for graft soup (on one runtime; close() frees it). */
export interface SoupTask {
  /** The held-out score's name and its value for some weights (higher is better). */
  readonly scoreName: string;
  valScore(w: Weights): Promise<number>;
  /** Test figures of one model with these weights. */
  testMetrics(w: Weights): Promise<Record<string, number>>;
  /** Held-out and test figures of the ensemble: the mean of the members' predictions. */
  ensembleMetrics(ws: readonly Weights[]): Promise<Record<string, number>>;
  /** Milliseconds to score the test split once with each of `ws` in turn (one model, or an ensemble's members). */
  timeTest(ws: readonly Weights[]): Promise<number>;
  /** Retrains `member` by its own recipe from `start`, the pruned values held at zero. */
  retrain(member: SoupRun, start: Weights, mask: PruneMask): Promise<{ weights: Weights; score: number }>;
  /** What the soup's config.json records besides the member's (graph runs: thresholds chosen on validation). */
  configFor(w: Weights): Promise<Record<string, unknown>>;
  close(): void;
}

/** Sets the values the mask prunes back to zero: `tensors` are the parameters named `names`, in order. */
function zeroPruned(mask: PruneMask, names: readonly string[], tensors: readonly Tensor[]): void {
  tensors.forEach((t, i) => {
    const m = mask.get(names[i]!);
    if (!m) return;
    const d = t.data() as Float32Array;
    for (let j = 0; j < m.length; j++) if (m[j] === 0) d[j] = 0;
  });
}

/** Holds pruned weights at zero after every optimizer step (a node trainer's afterStep hook). */
function holdMask(mask: PruneMask, params: readonly Parameter[]): void {
  zeroPruned(
    mask,
    params.map((p) => p.name),
    params.map((p) => p.value),
  );
}

/** A StepSync that holds pruned weights at zero after every optimizer step; `names` name the parameter tensors in the trainer's order. */
function maskingSync(mask: PruneMask, names: readonly string[]): StepSync {
  return {
    async gradients() {},
    async afterStep(params) {
      zeroPruned(mask, names, params);
    },
    async beforeValidation() {},
  };
}

/** The node task of the first member: its data (checked against the run's checksums) and runtime. */
export async function nodeSoupTask(rt: Runtime, first: SoupRun, dataDir: string | undefined): Promise<SoupTask> {
  const { ds } = await scoreRunData(rt, first.run, dataDir, 'graft soup');
  const config = first.run.config as unknown as NodeTrainConfig;
  const probsOf = async (w: Weights): Promise<{ probs: Float32Array; pred: Int32Array }> =>
    predictNodes(rt, ds, config, new Map(w));
  const C = ds.numClasses;
  return {
    scoreName: 'val_accuracy',
    async valScore(w) {
      return accuracy(ds.labels, (await probsOf(w)).pred, ds.split.val);
    },
    async testMetrics(w) {
      const { pred } = await probsOf(w);
      return {
        val_accuracy: accuracy(ds.labels, pred, ds.split.val),
        test_accuracy: accuracy(ds.labels, pred, ds.split.test),
      };
    },
    async ensembleMetrics(ws) {
      const mean = new Float64Array(ds.numNodes * C);
      for (const w of ws) {
        const { probs } = await probsOf(w);
        for (let i = 0; i < mean.length; i++) mean[i]! += probs[i]!;
      }
      const pred = new Int32Array(ds.numNodes);
      for (let i = 0; i < ds.numNodes; i++) {
        let best = 0;
        for (let c = 1; c < C; c++) if (mean[i * C + c]! > mean[i * C + best]!) best = c;
        pred[i] = best;
      }
      return {
        val_accuracy: accuracy(ds.labels, pred, ds.split.val),
        test_accuracy: accuracy(ds.labels, pred, ds.split.test),
      };
    },
    async timeTest(ws) {
      const t0 = performance.now();
      for (const w of ws) await probsOf(w);
      return performance.now() - t0;
    },
    async retrain(member, start, mask) {
      const c = JSON.parse(member.run.model.checkpoint.metadata['config'] ?? '{}') as NodeTrainConfig;
      // The member's recipe from the pruned start (fresh Adam moments and early stopping), the mask held after every step.
      const r = await trainNodeClassifier(rt, ds, c, {
        initialWeights: { weights: start, source: `${member.dir} (the pruned soup)` },
        afterStep: (params) => holdMask(mask, params),
      });
      const weights = new Map([...r.weights].map(([k, v]) => [k, Float32Array.from(v)]));
      return { weights, score: accuracy(ds.labels, (await probsOf(weights)).pred, ds.split.val) };
    },
    async configFor() {
      return {};
    },
    close() {},
  };
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

/** The graph task of the first member: its molecules (checked against the run's checksum), split and a trainer to score with. */
export async function graphSoupTask(rt: Runtime, first: SoupRun): Promise<SoupTask> {
  const cfg = first.run.config as unknown as GraphRunConfig & { select_by?: string; oversample?: string };
  await checkInputs(cfg.inputs, join(first.dir, 'config.json'), 'graft soup');
  const ds = await loadMoleculeCsv(cfg.data, {
    targets: cfg.targets,
    task: cfg.type,
    ...(cfg.smiles ? { smiles: cfg.smiles } : {}),
  });
  const { train, val, test } = moleculeSplit(ds, { split: cfg.split, hybrid: cfg.hybrid, config: cfg });
  const T = ds.targets.length;
  const yVal = stackTargets(val, T),
    yTest = stackTargets(test, T);
  const auc = cfg.type === 'multilabel' && (cfg.select_by ?? 'auc') === 'auc';
  const trainer = graphRunTrainer(rt, first.run.model.checkpoint, first.run.checkpointFile, T);
  const using = (w: Weights): GraphTrainer => {
    loadWeights(trainer.master.params(), w, 'soup');
    return trainer;
  };
  const valScore = async (w: Weights): Promise<number> =>
    auc ? meanRocAuc(yVal, await moleculeOutputs(using(w), cfg.type, val), T) : -(await using(w).evaluate(val));
  return {
    scoreName: auc ? 'val_roc_auc' : 'minus_val_loss',
    valScore,
    async testMetrics(w) {
      const { metrics } = await moleculeReport(using(w), ds, cfg.type, val, test);
      return metrics;
    },
    async ensembleMetrics(ws): Promise<Record<string, number>> {
      const pv = new Float32Array(val.length * T),
        pt = new Float32Array(test.length * T);
      for (const w of ws) {
        const v = await moleculeOutputs(using(w), cfg.type, val),
          t = await moleculeOutputs(trainer, cfg.type, test);
        for (let i = 0; i < pv.length; i++) pv[i]! += v[i]! / ws.length;
        for (let i = 0; i < pt.length; i++) pt[i]! += t[i]! / ws.length;
      }
      if (cfg.type !== 'multilabel') {
        let se = 0,
          n = 0;
        for (let i = 0; i < pt.length; i++)
          if (!Number.isNaN(yTest[i]!)) {
            se += (pt[i]! - yTest[i]!) ** 2;
            n++;
          }
        return { test_rmse: Math.sqrt(se / Math.max(1, n)) };
      }
      const th = chooseThresholds(yVal, pv, T);
      const rt2 = multilabelReport(yTest, pt, ds.targets, th);
      return {
        val_roc_auc: meanRocAuc(yVal, pv, T),
        test_roc_auc: rt2.roc_auc,
        test_pr_auc: rt2.pr_auc,
        test_f1_weighted: rt2.f1.weighted,
      };
    },
    async timeTest(ws) {
      const t0 = performance.now();
      for (const w of ws) await moleculeOutputs(using(w), cfg.type, test);
      return performance.now() - t0;
    },
    async retrain(member, start, mask) {
      const mc = member.run.config as unknown as GraphRunConfig & { oversample?: string };
      if ((mc.oversample ?? 'none') !== 'none')
        throw new GraftError(
          `${member.dir}: trained with oversampling (${mc.oversample}); a sparse soup retrains members without it, so it would not be the member's recipe`,
        );
      // The member's own trainer config (learning rate, dropout, epochs, train seed), from its checkpoint.
      const cp = member.run.model.checkpoint;
      const t = graphRunTrainer(rt, cp, member.run.checkpointFile, T);
      try {
        const names = t.master.params().map((p) => p.name);
        loadWeights(t.master.params(), start, `${member.dir} (the pruned soup)`);
        t.sync = maskingSync(mask, names);
        const pick = auc ? (p: Float32Array): number => meanRocAuc(yVal, p.map(sigmoid), T) : undefined;
        await t.fit(train, val, { restoreBest: true, ...(pick ? { valScore: pick } : {}) });
        const weights = new Map(t.master.params().map((p) => [p.name, (p.value.data() as Float32Array).slice()]));
        return { weights, score: await valScore(weights) };
      } finally {
        t.dispose();
      }
    },
    async configFor(w) {
      if (cfg.type !== 'multilabel') return {};
      const th = chooseThresholds(yVal, await moleculeOutputs(using(w), cfg.type, val), T);
      return { thresholds: Object.fromEntries(ds.targets.map((name, j) => [name, th[j]!])) };
    },
    close() {
      trainer.dispose();
    },
  };
}
