import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChartSpec } from '../reports/charts/render.js';
import { completenessRecord } from '../reports/explain-record.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { kernelShapMinBudget } from '../../explain/kernelshap.js';
import { Rng } from '../../core/random.js';
import { DataError, parseTable } from '../../data/csv.js';
import type { Baseline } from '../../explain/attribution.js';
import { type GenomeMap, mapFromNames, readGenomeMap } from '../../explain/genome-map.js';
import {
  fitFingerprint,
  genomicModelFile,
  loadGenomicModels,
  saveGenomicModels,
} from '../../explain/genomic-models.js';
import { genomicKernelShap, kernelModelShap } from '../../explain/genomic-shap.js';
import { keptModelFile, loadKeptModel, loadScoringBasis, scoringFile } from '../../genomics/kept-models.js';
import { type GcnMember, type GenomicMethod, explainGenomic, fitGenomicMembers } from '../../explain/genomic.js';
import { gblupEffects, rrBlupEffects } from '../../explain/marker-effects.js';
import { spearman } from '../../explain/rank.js';
import { fileSha256 } from '../../genomics/job-store.js';
import { type StudyData, type StudyInputs, prepareStudy } from '../../genomics/study-data.js';
import type { Runtime } from '../../runtime/runtime.js';
import { GCN_GP_DEFAULTS, type GcnRegressorConfig } from '../../train/gcn-regressor.js';
import { rocAuc } from '../../train/multilabel-metrics.js';

// `graft explain` on a `graft gp` run: marker importance of the GCN (attributed through the
// engine's backward pass) beside rrBLUP's and back-solved GBLUP's marker effects, a Manhattan
// plot per trait and the top markers in a CSV; with a ground truth (the synthetic set's
// qtl.csv), how well each ranking finds the true QTL (ROC-AUC).

interface Manifest {
  settings: Record<string, unknown>;
  inputs: Record<string, { path: string; sha256: string }>;
}

export interface GenomicExplainArgs {
  run: string;
  out: string;
  methods: (GenomicMethod | 'kernelshap')[];
  /** KernelSHAP: lines explained (spread over the study), background lines, coalitions, seed, and the model explained. */
  shap: { count: number; background: number; budget: number; seed: number; model: GpShapModel };
  steps: number;
  baseline: Baseline;
  keep: number;
  traits: string[] | null;
  truth: string | null;
  map: string | null;
  top: number;
  log: (s: string) => void;
}

/**
 * The run's study inputs, from its job manifest; input files that changed since are refused.
 * A run with no marker genotypes (--relationship only) is refused unless `markers` is false.
 */
export async function studyOf(
  run: string,
  markers = true,
): Promise<{ inputs: StudyInputs; gcn: GcnRegressorConfig; geno: string | null }> {
  const file = join(run, 'jobs', 'manifest.json');
  if (!existsSync(file))
    throw new GraftError(`${run}: no jobs/manifest.json: not a graft gp run folder (or one from before job files)`);
  const m = JSON.parse(readFileSync(file, 'utf8')) as Manifest;
  for (const [role, f] of Object.entries(m.inputs)) {
    if (!existsSync(f.path)) throw new GraftError(`${file}: the run's ${role} file ${f.path} is gone`);
    if ((await fileSha256(f.path)) !== f.sha256)
      throw new GraftError(
        `${f.path}: changed since the run (SHA-256 differs from ${file}); explanations would not be of the run's models`,
      );
  }
  const s = m.settings as unknown as StudyInputs & { gcn?: GcnRegressorConfig };
  const geno = m.inputs['geno']?.path ?? null;
  if (!geno && markers)
    throw new GraftError(
      `${run}: the run has no marker genotypes (it used --relationship only): there are no markers to explain`,
    );
  const inputs: StudyInputs = {
    ...s,
    ...(geno ? { geno } : {}),
    pheno: m.inputs['pheno']!.path,
    ...(m.inputs['relationship'] ? { relationship: m.inputs['relationship'].path } : {}),
  };
  return { inputs, gcn: { ...GCN_GP_DEFAULTS, ...(s.gcn ?? {}) }, geno };
}

/** QTL per trait from a truth file: columns trait, marker (and effect). */
function readTruth(file: string): Map<string, Set<string>> {
  const t = parseTable(file);
  const ti = t.header.indexOf('trait'),
    mi = t.header.indexOf('marker');
  if (ti < 0 || mi < 0)
    throw new DataError(
      file,
      1,
      `a QTL truth file needs columns 'trait' and 'marker'; the columns are ${t.header.map((h) => `'${h}'`).join(', ')}`,
    );
  const out = new Map<string, Set<string>>();
  for (const r of t.rows) {
    if (!out.has(r[ti]!)) out.set(r[ti]!, new Set());
    out.get(r[ti]!)!.add(r[mi]!);
  }
  return out;
}

const f4 = (x: number): string => (Number.isFinite(x) ? x.toPrecision(4) : 'NA');

/** The gp models KernelSHAP explains: the GCN ensemble, or a kept kernel or linear model. */
export type GpShapModel = 'gcn' | 'gblup' | 'rrblup' | 'rkhs' | 'rkhs-ka';
export const GP_SHAP_MODELS: readonly GpShapModel[] = ['gcn', 'gblup', 'rrblup', 'rkhs', 'rkhs-ka'];

export async function explainGenomicRun(rt: Runtime, a: GenomicExplainArgs): Promise<Record<string, unknown>> {
  if (a.shap.model !== 'gcn') return explainKernelModels(a, a.shap.model);
  const { writeChart, manhattanSpec } = await import('../reports/charts/index.js'); // vega, loaded only to draw
  const { inputs, gcn, geno } = await studyOf(a.run);
  const truthFile =
    a.truth ?? (geno && existsSync(join(dirname(geno), 'qtl.csv')) ? join(dirname(geno), 'qtl.csv') : null);
  const truth = truthFile ? readTruth(truthFile) : null;
  if (truthFile) a.log(`ground truth: ${truthFile}`);
  const t0 = performance.now();
  const { data, markers } = await prepareStudy(rt, inputs, () => {}, { markers: true });
  if (!markers) throw new GraftError(`${a.run}: the run's genotypes gave no markers to explain`);
  const names = markers.clean.markers;
  const sites = markers.clean.sites;
  const map: GenomeMap | null = a.map
    ? readGenomeMap(a.map, names)
    : sites
      ? { ...sites, source: `${geno} (CHROM, POS)` }
      : mapFromNames(names);
  const traits = a.traits ?? data.traits;
  const grmFromMarkers = inputs.relationship === undefined;
  const results: Record<string, unknown>[] = [];
  const auroc: Record<string, Record<string, number>> = {};
  const modelsDir = join(a.run, 'models');
  for (const name of traits) {
    const t = data.traits.indexOf(name);
    if (t < 0)
      throw new GraftError(`--target ${name}: not a trait of this run (its traits: ${data.traits.join(', ')})`);
    const fp = fitFingerprint(data, t, gcn);
    let members = loadGenomicModels(genomicModelFile(modelsDir, name), fp);
    let fitS = 0;
    if (!members) {
      const kept = genomicModelFile(join(a.out, 'models'), name);
      members = loadGenomicModels(kept, fp);
      if (!members) {
        a.log(
          `${name}: fitting the GCN ensemble (${gcn.ensemble} members) on every phenotyped sample (the run kept no models: graft gp --keep-models keeps them)`,
        );
        const f0 = performance.now();
        members = await fitGenomicMembers(rt, data, t, gcn);
        fitS = (performance.now() - f0) / 1000;
        saveGenomicModels(kept, members, fp, gcn, data);
      }
    }
    const rr = rrBlupEffects(data, markers, t);
    const gb = gblupEffects(data, markers, t, grmFromMarkers);
    const m = names.length;
    const rrAbs = rr.perSd.map(Math.abs),
      gbAbs = gb ? gb.perSd.map(Math.abs) : null;
    const qtl = truth?.get(name) ?? null;
    const isQtl: number[] | null = qtl ? names.map((x) => (qtl.has(x) ? 1 : 0)) : null;
    const safe = name.replace(/[^A-Za-z0-9_.-]+/g, '_');
    const highlight = isQtl ? new Set(isQtl.flatMap((q, j) => (q ? [j] : []))) : undefined;
    const plot = (scores: ArrayLike<number>, who: string, y: string): ChartSpec =>
      manhattanSpec({
        title: `${name}: ${who}`,
        scores,
        labels: names,
        yLabel: y,
        ...(map ? { chromosome: map.chromosome, position: map.position } : {}),
        ...(highlight ? { highlight, highlightLabel: 'true QTL' } : {}),
      });
    writeChart(join(a.out, `manhattan-${safe}-rrblup.svg`), plot(rrAbs, 'rrBLUP |marker effect|', '|effect| per SD'));
    if (isQtl) auroc[name] = { rrblup: rocAuc(isQtl, rrAbs), ...(gbAbs ? { gblup: rocAuc(isQtl, gbAbs) } : {}) };
    for (const method of a.methods) {
      if (method === 'kernelshap') {
        results.push(await shapOfTrait(rt, a, data, gcn, members, name, safe, inputs.features, names));
        continue;
      }
      const e0 = performance.now();
      const ex = await explainGenomic(rt, data, markers, gcn, members, {
        method,
        steps: a.steps,
        baseline: a.baseline,
        keep: a.keep,
      });
      const explainS = (performance.now() - e0) / 1000;
      if (isQtl) {
        auroc[name]![`gcn-${method}`] = rocAuc(isQtl, ex.importance);
        a.log(
          `${name}: QTL recovery (ROC-AUC) GCN-${method} ${f4(auroc[name]![`gcn-${method}`]!)}, rrBLUP ${f4(auroc[name]!['rrblup']!)}${gbAbs ? `, GBLUP ${f4(auroc[name]!['gblup']!)}` : ''} (${qtl!.size} QTL, ${isQtl.reduce((s, x) => s + x, 0)} among the ${m} markers kept)`,
        );
      }
      // Every marker's scores sorted by the GCN's importance (the top `top` rows), and the plot.
      const order = Array.from({ length: m }, (_, j) => j).sort(
        (x, y) => ex.importance[y]! - ex.importance[x]! || x - y,
      );
      const signed = method !== 'gnnexplainer';
      const head = [
        'rank',
        'marker',
        ...(map ? ['chromosome', 'position'] : []),
        `gcn_${method}`,
        ...(signed ? ['gcn_signed'] : []),
        'rrblup_effect',
        ...(gb ? ['gblup_effect'] : []),
        ...(isQtl ? ['qtl'] : []),
      ];
      const rows = order
        .slice(0, a.top)
        .map((j, r) =>
          [
            r + 1,
            names[j],
            ...(map ? [map.chromosome[j], map.position[j]] : []),
            f4(ex.importance[j]!),
            ...(signed ? [f4(ex.signed[j]!)] : []),
            f4(rr.perSd[j]!),
            ...(gb ? [f4(gb.perSd[j]!)] : []),
            ...(isQtl ? [isQtl[j]] : []),
          ].join(','),
        );
      writeFileAtomic(join(a.out, `markers-${safe}-${method}.csv`), `${[head.join(','), ...rows].join('\n')}\n`);
      writeChart(
        join(a.out, `manhattan-${safe}-gcn-${method}.svg`),
        plot(ex.importance, `GCN marker importance (${method})`, signed ? 'Σ |attribution|' : 'feature mask'),
      );
      results.push({
        target: name,
        method,
        members: members.length,
        value: ex.value,
        ...completenessRecord(ex.completeness),
        ...(ex.steps ? { steps: ex.steps } : {}),
        fidelity: ex.fidelity,
        marker_map_max_error: ex.mapError,
        passes: ex.passes,
        fit_s: fitS,
        explain_s: explainS,
        ...(isQtl
          ? {
              auroc: {
                [`gcn-${method}`]: auroc[name]![`gcn-${method}`],
                rrblup: auroc[name]!['rrblup'],
                ...(gbAbs ? { gblup: auroc[name]!['gblup'] } : {}),
              },
            }
          : {}),
        // How far the GCN's ranking of the markers agrees with the linear models' (Spearman's ρ).
        agreement: {
          rrblup: spearman(ex.importance, rrAbs),
          ...(gbAbs ? { gblup: spearman(ex.importance, gbAbs) } : {}),
        },
        top_markers: order.slice(0, 10).map((j) => ({
          marker: names[j],
          importance: ex.importance[j],
          rrblup: rr.perSd[j],
          ...(gb ? { gblup: gb.perSd[j] } : {}),
        })),
        files: {
          markers: `markers-${safe}-${method}.csv`,
          manhattan_gcn: `manhattan-${safe}-gcn-${method}.svg`,
          manhattan_rrblup: `manhattan-${safe}-rrblup.svg`,
        },
      });
    }
  }
  return {
    kind: 'genomic',
    markers: names.length,
    samples: data.n,
    map: map?.source ?? null,
    truth: truthFile,
    explanations: results,
    auroc: truth ? auroc : null,
    seconds: (performance.now() - t0) / 1000,
  };
}

const csvCell = (s: string): string => (/[",\n]/.test(s) ? JSON.stringify(s) : s);

/**
 * KernelSHAP of the GCN ensemble for --count lines of one trait, over the features the GCN
 * reads (markers, or principal components): shap-TRAIT.csv, a beeswarm of the top features.
 */
async function shapOfTrait(
  rt: Runtime,
  a: GenomicExplainArgs,
  data: StudyData,
  gcn: GcnRegressorConfig,
  members: GcnMember[],
  name: string,
  safe: string,
  features: 'markers' | 'pcs',
  markers: readonly string[],
): Promise<Record<string, unknown>> {
  const f = data.f,
    n = data.n;
  const label = (j: number): string =>
    features === 'markers' && f === markers.length
      ? markers[j]!
      : features === 'pcs'
        ? `PC${j + 1}`
        : `feature_${j + 1}`;
  const { count, rows, background } = shapSample(n, a.shap);
  if (a.shap.budget < kernelShapMinBudget(f))
    throw new GraftError(
      `--budget ${a.shap.budget}: KernelSHAP over ${f} ${features === 'pcs' ? 'principal components' : 'features'} needs at least ${kernelShapMinBudget(f)} coalitions (two per feature and one pair more)`,
    );
  a.log(
    `${name}: KernelSHAP of the GCN ensemble (${members.length} members) for ${count} lines × ${f} ${features === 'pcs' ? 'principal components' : 'features'}: ${background.length} background lines, ${a.shap.budget} coalitions each (${a.shap.budget * background.length * members.length} graph copies per line)`,
  );
  const t0 = performance.now();
  const s = await genomicKernelShap(rt, data, gcn, members, {
    rows,
    background,
    budget: a.shap.budget,
    seed: a.shap.seed,
  });
  const out = await shapOutputs({
    out: a.out,
    one: (a.traits ?? data.traits).length === 1,
    safe,
    f,
    rows,
    label,
    id: (i) => data.ids[i]!,
    values: s.values,
    base: (r) => s.base[r]!,
    prediction: s.prediction,
    feature: (i, j) => data.features[i * f + j]!,
    title: (top) =>
      `${name}: KernelSHAP of the GCN ensemble, top ${top} ${features === 'pcs' ? 'components' : 'features'}`,
    axis: `SHAP value (effect on the predicted ${name})`,
    shap: a.shap,
    fit: s,
  });
  return {
    target: name,
    method: 'kernelshap',
    members: members.length,
    features,
    lines: count,
    background: background.map((i) => data.ids[i]),
    ...out.record,
    explain_s: (performance.now() - t0) / 1000,
    files: out.files,
  };
}

/**
 * KernelSHAP of a kept kernel or linear model (graft gp --keep-models) for --count lines of each
 * trait, over the markers: each line's dosages as graft predict scores them (kernelModelShap).
 * Writes shap.csv (or shap-TRAIT.csv) and a beeswarm of the top markers.
 */
async function explainKernelModels(
  a: GenomicExplainArgs,
  model: Exclude<GpShapModel, 'gcn'>,
): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const dir = join(a.run, 'models');
  if (!existsSync(scoringFile(dir)))
    throw new GraftError(
      `${scoringFile(dir)} not found: --model ${model} explains the model graft gp kept; run graft gp again with --keep-models`,
    );
  const basis = loadScoringBasis(dir);
  if (!basis.markers)
    throw new GraftError(
      `${a.run}: the run has no marker genotypes (it used --relationship only): there are no markers to explain`,
    );
  const names = basis.markers.names,
    m = names.length,
    n = basis.n;
  const traits = a.traits ?? basis.traits;
  const results: Record<string, unknown>[] = [];
  for (const name of traits) {
    if (!basis.traits.includes(name))
      throw new GraftError(`--target ${name}: not a trait of this run (its traits: ${basis.traits.join(', ')})`);
    const file = keptModelFile(dir, model, name);
    if (!existsSync(file))
      throw new GraftError(
        `${file} not found: the run kept no ${model} model of ${name} (its --models did not include ${model})`,
      );
    const fit = loadKeptModel(file, basis).final.kernel;
    if (!fit) throw new GraftError(`${file}: no kernel fit in it (damaged)`);
    const { count, rows, background } = shapSample(n, a.shap);
    if (a.shap.budget < kernelShapMinBudget(m))
      throw new GraftError(
        `--budget ${a.shap.budget}: KernelSHAP over ${m} markers needs at least ${kernelShapMinBudget(m)} coalitions (two per marker and one pair more)`,
      );
    a.log(
      `${name}: KernelSHAP of the kept ${model} for ${count} lines × ${m} markers: ${background.length} background lines, ${a.shap.budget} coalitions each`,
    );
    const s0 = performance.now();
    const s = kernelModelShap(basis, fit, { rows, background, budget: a.shap.budget, seed: a.shap.seed });
    const out = await shapOutputs({
      out: a.out,
      one: traits.length === 1,
      safe: name.replace(/[^A-Za-z0-9_.-]+/g, '_'),
      f: m,
      rows,
      label: (j) => names[j]!,
      id: (i) => basis.ids[i]!,
      values: s.values,
      base: () => s.base[0]!,
      prediction: s.prediction,
      feature: (i, j) => basis.markers!.dosage[i * m + j]!,
      title: (top) => `${name}: KernelSHAP of ${model}, top ${top} markers`,
      axis: `SHAP value (effect on the predicted ${name})`,
      shap: a.shap,
      fit: s,
    });
    results.push({
      target: name,
      method: 'kernelshap',
      model,
      features: 'markers',
      lines: count,
      background: background.map((i) => basis.ids[i]),
      ...out.record,
      explain_s: (performance.now() - s0) / 1000,
      files: out.files,
    });
  }
  return {
    kind: 'genomic',
    markers: m,
    samples: n,
    explanations: results,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** Which lines KernelSHAP explains (--count, evenly spread) and its background lines (--background, drawn by --seed). */
function shapSample(
  n: number,
  shap: { count: number; background: number; seed: number },
): { count: number; rows: number[]; background: number[] } {
  const count = Math.min(n, shap.count),
    rows = Array.from({ length: count }, (_, i) => Math.floor((i * n) / count));
  const background = new Rng(shap.seed)
    .shuffle(Array.from({ length: n }, (_, i) => i))
    .slice(0, Math.min(n, shap.background))
    .sort((x, y) => x - y);
  return { count, rows, background };
}

/** What shapOutputs writes and reports of one trait's KernelSHAP values. */
interface ShapOutputInput {
  out: string;
  /** One trait: shap.csv and shap-summary.svg; else each file named after the trait (`safe`). */
  one: boolean;
  safe: string;
  /** Features per line. */
  f: number;
  /** The explained lines (sample indices), in the values' row order. */
  rows: readonly number[];
  label: (j: number) => string;
  id: (i: number) => string;
  /** φ [rows, f] row-major. */
  values: Float64Array;
  base: (r: number) => number;
  prediction: Float64Array;
  /** Line i's value of feature j (the beeswarm's colour). */
  feature: (i: number, j: number) => number;
  title: (shown: number) => string;
  axis: string;
  /** The run's settings and the estimate's coalitions, for the record. */
  shap: { budget: number; seed: number };
  fit: { coalitions: number; exact: boolean };
}

/**
 * One trait's KernelSHAP outputs, the same for the GCN ensemble and the kept kernel models:
 * the additivity check (largest |base + Σφ − prediction|), mean |φ| per feature and their
 * order, shap.csv (id, one column per feature, base_value, prediction) and the beeswarm of the
 * top 20 features; returns what the record reports of them.
 */
async function shapOutputs(o: ShapOutputInput): Promise<{
  record: {
    budget: number;
    coalitions: number;
    exact: boolean;
    seed: number;
    additivity_max_error: number;
    top_features: { feature: string; mean_abs_shap: number }[];
  };
  files: { shap: string; summary: string };
}> {
  const { f, rows, values } = o,
    count = rows.length;
  let worst = 0;
  for (let r = 0; r < count; r++) {
    let sum = o.base(r);
    for (let j = 0; j < f; j++) sum += values[r * f + j]!;
    worst = Math.max(worst, Math.abs(sum - o.prediction[r]!));
  }
  const meanAbs = Float64Array.from({ length: f }, (_, j) => {
    let t = 0;
    for (let r = 0; r < count; r++) t += Math.abs(values[r * f + j]!) / count;
    return t;
  });
  const order = [...meanAbs.keys()].sort((x, y) => meanAbs[y]! - meanAbs[x]! || x - y);
  const lines = [
    ['id', ...Array.from({ length: f }, (_, j) => o.label(j)), 'base_value', 'prediction'].map(csvCell).join(','),
  ];
  rows.forEach((i, r) => {
    lines.push(
      [
        csvCell(o.id(i)),
        ...Array.from({ length: f }, (_, j) => String(values[r * f + j]!)),
        String(o.base(r)),
        String(o.prediction[r]!),
      ].join(','),
    );
  });
  const csv = o.one ? 'shap.csv' : `shap-${o.safe}.csv`,
    svg = o.one ? 'shap-summary.svg' : `shap-summary-${o.safe}.svg`;
  writeFileAtomic(join(o.out, csv), `${lines.join('\n')}\n`);
  const shown = order.slice(0, Math.min(20, f));
  const { writeChart, beeswarmSpec } = await import('../reports/charts/index.js'); // vega, loaded only to draw
  writeChart(
    join(o.out, svg),
    beeswarmSpec(
      o.title(shown.length),
      o.axis,
      shown.map((j) => ({
        name: o.label(j),
        phi: Float64Array.from({ length: count }, (_, r) => values[r * f + j]!),
        value: Float64Array.from(rows, (i) => o.feature(i, j)),
      })),
    ),
  );
  return {
    record: {
      budget: o.shap.budget,
      coalitions: o.fit.coalitions,
      exact: o.fit.exact,
      seed: o.shap.seed,
      additivity_max_error: worst,
      top_features: shown.slice(0, 10).map((j) => ({ feature: o.label(j), mean_abs_shap: meanAbs[j]! })),
    },
    files: { shap: csv, summary: svg },
  };
}
