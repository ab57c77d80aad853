import { join } from 'node:path';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import type { GraphRunConfig } from '../../chem/graph-run.js';
import { fingerprintOf, SIMILARITY_BYTES } from '../../chem/similarity.js';
import { moleculeSplit } from '../../chem/train-molecules.js';
import { GraftError } from '../../core/errors.js';
import { checkInputs } from '../../core/input-files.js';
import { Rng } from '../../core/random.js';
import { rocAuc } from '../../train/multilabel-metrics.js';
import { pearson } from '../../valuation/kernel-ridge.js';
import { KnnGameLearner, knnRegressionScore, knnShapleyOf } from '../../valuation/knn-shapley.js';
import { readRunJson } from '../run-kind.js';
import { lowValueAuc, removalCurves, tmcRun, type ValueArgs, type ValueResult } from './value-common.js';

// `graft value` on a graph run (graft train --task graph): Data Shapley values of the training
// molecules for one label, as in Ghorbani & Zou: valued against the run's validation split,
// and the removal curves scored on its test split. Refitting the run's GNN for every subset
// TMC-Shapley scores is out of reach on a CPU, so the learner is a fast surrogate: a K-NN
// classifier on the molecules' Morgan fingerprints (radius 2, 2048 bits) with Tanimoto
// distance 1 − |a∧b|/|a∨b|, the chemist's similarity. A regression run is valued by KNN-Shapley
// with the per-neighbour regression score (knnRegressionScore); TMC needs a classification.

const BITS = Uint8Array.from({ length: 256 }, (_, b) => {
  let c = 0;
  for (let x = b; x; x &= x - 1) c++;
  return c;
});

/** Tanimoto distances [rows a, rows b] of packed fingerprints (Float32: a Tox21 split's is ~20 MB). */
function tanimotoDistances(a: Uint8Array[], b: Uint8Array[]): Float32Array {
  const W = SIMILARITY_BYTES / 4,
    words = (fs: Uint8Array[]): Uint32Array => {
      const out = new Uint32Array(fs.length * W);
      fs.forEach((f, i) => {
        out.set(new Uint32Array(Uint8Array.from(f).buffer), i * W);
      });
      return out;
    },
    pop = (w: number): number => BITS[w & 255]! + BITS[(w >>> 8) & 255]! + BITS[(w >>> 16) & 255]! + BITS[w >>> 24]!;
  const wa = words(a),
    wb = words(b),
    ca = Float64Array.from(a, (_, i) => {
      let c = 0;
      for (let k = 0; k < W; k++) c += pop(wa[i * W + k]!);
      return c;
    }),
    cb = Float64Array.from(b, (_, i) => {
      let c = 0;
      for (let k = 0; k < W; k++) c += pop(wb[i * W + k]!);
      return c;
    });
  const d = new Float32Array(a.length * b.length);
  for (let i = 0; i < a.length; i++)
    for (let q = 0; q < b.length; q++) {
      let both = 0;
      for (let k = 0; k < W; k++) both += pop(wa[i * W + k]! & wb[q * W + k]!);
      const either = ca[i]! + cb[q]! - both;
      d[i * b.length + q] = either === 0 ? 0 : 1 - both / either;
    }
  return d;
}

export async function valueGraphRun(a: ValueArgs): Promise<ValueResult> {
  const cfgFile = join(a.run, 'config.json');
  const cfg = readRunJson<GraphRunConfig>(cfgFile);
  await checkInputs(cfg.inputs, cfgFile, 'graft value');
  const ds = await loadMoleculeCsv(cfg.data, {
    targets: cfg.targets,
    task: cfg.type,
    ...(cfg.smiles ? { smiles: cfg.smiles } : {}),
  });
  const { split } = moleculeSplit(ds, { split: cfg.split, hybrid: cfg.hybrid, config: { seed: cfg.seed } });
  const name = a.target ?? ds.targets[0]!;
  const t = ds.targets.indexOf(name);
  if (t < 0) throw new GraftError(`--target ${name}: not a label of this run (its labels: ${ds.targets.join(', ')})`);
  const T = ds.targets.length,
    cls = cfg.type === 'multilabel';
  const labelled = (rows: readonly number[]): number[] => rows.filter((i) => Number.isFinite(ds.y[i * T + t]!));
  const tr = labelled(split.train),
    va = labelled(split.val),
    te = labelled(split.test);
  if (tr.length <= a.k || va.length === 0 || te.length === 0)
    throw new GraftError(
      `${a.run}: label ${name} has ${tr.length} training, ${va.length} validation and ${te.length} test molecules; graft value needs more than --k ${a.k} training molecules and some of each`,
    );
  if (!cls && a.method === 'tmc')
    throw new GraftError('--method tmc values a classification; this graph run is a regression: use --method knn');
  const fps = async (rows: number[]): Promise<Uint8Array[]> => {
    const out: Uint8Array[] = [];
    for (const i of rows)
      out.push((await fingerprintOf(ds.graphs[i]!, ds.smiles[i]!)) ?? new Uint8Array(SIMILARITY_BYTES));
    return out;
  };
  const fTr = await fps(tr);
  const dVal = tanimotoDistances(fTr, await fps(va)),
    dTest = tanimotoDistances(fTr, await fps(te));
  const n = tr.length,
    nv = va.length,
    nt = te.length;
  const label = (i: number): number => ds.y[i * T + t]!;
  const truth = Float64Array.from(tr, label),
    y = Float64Array.from(truth),
    flipped = new Array<boolean>(n).fill(false),
    rng = new Rng(a.seed);
  if (a.flip > 0) {
    const chosen = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.max(2, Math.round(a.flip * n)));
    if (cls) for (const i of chosen) y[i] = 1 - truth[i]!;
    else
      chosen.forEach((i, c) => {
        y[i] = truth[chosen[(c + 1) % chosen.length]!]!;
      });
    for (const i of chosen) flipped[i] = true;
    a.log(
      `${cls ? 'flipped the labels' : 'shuffled the targets'} of ${chosen.length} of ${n} training molecules (seed ${a.seed})`,
    );
  }
  const yVal = Float64Array.from(va, label),
    yTest = Float64Array.from(te, label);
  a.log(
    `${a.method === 'knn' ? 'KNN-Shapley' : 'TMC-Shapley'} of ${n} training molecules for ${name} against ${nv} validation molecules, K = ${a.k}`,
  );
  const distance = (i: number, q: number): number => dVal[i * nv + q]!;
  let values: Float64Array,
    se: Float64Array | null = null,
    tmc: Record<string, unknown> = {};
  if (a.method === 'knn') {
    const score = cls ? (i: number, q: number): number => (y[i] === yVal[q] ? 1 : 0) : knnRegressionScore(y, yVal);
    values = knnShapleyOf({ train: n, test: nv, distance, score }, a.k);
  } else {
    const learner = new KnnGameLearner(
      { train: n, test: nv, yTrain: Int32Array.from(y), yTest: Int32Array.from(yVal), distance },
      a.k,
      2,
    );
    ({ values, se, tmc } = tmcRun(learner, a, 'full_accuracy'));
  }
  const auc = a.flip > 0 ? lowValueAuc(values, flipped) : null;
  if (auc !== null) a.log(`ROC-AUC of low values flagging the corrupted labels: ${auc.toFixed(3)}`);
  // Removal curves on the test split: the K-NN's score (the share of positive neighbours, or
  // their mean target) from the training molecules kept, against the true test labels.
  const near = Array.from({ length: nt }, (_, q) =>
    Int32Array.from({ length: n }, (_, i) => i).sort((x, z) => dTest[x * nt + q]! - dTest[z * nt + q]! || x - z),
  );
  const score = (removed: ReadonlySet<number>): number => {
    const s = new Float64Array(nt);
    for (let q = 0; q < nt; q++) {
      let got = 0,
        sum = 0;
      for (const i of near[q]!) {
        if (removed.has(i)) continue;
        sum += y[i]!;
        if (++got === a.k) break;
      }
      s[q] = got ? sum / got : 0;
    }
    return cls ? rocAuc(yTest, s) : pearson(s, yTest);
  };
  const c = removalCurves(values, rng, score);
  const metric = cls ? 'ROC-AUC' : 'r';
  const learner = `a ${a.k}-nearest-neighbour ${cls ? 'classifier' : 'regression'} on Morgan fingerprints (radius 2, 2048 bits) with Tanimoto distance`;
  return {
    ids: tr.map((i) => String(ds.rows[i]! + 1)),
    values,
    se,
    extra: [
      { name: 'smiles', cells: tr.map((i) => ds.smiles[i]!) },
      { name: name.replace(/[",\n]/g, '_'), cells: Array.from(y, String) },
      ...(a.flip > 0 ? [{ name: cls ? 'flipped' : 'corrupted', cells: flipped.map((f) => (f ? '1' : '0')) }] : []),
    ],
    auc,
    curves: {
      ...c,
      metric,
      how: `the test split's ${nt} molecules labelled for ${name}, scored by ${cls ? 'ROC-AUC of the share of positive neighbours' : "Pearson's r of the neighbours' mean target"} among the ${a.k} nearest kept training molecules${a.flip > 0 ? ' (whose labels include the corrupted ones)' : ''}.`,
    },
    summary: [
      `${n} training molecules of the run labelled for ${name} (id: the data row), valued against its ${nv} validation molecules: ${learner}${cls ? `, utility ${a.method === 'knn' ? "Jia et al.'s (the share of the K nearest that carry the validation molecule's label)" : 'validation accuracy'}` : ', utility the covariance of its predictions with the validation targets, per neighbour (y_i − ȳ)(y_q − ȳ)/σ²'}. The run's GNN is not refitted: this is a surrogate on the same molecules.`,
      ...(auc !== null
        ? [
            '',
            `Planted noise: ${flipped.filter(Boolean).length} training ${cls ? 'labels flipped' : 'targets shuffled'} (--flip ${a.flip}, seed ${a.seed}); ROC-AUC of low values flagging them: **${auc.toFixed(3)}**.`,
          ]
        : []),
    ],
    doc: {
      kind: 'graph',
      label: name,
      k: a.k,
      samples: n,
      validation: nv,
      test: nt,
      learner,
      flip:
        a.flip > 0 ? { fraction: a.flip, seed: a.seed, corrupted: flipped.filter(Boolean).length, roc_auc: auc } : null,
      ...(a.method === 'tmc' ? { tmc } : {}),
    },
    line: {
      kind: 'graph',
      label: name,
      samples: n,
      ...(auc !== null ? { corrupted_roc_auc: +auc.toFixed(4) } : {}),
      ...(a.method === 'tmc' ? { permutations: tmc['permutations'], converged: tmc['converged'] } : {}),
    },
  };
}
