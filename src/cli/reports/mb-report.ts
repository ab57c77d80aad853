import { join } from 'node:path';
import { barChartSpec, heatMapSpec } from './charts/basic.js';
import { type DrawnNode, treeDiagramSpec } from './charts/diagrams.js';
import { writeChart } from './charts/render.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { BNN_DEFAULTS } from '../../microbiome/bnn.js';
import type { MicrobiomeData } from '../../microbiome/data.js';
import type { ChoiceTree, GridResult } from '../../microbiome/grid.js';
import type { MbStudyOptions, MbStudyResult } from '../../microbiome/study.js';

// The run folder of `graft mb`: results.json, folds.csv (sample id, group, fold per repeat),
// predictions.csv (sample id first), fold-metrics.csv, report.md and the charts; and for
// `--grid`, grid.csv, grid.json, the choice tree and the heat map; each chart with its
// Vega-Lite spec beside it (X.vl.json).

const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : 'NA');
const csvCell = (s: string | number): string =>
  typeof s === 'number' ? String(s) : /[",\n]/.test(s) ? JSON.stringify(s) : s;

function settingsOf(o: MbStudyOptions): Record<string, unknown> {
  return {
    normalize: o.normalize,
    zeros: o.zeros,
    augment: o.augment,
    models: o.models,
    k: o.k,
    repeats: o.repeats,
    seed: o.seed,
    graph: o.graph,
    knn: o.knn,
    val_fraction: o.valFraction,
    trees: o.settings.forest.trees,
    bins: o.settings.forest.bins,
    ensemble: o.settings.ensemble,
    hidden: o.settings.hidden,
    dropout: o.settings.dropout,
    epochs: o.settings.epochs,
    patience: o.settings.patience,
    ...(o.models.includes('bnn') ? { bnn: { ...BNN_DEFAULTS, ...o.settings.bnn } } : {}),
  };
}

function dataOf(d: MicrobiomeData): Record<string, unknown> {
  const m = d.match;
  return {
    samples: d.n,
    taxa: d.p,
    taxa_dropped: m.taxaDropped,
    groups: new Set(d.groups).size,
    classes: d.classNames,
    integer_counts: d.integerCounts,
    counts_only: m.countsOnly.length,
    meta_only: m.metaOnly.length,
    empty_outcome: m.noLabel.length,
    outside_subset: m.outsideSubset,
  };
}

const METRIC_ORDER = [
  'roc_auc',
  'f1_weighted',
  'f1_macro',
  'accuracy',
  'r',
  'rmse',
  'r2',
  'ensemble_sd',
  'predictive_sd',
];
const metricKeys = (r: MbStudyResult): string[] => METRIC_ORDER.filter((k) => r.folds.some((f) => k in f.metrics));

/** `extra`: more keys for results.json (the run's recorded inputs, the kept model). */
export function writeMbReport(
  dir: string,
  d: MicrobiomeData,
  o: MbStudyOptions,
  r: MbStudyResult,
  input: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): void {
  ensureDir(dir);
  writeJsonAtomic(join(dir, 'results.json'), {
    task: r.task,
    input,
    data: dataOf(d),
    settings: settingsOf(o),
    models: r.summary,
    ...extra,
    timing: { seconds: r.ms / 1000 },
  });
  const keys = metricKeys(r);
  writeFileAtomic(
    join(dir, 'fold-metrics.csv'),
    `${[
      ['model', 'repeat', 'fold', 'n', ...keys].join(','),
      ...r.folds.map((f) => [f.model, f.repeat, f.fold, f.n, ...keys.map((k) => f.metrics[k] ?? '')].join(',')),
    ].join('\n')}\n`,
  );
  // Fold of every sample in every repeat, read back from the predictions (each sample is tested once per repeat).
  const foldOf = new Map<string, number>();
  for (const p of r.predictions) foldOf.set(`${p.sample}:${p.repeat}`, p.fold);
  writeFileAtomic(
    join(dir, 'folds.csv'),
    `${[
      ['sample_id', 'group', ...Array.from({ length: o.repeats }, (_, k) => `repeat_${k + 1}`)].join(','),
      ...d.ids.map((id, i) =>
        [
          csvCell(id),
          d.groups[i]!,
          ...Array.from({ length: o.repeats }, (_, k) => foldOf.get(`${i}:${k + 1}`) ?? ''),
        ].join(','),
      ),
    ].join('\n')}\n`,
  );
  const cls = r.task === 'classification';
  const scoreCols = cls ? d.classNames.map((c) => `p_${c}`) : [];
  const name = (c: number): string => csvCell(d.classNames[c]!);
  // The BNN's per-sample sd over its posterior samples, in a column of its own when it ran.
  const bnnCol = o.models.includes('bnn') ? ['predictive_sd'] : [];
  writeFileAtomic(
    join(dir, 'predictions.csv'),
    `${[
      ['sample_id', 'model', 'repeat', 'fold', 'observed', 'predicted', ...scoreCols, 'ensemble_sd', ...bnnCol]
        .map(csvCell)
        .join(','),
      ...r.predictions.map((p) =>
        [
          csvCell(d.ids[p.sample]!),
          p.model,
          p.repeat,
          p.fold,
          cls ? name(p.observed) : p.observed,
          cls ? name(p.predicted) : p.predicted,
          ...(cls ? p.scores.map((s) => s.toPrecision(6)) : []),
          p.spread === undefined || p.model === 'bnn' ? '' : p.spread.toPrecision(4),
          ...(bnnCol.length ? [p.spread === undefined || p.model !== 'bnn' ? '' : p.spread.toPrecision(4)] : []),
        ].join(','),
      ),
    ].join('\n')}\n`,
  );
  const main = cls ? 'f1_weighted' : 'r';
  const kept = extra['kept_model'] as { model: string; chosen_by: string; file: string } | undefined;
  writeChart(
    join(dir, `${main}.svg`),
    barChartSpec(
      `${main} by model (mean ± sd over ${o.k} folds × ${o.repeats} repeats)`,
      main,
      o.models.map((m) => ({ label: m, value: r.summary[m]![main]!.mean, sd: r.summary[m]![main]!.sd })),
    ),
  );
  if (cls)
    writeChart(
      join(dir, 'roc_auc.svg'),
      barChartSpec(
        'ROC-AUC by model',
        'ROC-AUC',
        o.models.map((m) => ({ label: m, value: r.summary[m]!['roc_auc']!.mean, sd: r.summary[m]!['roc_auc']!.sd })),
        { from: 0.5 },
      ),
    );
  const bnn = { ...BNN_DEFAULTS, ...o.settings.bnn };
  const table = [
    `| model | ${keys.join(' | ')} |`,
    `|---|${keys.map(() => '---').join('|')}|`,
    ...o.models.map(
      (m) =>
        `| ${m} | ${keys.map((k) => (r.summary[m]![k] ? `${f3(r.summary[m]![k]!.mean)} ± ${f3(r.summary[m]![k]!.sd)}` : '')).join(' | ')} |`,
    ),
  ];
  writeFileAtomic(
    join(dir, 'report.md'),
    [
      `# graft mb: ${input['label'] ?? input['target']} from ${d.p} taxa (${d.n} samples)`,
      '',
      `Preprocessing: normalization ${o.normalize}, zero replacement ${o.zeros}, augmentation ${o.augment}. Protocol: stratified${d.n !== new Set(d.groups).size ? ', grouped' : ''} ${o.k}-fold × ${o.repeats} repeats, seed ${o.seed}.`,
      '',
      ...table,
      '',
      ...(o.models.includes('bnn')
        ? [
            `bnn: the MLP with a mean-field Gaussian posterior over its weights (Bayes by Backprop, local reparameterization, prior N(0, ${bnn.priorSd}²)); its scores are the mean over ${bnn.samples} posterior samples and predictive_sd the mean over test samples of each one's sd across them${o.models.includes('mlp') ? ` (ensemble_sd: the same across the MLP ensemble's ${o.settings.ensemble} members)` : ''}.`,
            '',
          ]
        : []),
      `![${main}](${main}.svg)`,
      ...(cls ? ['', '![ROC-AUC](roc_auc.svg)'] : []),
      '',
      ...(kept
        ? [
            `Kept model: ${kept.model} (${kept.chosen_by}), fitted on all ${d.n} samples with this preprocessing${kept.model === 'mlp' || kept.model === 'gcn' ? ` (${Math.round(o.valFraction * 100)}% of them choosing its epoch)` : ''}, in ${kept.file}. Score new samples' raw counts with \`graft predict --run DIR --counts FILE\`${kept.model === 'gcn' ? ` (each joins the kept training graph alone, linked to its ${o.knn} nearest training samples by ${o.graph} distance)` : ''}.`,
            '',
          ]
        : []),
    ].join('\n'),
  );
}

/** The choice tree in the drawing's terms: the split's question, and "yes" on the left. */
function drawn(t: ChoiceTree): DrawnNode {
  return {
    ...(t.choice ? { split: `${t.choice}?` } : {}),
    value: t.mean,
    samples: t.runs,
    ...(t.yes && t.no ? { left: drawn(t.yes), right: drawn(t.no) } : {}),
  };
}

export function writeGridReport(
  dir: string,
  d: MicrobiomeData,
  o: MbStudyOptions,
  g: GridResult,
  input: Record<string, unknown>,
): void {
  ensureDir(dir);
  const keys = METRIC_ORDER.filter((k) => g.rows.some((r) => k in r.metrics));
  writeJsonAtomic(join(dir, 'grid.json'), {
    input,
    data: dataOf(d),
    settings: settingsOf(o),
    score: g.score,
    rows: g.rows,
    skipped: g.skipped,
    tree: g.tree,
    timing: { seconds: g.ms / 1000 },
  });
  writeFileAtomic(
    join(dir, 'grid.csv'),
    `${[
      ['normalize', 'zeros', 'augment', 'model', ...keys.flatMap((k) => [`${k}_mean`, `${k}_sd`])].join(','),
      ...g.rows.map((r) =>
        [
          r.normalize,
          r.zeros,
          r.augment,
          r.model,
          ...keys.flatMap((k) => [r.metrics[k]?.mean ?? '', r.metrics[k]?.sd ?? '']),
        ].join(','),
      ),
    ].join('\n')}\n`,
  );
  writeChart(
    join(dir, 'grid-tree.svg'),
    treeDiagramSpec(`What decides ${g.score}: a depth-4 regression tree on the choices`, drawn(g.tree), g.score),
  );
  const norms = [...new Set(g.rows.map((r) => r.normalize))],
    zeros = [...new Set(g.rows.map((r) => r.zeros))];
  const cell = (n: string, z: string): number => {
    const v = g.rows
      .filter((r) => r.normalize === n && r.zeros === z)
      .map((r) => r.metrics[g.score]!.mean)
      .filter(Number.isFinite);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
  };
  writeChart(
    join(dir, 'grid-heatmap.svg'),
    heatMapSpec(
      `${g.score}: normalization × zero replacement (mean over models and augmentation)`,
      norms,
      zeros,
      norms.map((n) => zeros.map((z) => cell(n, z))),
      { rowLabel: 'normalization', colLabel: 'zero replacement' },
    ),
  );
  const best = (model: string): (typeof g.rows)[number] | undefined =>
    g.rows.filter((r) => r.model === model).sort((a, b) => b.metrics[g.score]!.mean - a.metrics[g.score]!.mean)[0];
  const lines = [
    `# graft mb --grid: ${input['label'] ?? input['target']} (${d.n} samples, ${d.p} taxa)`,
    '',
    `${g.rows.length} runs (${o.models.length} models × the compatible preprocessing combinations), ${o.k}-fold × ${o.repeats} repeats each, in ${(g.ms / 1000).toFixed(0)} s.`,
    '',
    `| model | best normalization | zeros | augmentation | ${g.score} |`,
    '|---|---|---|---|---|',
    ...o.models.map((m) => {
      const b = best(m);
      return b
        ? `| ${m} | ${b.normalize} | ${b.zeros} | ${b.augment} | ${f3(b.metrics[g.score]!.mean)} ± ${f3(b.metrics[g.score]!.sd)} |`
        : `| ${m} | | | | |`;
    }),
    '',
    `First split of the choice tree: **${g.tree.choice ?? 'none'}**.`,
    '',
    '![choice tree](grid-tree.svg)',
    '',
    '![heat map](grid-heatmap.svg)',
    '',
    ...(g.skipped.length ? ['Skipped:', ...g.skipped.map((s) => `- ${s.normalize} × ${s.zeros}: ${s.why}`), ''] : []),
  ];
  writeFileAtomic(join(dir, 'report.md'), lines.join('\n'));
}
