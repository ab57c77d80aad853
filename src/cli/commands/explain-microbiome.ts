import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { intAtLeast, num } from '../args.js';
import { claimRunFolder } from '../run-folder.js';
import { readRunJson } from '../run-kind.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { type RecordedInputs, checkInputs } from '../../core/input-files.js';
import { Rng } from '../../core/random.js';
import { kernelShap, kernelShapAsync, kernelShapMinBudget } from '../../explain/kernelshap.js';
import { gcnJoinedScorer, mlpBatchScorer } from '../../explain/mb-networks.js';
import { treeShap } from '../../explain/treeshap.js';
import { type MicrobiomeData, loadMicrobiome } from '../../microbiome/data.js';
import { type KeptMbModel, loadKeptModel, newSampleNeighbours } from '../../microbiome/kept-model.js';
import { scoreMbModel, scoreShallowModel } from '../../microbiome/models.js';
import { applyPreprocessing } from '../../microbiome/pipeline.js';
import { Runtime } from '../../runtime/runtime.js';

// `graft explain` on a `graft mb` run: SHAP values of the model the run kept (--keep-model),
// for the run's own samples, over the features the model reads (each taxon after the run's
// preprocessing). TreeSHAP is exact for the forest; KernelSHAP takes any kept model.

export const EXPLAIN_MICROBIOME_USAGE = `  graft explain --run MB_RUN --method treeshap|kernelshap [--target CLASS (default: the first)] [--count N] [--background 20]
                [--budget 512] [--seed 1] [--top 20] [--overwrite] [--quiet]
                (an mb run kept with graft mb --keep-model; writes explain/shap.csv, shap-summary.svg, summary.md;
                 a kept bnn is explained by its posterior mean, the mean over its posterior samples)`;

/** A kept mb model with the run's samples, preprocessed as the model reads them. */
export interface MbRunModel {
  kept: KeptMbModel;
  data: MicrobiomeData;
  /** The model's features [n, taxa]: the samples' counts after the kept preprocessing. */
  x: Float64Array;
  /** The run's results.json, for what else it recorded. */
  results: Record<string, unknown>;
}

/**
 * Reads an mb run's samples again from the recorded input files (refusing changed ones). The
 * table's orientation is not recorded: the one whose taxa are `taxa` (when given), else the
 * one that loads, is taken. `purpose` names the command for the messages.
 */
export async function loadMbRunData(
  dir: string,
  purpose: string,
  taxa?: readonly string[],
): Promise<{ data: MicrobiomeData; results: Record<string, unknown> }> {
  const resultsFile = join(dir, 'results.json');
  const results = readRunJson<Record<string, unknown>>(resultsFile);
  const input = results['input'] as Record<string, unknown> | undefined;
  if (!input || typeof input['counts'] !== 'string' || typeof input['meta'] !== 'string')
    throw new GraftError(`${resultsFile}: no input.counts and input.meta; ${purpose} reads the run's samples again`);
  await checkInputs(results['inputs'] as RecordedInputs | undefined, resultsFile, purpose);
  const sub = typeof input['subset'] === 'string' ? /^([^=]+)=(.*)$/.exec(input['subset']) : null;
  const load = (transpose: boolean): MicrobiomeData =>
    loadMicrobiome({
      counts: input['counts'] as string,
      meta: input['meta'] as string,
      transpose,
      ...(typeof input['label'] === 'string' ? { label: input['label'] } : { target: input['target'] as string }),
      ...(typeof input['group'] === 'string' ? { group: input['group'] } : {}),
      ...(typeof input['min_prevalence'] === 'number' ? { minPrevalence: input['min_prevalence'] } : {}),
      ...(sub ? { subset: { column: sub[1]!, value: sub[2]! } } : {}),
    });
  const same = (d: MicrobiomeData): boolean =>
    !taxa || (d.taxa.length === taxa.length && d.taxa.every((t, j) => t === taxa[j]));
  let data: MicrobiomeData | null = null;
  try {
    data = load(false);
  } catch {
    data = null;
  }
  if (!data || !same(data)) {
    let flipped: MicrobiomeData | null = null;
    try {
      flipped = load(true);
    } catch {
      flipped = null;
    }
    if (flipped && same(flipped)) data = flipped;
    else if (!data) data = load(false); // its error, one line
  }
  if (!same(data))
    throw new GraftError(
      `${input['counts']}: its taxa (after the run's prevalence filter) are not the kept model's ${taxa!.length}; ${purpose} would not be of the run's model`,
    );
  return { data, results };
}

/** Reads an mb run's kept model and its samples, checking the samples give the model's taxa in its order. */
export async function loadMbRunModel(dir: string, purpose: string): Promise<MbRunModel> {
  const resultsFile = join(dir, 'results.json');
  const kept = readRunJson<Record<string, unknown>>(resultsFile)['kept_model'] as { file?: unknown } | undefined;
  if (!kept || typeof kept.file !== 'string') {
    throw new GraftError(
      `${dir}: this microbiome run kept no model (no kept_model in ${resultsFile}); run graft mb again with --keep-model to keep one for ${purpose}`,
    );
  }
  const k = loadKeptModel(join(dir, kept.file));
  const { data, results } = await loadMbRunData(dir, purpose, k.taxa);
  const x = applyPreprocessing(k.preprocessing, data.counts, data.n, data.p);
  return { kept: k, data, x, results };
}

const concat = (parts: Float64Array[]): Float64Array => {
  const out = new Float64Array(parts.reduce((a, q) => a + q.length, 0));
  let at = 0;
  for (const q of parts) {
    out.set(q, at);
    at += q.length;
  }
  return out;
};

const csvCell = (s: string): string => (/[",\n]/.test(s) ? JSON.stringify(s) : s);

export async function explainMicrobiomeRun(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      run: { type: 'string' },
      method: { type: 'string' },
      target: { type: 'string' },
      count: { type: 'string' },
      background: { type: 'string' },
      budget: { type: 'string' },
      seed: { type: 'string' },
      top: { type: 'string' },
      overwrite: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  const run = resolve(v.run!);
  const method = v.method ?? 'treeshap';
  if (method !== 'treeshap' && method !== 'kernelshap')
    throw new GraftError(`--method for a microbiome run must be treeshap or kernelshap, got ${JSON.stringify(method)}`);
  const top = intAtLeast(v.top, '--top', 20, 1, 'taxon');
  const budget = intAtLeast(v.budget, '--budget', 512, 2, 'coalition');
  const backgroundRows = intAtLeast(v.background, '--background', 20, 1, 'sample');
  const seed = num(v.seed, '--seed', true) ?? 1;
  const log = v.quiet ? () => {} : (s: string) => console.error(`graft explain: ${s}`);
  const final = join(run, 'explain');
  if (existsSync(final) && !v.overwrite)
    throw new GraftError(`${final} already holds explanations: pass --overwrite to replace them`);
  const release = claimRunFolder(run, { command: 'graft explain', resume: true });
  const work = join(run, `.explain-${process.pid}`);
  try {
    const t0 = performance.now();
    const { kept: k, data: d, x } = await loadMbRunModel(run, 'graft explain');
    const p = d.p,
      cls = k.task === 'classification';
    let cls0 = 0;
    if (cls) {
      const name = v.target ?? k.classNames[0]!; // the first class in the run's order (natural order of the names)
      cls0 = k.classNames.indexOf(name);
      if (cls0 < 0) throw new GraftError(`--target ${name}: not a class of this run (${k.classNames.join(', ')})`);
    } else if (v.target !== undefined) throw new GraftError('--target names a class; this run is a regression');
    // Which samples: all of them, or --count of them spread evenly over the run's order.
    const n = v.count === undefined ? d.n : Math.min(d.n, intAtLeast(v.count, '--count', d.n, 1, 'sample'));
    const rows = Int32Array.from({ length: n }, (_, i) => Math.floor((i * d.n) / n));
    const xs = new Float64Array(n * p);
    rows.forEach((r, i) => {
      xs.set(x.subarray(r * p, r * p + p), i * p);
    });
    let values: Float64Array,
      base: Float64Array,
      prediction: Float64Array,
      outputs: number,
      extra: Record<string, unknown> = {},
      rowBase: Float64Array | null = null;
    if (method === 'treeshap') {
      if (k.model.model !== 'rf')
        throw new GraftError(
          `--method treeshap explains a random forest; this run kept ${k.model.model}: use --method kernelshap`,
        );
      log(`TreeSHAP of the forest (${k.model.forest.trees} trees) for ${n} samples × ${p} taxa`);
      ({ values, base, prediction, outputs } = treeShap(k.model.forest, Float32Array.from(xs), n));
    } else {
      const nb = Math.min(backgroundRows, d.n),
        rng = new Rng(seed),
        pick = rng
          .shuffle(Array.from({ length: d.n }, (_, i) => i))
          .slice(0, nb)
          .sort((a, b) => a - b);
      const background = new Float64Array(nb * p);
      pick.forEach((r, i) => {
        background.set(x.subarray(r * p, r * p + p), i * p);
      });
      const model = k.model;
      const net = model.model === 'mlp' || model.model === 'gcn' || model.model === 'bnn';
      if (budget < kernelShapMinBudget(p))
        throw new GraftError(
          `--budget ${budget}: KernelSHAP over ${p} taxa needs at least ${kernelShapMinBudget(p)} coalitions (two per taxon and one pair more)`,
        );
      log(
        `KernelSHAP of ${model.model} for ${n} samples × ${p} taxa: ${nb} background samples, ${budget} coalitions each${net ? ` (${budget * nb} network rows per sample)` : ''}`,
      );
      let s: Awaited<ReturnType<typeof kernelShapAsync>>;
      if (model.model === 'rf' || model.model === 'logistic') {
        const predict = (m: Float64Array, count: number): Float64Array =>
          scoreShallowModel(
            model,
            m,
            p,
            Int32Array.from({ length: count }, (_, i) => i),
          );
        s = kernelShap(predict, xs, n, p, { background, backgroundRows: nb, budget, seed });
      } else {
        const rt = await Runtime.create({});
        try {
          if (model.model === 'bnn') {
            // The posterior mean: the mean over the kept model's posterior samples, each drawn
            // from its fixed seed (the same draws for every row), so one deterministic function;
            // every row of a batch is scored on its own by each draw (bnnPredict).
            const scorer = (m: Float64Array, count: number): Promise<Float64Array> =>
              scoreMbModel(
                rt,
                model,
                m,
                p,
                Int32Array.from({ length: count }, (_, i) => i),
              );
            s = await kernelShapAsync(scorer, xs, n, p, { background, backgroundRows: nb, budget, seed });
          } else if (model.model === 'mlp')
            s = await kernelShapAsync(mlpBatchScorer(rt, model), xs, n, p, {
              background,
              backgroundRows: nb,
              budget,
              seed,
            });
          else {
            // Each sample joins the training graph by its own links (from its raw counts), held
            // fixed while its features are masked: one KernelSHAP per sample.
            const counts = new Float64Array(n * p);
            rows.forEach((r, i) => {
              counts.set(d.counts.subarray(r * p, r * p + p), i * p);
            });
            const links = newSampleNeighbours(k, counts, n);
            const parts: Awaited<ReturnType<typeof kernelShapAsync>>[] = [];
            for (let i = 0; i < n; i++) {
              parts.push(
                await kernelShapAsync(
                  gcnJoinedScorer(rt, model, links[i]!),
                  xs.subarray(i * p, i * p + p).slice(),
                  1,
                  p,
                  {
                    background,
                    backgroundRows: nb,
                    budget,
                    seed,
                  },
                ),
              );
              if ((i + 1) % 10 === 0) log(`${i + 1} of ${n} samples explained`);
            }
            // The background joins the graph by each sample's links too: a base value per sample.
            rowBase = concat(parts.map((q) => q.base));
            s = {
              ...parts[0]!,
              n,
              values: concat(parts.map((q) => q.values)),
              prediction: concat(parts.map((q) => q.prediction)),
            };
          }
        } finally {
          await rt.close();
        }
      }
      ({ values, base, prediction, outputs } = s);
      extra = { background: pick.map((r) => d.ids[r]!), budget, coalitions: s.coalitions, exact: s.exact, seed };
    }
    const c = cls ? cls0 : 0;
    const baseOf = (i: number): number => (rowBase ? rowBase[i * outputs + c]! : base[c]!);
    const phi = (i: number, j: number): number => values[(i * outputs + c) * p + j]!;
    let worst = 0;
    for (let i = 0; i < n; i++) {
      let sum = baseOf(i);
      for (let j = 0; j < p; j++) sum += phi(i, j);
      worst = Math.max(worst, Math.abs(sum - prediction[i * outputs + c]!));
    }
    const meanAbs = Float64Array.from({ length: p }, (_, j) => {
      let a = 0;
      for (let i = 0; i < n; i++) a += Math.abs(phi(i, j));
      return a / Math.max(1, n);
    });
    const order = [...meanAbs.keys()].sort((a, b) => meanAbs[b]! - meanAbs[a]! || a - b);
    rmSync(work, { recursive: true, force: true });
    ensureDir(work);
    const lines = [['id', ...d.taxa, 'base_value', 'prediction'].map(csvCell).join(',')];
    for (let i = 0; i < n; i++)
      lines.push(
        [
          csvCell(d.ids[rows[i]!]!),
          ...Array.from({ length: p }, (_, j) => String(phi(i, j))),
          String(baseOf(i)),
          String(prediction[i * outputs + c]!),
        ].join(','),
      );
    writeFileAtomic(join(work, 'shap.csv'), `${lines.join('\n')}\n`);
    const output = cls ? `P(${k.classNames[c]})` : 'the predicted value';
    const shown = order.slice(0, top);
    const { writeChart, beeswarmSpec } = await import('../reports/charts/index.js'); // vega, loaded only to draw
    writeChart(
      join(work, 'shap-summary.svg'),
      beeswarmSpec(
        `${method === 'treeshap' ? 'TreeSHAP' : 'KernelSHAP'} of ${k.model.model}: top ${shown.length} taxa`,
        `SHAP value (effect on ${output})`,
        shown.map((j) => ({
          name: d.taxa[j]!,
          phi: Float64Array.from({ length: n }, (_, i) => phi(i, j)),
          value: Float64Array.from({ length: n }, (_, i) => xs[i * p + j]!),
        })),
      ),
    );
    const short = (t: string): string =>
      t
        .split(';')
        .map((s) => s.trim())
        .filter((s) => !/^[a-z]__$/.test(s))
        .slice(-2)
        .join('; ');
    const md = [
      `# SHAP values of the kept ${k.model.model} (${method})`,
      '',
      `${n} samples of the run × ${p} taxa; the output explained is ${output}; base value ${rowBase ? 'per sample (the background samples joined to the graph by its links)' : base[c]!.toPrecision(6)} (${method === 'treeshap' ? "the forest's mean output over its training draws" : 'the mean output over the background samples'}).`,
      `Additivity: base value + Σ SHAP = prediction for every sample, largest error ${worst.toExponential(2)}.`,
      `Values are on the model's features: each taxon after the run's preprocessing (${k.preprocessing.normalize}, zeros ${k.preprocessing.zeros}).`,
      '',
      `## Top taxa by mean |SHAP|`,
      '',
      '| rank | taxon | mean abs SHAP | full name |',
      '| ---: | --- | ---: | --- |',
      ...shown.map(
        (j, r) =>
          `| ${r + 1} | ${short(d.taxa[j]!).replace(/\|/g, '\\|')} | ${meanAbs[j]!.toPrecision(4)} | ${d.taxa[j]!.replace(/\|/g, '\\|')} |`,
      ),
      '',
      'Files: `shap.csv` (id, one column per taxon, base_value, prediction), `shap-summary.svg` (beeswarm of the top taxa).',
      '',
    ];
    writeFileAtomic(join(work, 'summary.md'), md.join('\n'));
    const seconds = (performance.now() - t0) / 1000;
    const doc = {
      format: 'graft-explanations-v1',
      run,
      methods: [method],
      model: k.model.model,
      output,
      class: cls ? k.classNames[c] : null,
      samples: n,
      taxa: p,
      base_value: rowBase ? null : base[c],
      additivity_max_error: worst,
      top_taxa: shown.map((j) => ({ taxon: d.taxa[j], mean_abs_shap: meanAbs[j] })),
      ...extra,
      created: new Date().toISOString(),
      explanations: [],
      seconds,
    };
    writeJsonAtomic(join(work, 'explanations.json'), doc);
    if (existsSync(final)) rmSync(final, { recursive: true, force: true });
    renameSync(work, final);
    log(
      `top taxa by mean |SHAP|: ${shown
        .slice(0, 5)
        .map((j) => short(d.taxa[j]!))
        .join(', ')}`,
    );
    console.log(
      JSON.stringify({
        run,
        kind: 'microbiome',
        methods: [method],
        samples: n,
        taxa: p,
        additivity_max_error: worst,
        out: final,
        seconds: +seconds.toFixed(2),
      }),
    );
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  } finally {
    release();
  }
}
