import { join } from 'node:path';
import { lineChart, scatterChart } from './svg.js';
import { writeFileAtomic } from '../core/atomic-write.js';
import { ensureDir, writeJsonAtomic } from '../core/atomic-write.js';
import { formatTable, type StudyResult } from '../genomics/study.js';
import { OUTLIER_ROBUST_SDS } from '../genomics/study-data.js';
import type { RecordedInputs } from '../core/input-files.js';
import { GP_FAMILY, GP_MODEL_TEXT, type GpModel } from '../genomics/gp-models.js';

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
 * The report folder: results.json, folds.csv (metrics per model, trait, repeat, fold),
 * predictions.csv (out-of-fold), report.md, and per trait an SVG of predicted against
 * observed and one of r per fold. Each file is written whole or not at all.
 */
export function writeStudyReport(dir: string, res: StudyResult, inputs?: RecordedInputs): void {
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
  for (const trait of res.data.traits) {
    const name = fileSafe(trait);
    const series = res.options.models.map((m) => {
      const ps = res.predictions.filter((p) => p.model === m && p.trait === trait && p.repeat === 0);
      return { name: m, x: ps.map((p) => p.observed), y: ps.map((p) => p.predicted) };
    });
    writeFileAtomic(
      join(dir, `pred-vs-obs-${name}.svg`),
      scatterChart(`${trait}: predicted vs observed (out of fold)`, 'observed', 'predicted', series),
    );
    const foldsOf = (m: string) => res.folds.filter((f) => f.model === m && f.trait === trait);
    const nFolds = Math.max(0, ...res.options.models.map((m) => foldsOf(m).length));
    writeFileAtomic(
      join(dir, `r-by-fold-${name}.svg`),
      lineChart(
        `${trait}: Pearson r per fold`,
        'fold (repeats in sequence)',
        res.options.models.map((m) => ({ name: m, values: foldsOf(m).map((f) => f.r) })),
        { x: Array.from({ length: nFolds }, (_, i) => i + 1) },
      ),
    );
    md.push(
      `## ${trait}`,
      '',
      `![predicted vs observed](pred-vs-obs-${name}.svg) ![r per fold](r-by-fold-${name}.svg)`,
      '',
    );
  }
  if (res.final?.candidates.length) md.push(...candidateSection(res));
  md.push('```', formatTable(res), '```', '');
  writeFileAtomic(join(dir, 'report.md'), md.join('\n'));
}
