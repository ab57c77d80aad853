import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { choice, choices, intAtLeast, joinNegativeValues, num } from '../args.js';
import { claimRunFolder } from '../run-folder.js';
import { ensureDir } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { recordInputs } from '../../core/input-files.js';
import { AUGMENTATIONS } from '../../microbiome/augment.js';
import { BNN_DEFAULTS } from '../../microbiome/bnn.js';
import { describeMicrobiomeMatch, loadMicrobiome } from '../../microbiome/data.js';
import { runGrid } from '../../microbiome/grid.js';
import { fitKeptModel, saveKeptModel } from '../../microbiome/kept-model.js';
import {
  KEEPABLE_MODELS,
  MB_DEFAULT_MODELS,
  MB_MODELS,
  MB_MODEL_DEFAULTS,
  type MbModel,
  NEEDS_VALIDATION,
} from '../../microbiome/models.js';
import { NORMALIZATIONS } from '../../microbiome/normalize.js';
import { incompatibility } from '../../microbiome/pipeline.js';
import { closeForestPool } from '../../microbiome/random-forest.js';
import { MB_DEFAULTS, type MbStudyOptions, runMbStudy } from '../../microbiome/study.js';
import { ZERO_REPLACEMENTS } from '../../microbiome/zeros.js';
import { Runtime } from '../../runtime/runtime.js';

export const MB_USAGE = `  graft mb --counts FILE --meta FILE (--label COL | --target COL) [--group COL] [--subset COL=VALUE]
           [--transpose] [--min-prevalence 0.1] [--normalize tss|css|com|rarefy|clr|mclr|none]
           [--zeros none|pseudo|multrepl|gbm] [--augment none|balanced] [--models rf,mlp,gcn,logistic[,bnn]]
           [--k 5] [--repeats 3] [--seed 1] [--graph aitchison|braycurtis] [--knn 10]
           [--trees 300] [--ensemble 5] [--epochs 200] [--posterior-samples 30] [--grid]
           [--keep-model [rf|mlp|bnn|gcn|logistic]] [--threads N] [--out DIR] [--overwrite] [--quiet]`;

/** `graft mb`: microbiome counts to a phenotype, every model under one protocol; writes a run folder. */
export async function mb(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: optionalKeepModel(joinNegativeValues(argv)),
    strict: true,
    options: {
      counts: { type: 'string' },
      meta: { type: 'string' },
      label: { type: 'string' },
      target: { type: 'string' },
      group: { type: 'string' },
      subset: { type: 'string' },
      transpose: { type: 'boolean' },
      'min-prevalence': { type: 'string' },
      normalize: { type: 'string' },
      zeros: { type: 'string' },
      augment: { type: 'string' },
      models: { type: 'string' },
      k: { type: 'string' },
      repeats: { type: 'string' },
      seed: { type: 'string' },
      graph: { type: 'string' },
      knn: { type: 'string' },
      trees: { type: 'string' },
      ensemble: { type: 'string' },
      epochs: { type: 'string' },
      'posterior-samples': { type: 'string' },
      grid: { type: 'boolean' },
      'keep-model': { type: 'string' },
      threads: { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  if (!v.counts || !v.meta) throw new GraftError('--counts FILE and --meta FILE are required');
  if ((v.label === undefined) === (v.target === undefined))
    throw new GraftError('give --label COL (classes) or --target COL (a number), one of the two');
  let subset: { column: string; value: string } | undefined;
  if (v.subset !== undefined) {
    const at = v.subset.indexOf('=');
    if (at <= 0) throw new GraftError(`--subset must be COLUMN=VALUE, got ${JSON.stringify(v.subset)}`);
    subset = { column: v.subset.slice(0, at), value: v.subset.slice(at + 1) };
  }
  // ML Repo's protocol keeps taxa present in at least 10% of samples; it also gives GBM the two samples per taxon it needs.
  const minPrevalence = num(v['min-prevalence'], '--min-prevalence') ?? 0.1;
  if (!(minPrevalence >= 0 && minPrevalence <= 1))
    throw new GraftError(`--min-prevalence must be in [0, 1], got ${minPrevalence}`);
  const threads = num(v.threads, '--threads', true) ?? availableParallelism();
  if (threads < 1) throw new GraftError(`--threads must be at least 1, got ${threads}`);
  const o: MbStudyOptions = {
    normalize: choice(v.normalize, '--normalize', NORMALIZATIONS, MB_DEFAULTS.normalize),
    zeros: choice(v.zeros, '--zeros', ZERO_REPLACEMENTS, MB_DEFAULTS.zeros),
    augment: choice(v.augment, '--augment', AUGMENTATIONS, MB_DEFAULTS.augment),
    models: choices(v.models ?? MB_DEFAULT_MODELS.join(','), '--models', MB_MODELS),
    k: intAtLeast(v.k, '--k', MB_DEFAULTS.k, 2),
    repeats: intAtLeast(v.repeats, '--repeats', MB_DEFAULTS.repeats, 1),
    seed: num(v.seed, '--seed', true) ?? MB_DEFAULTS.seed,
    graph: choice(v.graph, '--graph', ['aitchison', 'braycurtis'], MB_DEFAULTS.graph),
    knn: intAtLeast(v.knn, '--knn', MB_DEFAULTS.knn, 1),
    valFraction: MB_DEFAULTS.valFraction,
    settings: {
      ...MB_MODEL_DEFAULTS,
      threads,
      forest: {
        ...MB_MODEL_DEFAULTS.forest,
        trees: intAtLeast(v.trees, '--trees', MB_MODEL_DEFAULTS.forest.trees ?? 300, 1),
      },
      ensemble: intAtLeast(v.ensemble, '--ensemble', MB_MODEL_DEFAULTS.ensemble, 1),
      epochs: intAtLeast(v.epochs, '--epochs', MB_MODEL_DEFAULTS.epochs, 1),
      bnn: { samples: intAtLeast(v['posterior-samples'], '--posterior-samples', BNN_DEFAULTS.samples, 2) },
    },
  };
  if (o.models.length === 0) throw new GraftError('--models lists no model');
  const keep = v['keep-model'];
  if (keep !== undefined) {
    if (v.grid)
      throw new GraftError(
        '--keep-model keeps one model of one preprocessing: run graft mb without --grid, with the choices the grid picked',
      );
    if (keep !== '' && !KEEPABLE_MODELS.includes(keep as MbModel))
      throw new GraftError(
        `--keep-model must be one of ${KEEPABLE_MODELS.join(', ')} (or nothing: the best of the run), got ${JSON.stringify(keep)}`,
      );
    if (keep !== '' && !o.models.includes(keep as MbModel))
      throw new GraftError(
        `--keep-model ${keep}: ${keep} is not among --models (${o.models.join(',')}); the kept model is one the run measured`,
      );
  }
  const out = resolve(v.out ?? join('runs', `mb-${(v.label ?? v.target)!}${v.grid ? '-grid' : ''}`));
  const log = v.quiet ? () => {} : (s: string) => console.error(`graft mb: ${s}`);
  const data = loadMicrobiome({
    counts: v.counts,
    meta: v.meta,
    ...(v.label !== undefined ? { label: v.label } : { target: v.target! }),
    ...(v.group ? { group: v.group } : {}),
    transpose: v.transpose === true,
    minPrevalence,
    ...(subset ? { subset } : {}),
  });
  log(describeMicrobiomeMatch(data));
  // The GCN's graph links each sample to its K nearest others: K must leave someone out.
  if ((o.models.includes('gcn') || v.knn !== undefined) && o.knn >= data.n)
    throw new GraftError(
      `--knn ${o.knn} must be less than the number of samples (${data.n}): each sample's neighbours are the K nearest of the other ${data.n - 1}`,
    );
  if (!v.grid) {
    const why = incompatibility(o, data.integerCounts);
    if (why)
      throw new GraftError(
        `--normalize ${o.normalize} with --zeros ${o.zeros}: ${why}${data.firstFraction && o.normalize === 'rarefy' ? ` (${data.firstFraction})` : ''}`,
      );
  }
  const release = claimRunFolder(out, { command: 'graft mb', overwrite: v.overwrite === true });
  // One engine thread: the forest's trees take the other cores through their own pool.
  const rt = await Runtime.create({ threads: 1 }).catch((err: unknown) => {
    release();
    throw err;
  });
  try {
    const input = {
      counts: resolve(v.counts),
      meta: resolve(v.meta),
      label: v.label ?? null,
      target: v.target ?? null,
      group: v.group ?? null,
      subset: v.subset ?? null,
      min_prevalence: minPrevalence,
    };
    if (v.grid) {
      const g = await runGrid(rt, data, o, (done, total, c, r) =>
        log(
          `  [${done}/${total}] ${c.normalize} × ${c.zeros} × ${c.augment}: ${r ? `${(r.ms / 1000).toFixed(1)} s` : 'skipped'}`,
        ),
      );
      const { writeGridReport } = await import('../reports/mb-report.js'); // loads vega only to draw
      writeGridReport(out, data, o, g, input);
      console.log(
        JSON.stringify({
          grid: g.rows.length,
          skipped: g.skipped.length,
          first_split: g.tree.choice ?? null,
          seconds: +(g.ms / 1000).toFixed(1),
          out,
        }),
      );
      return;
    }
    const r = await runMbStudy(rt, data, o, (model, rep, fold) => log(`  ${model} repeat ${rep} fold ${fold}`));
    const extra: Record<string, unknown> = { inputs: await recordInputs({ counts: v.counts, meta: v.meta }) };
    if (keep !== undefined) {
      const metric = r.task === 'classification' ? 'roc_auc' : 'r';
      const score = (m: MbModel): number => {
        const s = r.summary[m]![metric]!.mean;
        return Number.isFinite(s) ? s : -Infinity;
      };
      // Best by the metric, the first listed on ties.
      const model = keep !== '' ? (keep as MbModel) : o.models.reduce((a, b) => (score(b) > score(a) ? b : a));
      log(
        `keeping ${model}: fitted on all ${data.n} samples${NEEDS_VALIDATION.has(model) ? ` (${Math.round(o.valFraction * 100)}% of them, by group, choose its epoch as in every fold)` : ''}`,
      );
      const kept = await fitKeptModel(rt, data, model, {
        normalize: o.normalize,
        zeros: o.zeros,
        augment: o.augment,
        seed: o.seed,
        minPrevalence,
        settings: o.settings,
        graph: o.graph,
        knn: o.knn,
        valFraction: o.valFraction,
      });
      const file = join('model', 'model.safetensors');
      ensureDir(join(out, 'model'));
      saveKeptModel(join(out, file), kept);
      extra['kept_model'] = {
        model,
        file,
        chosen_by: keep === '' ? `best ${metric}` : 'name',
        cv: Object.fromEntries(Object.entries(r.summary[model]!).map(([k, s]) => [k, s.mean])),
        samples: data.n,
        taxa: data.p,
      };
    }
    const { writeMbReport } = await import('../reports/mb-report.js'); // loads vega only to draw
    writeMbReport(out, data, o, r, input, extra);
    const key = r.task === 'classification' ? ['roc_auc', 'f1_weighted'] : ['r', 'rmse'];
    console.log(
      JSON.stringify({
        task: r.task,
        ...Object.fromEntries(
          Object.entries(r.summary).map(([m, s]) => [
            m,
            Object.fromEntries(key.map((k) => [k, +s[k]!.mean.toFixed(4)])),
          ]),
        ),
        out,
      }),
    );
  } finally {
    await closeForestPool();
    await rt.close();
    release();
  }
}

/**
 * `--keep-model` with no name (at the end, or before another flag) as `--keep-model=`: its
 * name is optional, which parseArgs cannot say for a string option.
 */
function optionalKeepModel(argv: string[]): string[] {
  return argv.map((a, i) =>
    a === '--keep-model' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--')) ? '--keep-model=' : a,
  );
}
