import { join } from 'node:path';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../core/atomic-write.js';
import type { RecordedInputs } from '../core/input-files.js';
import { GP_FAMILY, GP_MODEL_TEXT, type GpModel } from './gp-models.js';
import { OUTLIER_ROBUST_SDS } from './study-data.js';
import { type StudyResult, formatTable } from './study.js';

// The charts' file names: a trait name made safe for any file system.
const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '_');

/** Top candidates per trait: each model's ten best, side by side. */
function candidateSection(res: StudyResult): string[] {
  const rows = res.final!.candidates,
    top = 10;
  const md = [
    '## Candidates (no phenotype; predicted by each model fitted on every phenotyped sample)',
    '',
    `All ${new Set(rows.map((r) => r.id)).size} candidates with every model's prediction, spread (sd, GCN models), reliability (GBLUP, RKHS) and rank: [candidates.csv](candidates.csv).`,
    '',
  ];
  for (const trait of res.data.traits) {
    const models = res.options.models.filter((m) => rows.some((r) => r.trait === trait && r.model === m));
    if (!models.length) continue;
    const by = models.map((m) => rows.filter((r) => r.trait === trait && r.model === m));
    const depth = Math.min(top, Math.max(...by.map((b) => b.length)));
    md.push(
      `### ${trait}: top ${depth}`,
      '',
      `| rank | ${models.join(' | ')} |`,
      `|---|${models.map(() => '---').join('|')}|`,
    );
    for (let k = 0; k < depth; k++)
      md.push(`| ${k + 1} | ${by.map((b) => (b[k] ? `${b[k]!.id} (${f3(b[k]!.prediction)})` : '')).join(' | ')} |`);
    md.push('');
  }
  return md;
}
const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'NA');

/** What `results.json` holds: settings, data summary, the model × trait table and timing. */
export function resultsJson(res: StudyResult, inputs?: RecordedInputs): Record<string, unknown> {
  const { phenoRow: _omit, ...match } = res.summary.match;
  return {
    geno: res.options.geno ?? null,
    pheno: res.options.pheno,
    traits: res.data.traits,
    samples: res.data.n,
    protocol: res.protocol,
    models: res.table,
    // Beside the table, so models → model → trait keeps its layout.
    families: Object.fromEntries(Object.keys(res.table).map((m) => [m, GP_FAMILY[m as GpModel]])),
    data: {
      ...res.summary,
      match: {
        matched: match.matched,
        genotyped_only: match.genotypedOnly.length,
        phenotyped_only: match.phenotypedOnly.length,
        text: match.text,
      },
    },
    settings: {
      models: res.options.models,
      k: res.options.k,
      repeats: res.options.repeats,
      seed: res.options.seed,
      folds_file: res.options.foldsFile ?? null,
      features: res.options.features,
      pcs: res.options.pcs,
      graph: res.options.graph,
      knn: res.options.knn,
      threshold: res.options.threshold,
      relationship: res.options.relationship ?? null,
      covariates: res.options.covariates ?? [],
      qc: res.options.qc ?? {},
      gcn: res.options.gcn,
    },
    timing: res.timing,
    ...(inputs ? { inputs } : {}),
    ...(res.final
      ? {
          candidates: {
            samples: new Set(res.final.candidates.map((c) => c.id)).size,
            rows: res.final.candidates.length,
            file: 'candidates.csv',
          },
          kept_models: res.final.kept.map((k) => ({ model: k.model, trait: k.trait })),
        }
      : {}),
  };
}

/**
 * Draws one trait's charts into the report folder (file names starting with `fileStem`, the
 * trait made file-safe) and returns the Markdown that shows them in report.md. The engine draws
 * nothing itself: `graft gp` passes its SVG charts (cli/reports/gp-report.ts).
 */
export type StudyCharts = (dir: string, res: StudyResult, trait: string, fileStem: string) => string;

/**
 * The report folder: results.json (settings, data summary, the model × trait table, timing),
 * folds.csv (metrics per model, trait, repeat, fold), predictions.csv (out-of-fold) and
 * report.md; with `charts`, a section per trait with what it draws. Each file is written whole
 * or not at all; nothing is printed.
 *
 * @param inputs the input files' sizes and hashes (core/input-files.ts' recordInputs), kept in results.json
 * @param charts draws each trait's charts (none when left out)
 */
export function writeStudyReport(dir: string, res: StudyResult, inputs?: RecordedInputs, charts?: StudyCharts): void {
  ensureDir(dir);
  writeJsonAtomic(join(dir, 'results.json'), resultsJson(res, inputs));
  const infoKeys = [...new Set(res.folds.flatMap((f) => Object.keys(f.info)))];
  writeFileAtomic(
    join(dir, 'folds.csv'),
    `${[
      ['model', 'trait', 'repeat', 'fold', 'n', 'r', 'rmse', 'r2', ...infoKeys].join(','),
      ...res.folds.map((f) =>
        [f.model, f.trait, f.repeat + 1, f.fold, f.n, f.r, f.rmse, f.r2, ...infoKeys.map((k) => f.info[k] ?? '')]
          .map(String)
          .join(','),
      ),
    ].join('\n')}\n`,
  );
  writeFileAtomic(
    join(dir, 'predictions.csv'),
    `${[
      'id,trait,model,repeat,fold,observed,predicted',
      ...res.predictions.map((p) =>
        [
          JSON.stringify(res.data.ids[p.sample]),
          p.trait,
          p.model,
          p.repeat + 1,
          p.fold,
          p.observed,
          p.predicted.toPrecision(7),
        ].join(','),
      ),
    ].join('\n')}\n`,
  );
  const md: string[] = [
    '# Genomic prediction report',
    '',
    `Genotypes: \`${res.options.geno ?? '(none: relationship matrix only)'}\`; phenotypes: \`${res.options.pheno}\`.`,
    '',
    `- Samples: ${res.summary.match.text}.`,
    ...(res.summary.qc
      ? [
          `- QC: ${res.summary.qc.markersKept} of ${res.summary.qc.markersIn} markers kept (call rate −${res.summary.qc.removedCallRate}, MAF −${res.summary.qc.removedMaf}, monomorphic −${res.summary.qc.removedMonomorphic}); ${res.summary.qc.imputedCells} cells mean-imputed; coding ${res.summary.qc.coding}.`,
        ]
      : []),
    `- Relationship: ${res.summary.relationship}. Graph: ${res.summary.graph}. GCN features: ${res.summary.features}.`,
    ...Object.entries(res.summary.missingPerTrait)
      .filter(([, k]) => k > 0)
      .map(
        ([t, k]) =>
          `- Trait ${t}: ${k} genotyped samples have no phenotype (candidates): each model fitted on every phenotyped sample predicts them (candidates.csv).`,
      ),
    ...Object.entries(res.summary.outliers).map(
      ([t, o]) =>
        `- Warning: trait ${t}: ${o.length} phenotype(s) more than ${OUTLIER_ROBUST_SDS} robust SDs (1.4826 · MAD) from the median, kept: ${o
          .slice(0, 10)
          .map((x) => `${x.id} (${x.value}, ${x.robustZ.toFixed(1)} robust SDs)`)
          .join(', ')}${o.length > 10 ? ', …' : ''}.`,
    ),
    `- Protocol: ${res.protocol}.`,
    `- Models: ${res.options.models.map((m) => `${m} (${GP_FAMILY[m]}): ${GP_MODEL_TEXT[m]}`).join('; ')}.`,
    `- Time: ${res.timing.prepare_s.toFixed(1)} s to prepare, ${res.timing.cv_s.toFixed(1)} s of cross-validation on ${res.timing.threads} thread(s)${res.timing.final_s !== undefined ? ` (with the final fits on every phenotyped sample, which ran in the same pool: ${res.timing.final_s.toFixed(1)} s of job time)` : ''}.`,
    '',
    '## Prediction accuracy (Pearson r between predicted and observed, test folds)',
    '',
    `| model | ${res.data.traits.join(' | ')} |`,
    `|---|${res.data.traits.map(() => '---').join('|')}|`,
    ...Object.entries(res.table).map(
      ([m, t]) => `| ${m} | ${res.data.traits.map((tr) => `${f3(t[tr]!.r_mean)} ± ${f3(t[tr]!.r_sd)}`).join(' | ')} |`,
    ),
    '',
    '## RMSE and R²',
    '',
    `| model | trait | RMSE | R² |`,
    '|---|---|---|---|',
    ...Object.entries(res.table).flatMap(([m, t]) =>
      res.data.traits.map(
        (tr) =>
          `| ${m} | ${tr} | ${f3(t[tr]!.rmse_mean)} ± ${f3(t[tr]!.rmse_sd)} | ${f3(t[tr]!.r2_mean)} ± ${f3(t[tr]!.r2_sd)} |`,
      ),
    ),
    '',
  ];
  if (charts)
    for (const trait of res.data.traits) md.push(`## ${trait}`, '', charts(dir, res, trait, fileSafe(trait)), '');
  if (res.final?.candidates.length) md.push(...candidateSection(res));
  md.push('```', formatTable(res), '```', '');
  writeFileAtomic(join(dir, 'report.md'), md.join('\n'));
}
