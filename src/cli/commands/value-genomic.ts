import { GraftError } from '../../core/errors.js';
import { Rng } from '../../core/random.js';
import { fitKernelReml, kernelBasis, trainBlock } from '../../genomics/kernel-reml.js';
import { prepareStudy } from '../../genomics/study-data.js';
import { Runtime } from '../../runtime/runtime.js';
import { kernelRidgeCv, KernelRidgeLearner } from '../../valuation/kernel-ridge.js';
import { knnRegressionScore, knnShapleyOf } from '../../valuation/knn-shapley.js';
import { studyOf } from './explain-genomic.js';
import { lowValueAuc, removalCurves, tmcRun, type ValueArgs, type ValueResult } from './value-common.js';

// `graft value` on a `graft gp` run: Data Shapley values of the phenotyped lines for one trait.
// The learner is GBLUP on the run's relationship matrix with its variance ratio fixed at the
// REML estimate from every line (KernelRidgeLearner): refitting REML for each of the
// millions of subsets TMC-Shapley scores would cost O(n³) each. Its score is predictive
// ability (Pearson's r), every line scored (leave-one-out for the members). KNN-Shapley uses
// the distance the relationship matrix implies, d² = K_ii + K_jj − 2K_ij, and the
// per-neighbour regression score of knnRegressionScore. A corrupted phenotype (a record
// mix-up: --flip shuffles the phenotypes of that fraction of lines among them) should get a
// low value.

export async function valueGenomicRun(a: ValueArgs): Promise<ValueResult> {
  const { inputs } = await studyOf(a.run, false);
  const rt = await Runtime.create({ threads: 1 });
  let data: Awaited<ReturnType<typeof prepareStudy>>['data'];
  try {
    ({ data } = await prepareStudy(rt, inputs, () => {}));
  } finally {
    await rt.close();
  }
  const name = a.target ?? data.traits[0]!;
  const t = data.traits.indexOf(name);
  if (t < 0) throw new GraftError(`--target ${name}: not a trait of this run (its traits: ${data.traits.join(', ')})`);
  const yAll = data.y[t]!,
    rows: number[] = [];
  for (let i = 0; i < data.n; i++) if (Number.isFinite(yAll[i]!)) rows.push(i);
  const n = rows.length;
  if (n < 10) throw new GraftError(`${a.run}: trait ${name} has ${n} phenotyped lines; graft value needs at least 10`);
  if (a.k >= n) throw new GraftError(`--k ${a.k} must be less than the number of phenotyped lines (${n})`);
  const K = trainBlock(data.grm, data.n, Int32Array.from(rows));
  const truth = Float64Array.from(rows, (i) => yAll[i]!),
    y = Float64Array.from(truth),
    corrupted = new Array<boolean>(n).fill(false),
    rng = new Rng(a.seed);
  if (a.flip > 0) {
    // A record mix-up: the chosen lines' phenotypes shuffled among them, each moved one place
    // along a random order (a derangement: no line keeps its own).
    const chosen = rng.shuffle(Array.from({ length: n }, (_, i) => i)).slice(0, Math.max(2, Math.round(a.flip * n)));
    chosen.forEach((i, c) => {
      y[i] = truth[chosen[(c + 1) % chosen.length]!]!;
      corrupted[i] = true;
    });
    a.log(`shuffled the phenotypes of ${chosen.length} of ${n} lines among them (seed ${a.seed})`);
  }
  const fit = fitKernelReml(kernelBasis(Float64Array.from(K), n), y);
  const lambda = fit.delta;
  a.log(
    `${a.method === 'knn' ? 'KNN-Shapley' : 'TMC-Shapley'} of ${n} lines for ${name}: GBLUP λ = σ²e/σ²g = ${lambda.toPrecision(4)} (h² ${fit.h2.toFixed(3)})`,
  );
  let values: Float64Array,
    se: Float64Array | null = null,
    tmc: Record<string, unknown> = {};
  if (a.method === 'knn') {
    values = knnShapleyOf(
      {
        train: n,
        test: 'self',
        distance: (i, q) => K[i * n + i]! + K[q * n + q]! - 2 * K[i * n + q]!,
        score: knnRegressionScore(y),
      },
      a.k,
    );
  } else {
    ({ values, se, tmc } = tmcRun(new KernelRidgeLearner(K, n, y, lambda), a, 'full_r'));
  }
  const auc = a.flip > 0 ? lowValueAuc(values, corrupted) : null;
  if (auc !== null) a.log(`ROC-AUC of low values flagging the shuffled phenotypes: ${auc.toFixed(3)}`);
  const folds = Int32Array.from(rng.shuffle(Array.from({ length: n }, (_, i) => i % 5)));
  const c = removalCurves(values, rng, (removed) => kernelRidgeCv(K, n, y, truth, lambda, folds, removed));
  const curves = {
    ...c,
    metric: 'predictive ability r',
    how: `5-fold cross-validated GBLUP (λ fixed at ${lambda.toPrecision(4)}), Pearson's r of every line's prediction with its phenotype, the removed lines left out of the training folds only${a.flip > 0 ? '; scored against the true (unshuffled) phenotypes' : ''}.`,
  };
  const learner =
    a.method === 'knn'
      ? `a ${a.k}-nearest-neighbour regression on the relationship matrix's distance (d² = K_ii + K_jj − 2K_ij), utility the covariance of its predictions with the phenotypes, per neighbour (y_i − ȳ)(y_q − ȳ)/σ²`
      : `GBLUP on the run's relationship matrix, λ = σ²e/σ²g fixed at its REML estimate (${lambda.toPrecision(4)}), scored by predictive ability r over every line (leave-one-out for the members)`;
  return {
    ids: rows.map((i) => data.ids[i]!),
    values,
    se,
    extra: [
      { name: name.replace(/[",\n]/g, '_'), cells: Array.from(y, String) },
      ...(a.flip > 0 ? [{ name: 'corrupted', cells: corrupted.map((f) => (f ? '1' : '0')) }] : []),
    ],
    auc,
    curves,
    summary: [
      `${n} phenotyped lines, trait ${name}: ${learner}; each line scored against the others.`,
      ...(auc !== null
        ? [
            '',
            `Planted noise: the phenotypes of ${corrupted.filter(Boolean).length} lines shuffled among them (--flip ${a.flip}, seed ${a.seed}); ROC-AUC of low values flagging them: **${auc.toFixed(3)}**.`,
          ]
        : []),
    ],
    doc: {
      kind: 'genomic',
      trait: name,
      k: a.k,
      samples: n,
      learner,
      lambda,
      h2: fit.h2,
      flip:
        a.flip > 0
          ? { fraction: a.flip, seed: a.seed, corrupted: corrupted.filter(Boolean).length, roc_auc: auc }
          : null,
      ...(a.method === 'tmc' ? { tmc } : {}),
    },
    line: {
      kind: 'genomic',
      trait: name,
      samples: n,
      ...(auc !== null ? { corrupted_roc_auc: +auc.toFixed(4) } : {}),
      ...(a.method === 'tmc' ? { permutations: tmc['permutations'], converged: tmc['converged'] } : {}),
    },
  };
}
