import { join } from 'node:path';
import type { StudyCharts } from '../../genomics/study-report.js';
import { lineChartSpec, scatterChartSpec } from './charts/basic.js';
import { writeChart } from './charts/render.js';

// graft gp's charts in its report folder (genomics/study-report.ts writes the rest): per trait,
// predicted against observed (out of fold, first repeat) and Pearson r per fold, each SVG with
// its Vega-Lite spec beside it (X.vl.json) so users can restyle it.

/** Draws a trait's two charts; returns report.md's line that shows them. */
export const studyCharts: StudyCharts = (dir, res, trait, name) => {
  const series = res.options.models.map((m) => {
    const ps = res.predictions.filter((p) => p.model === m && p.trait === trait && p.repeat === 0);
    return { name: m, x: ps.map((p) => p.observed), y: ps.map((p) => p.predicted) };
  });
  writeChart(
    join(dir, `pred-vs-obs-${name}.svg`),
    scatterChartSpec(`${trait}: predicted vs observed (out of fold)`, 'observed', 'predicted', series),
  );
  const foldsOf = (m: string) => res.folds.filter((f) => f.model === m && f.trait === trait);
  const nFolds = Math.max(0, ...res.options.models.map((m) => foldsOf(m).length));
  writeChart(
    join(dir, `r-by-fold-${name}.svg`),
    lineChartSpec(
      `${trait}: Pearson r per fold`,
      'fold (repeats in sequence)',
      res.options.models.map((m) => ({ name: m, values: foldsOf(m).map((f) => f.r) })),
      { x: Array.from({ length: nFolds }, (_, i) => i + 1) },
    ),
  );
  return `![predicted vs observed](pred-vs-obs-${name}.svg) ![r per fold](r-by-fold-${name}.svg)`;
};
