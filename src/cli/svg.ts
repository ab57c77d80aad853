// The chart functions the report writers call, by their old names: each builds a Vega-Lite
// spec (src/cli/charts/) and renders it to SVG text. `writeChart(file, spec)` writes the SVG
// and its spec beside it (X.vl.json); `chart(spec)` gives both without writing.
import { renderSvg } from './reports/charts/render.js';
import { lineChartSpec, scatterChartSpec, type PointSeries, type Series } from './reports/charts/basic.js';

export { chart, writeChart, renderSvg, type Chart, type ChartSpec } from './reports/charts/render.js';
export { lineChartSpec, scatterChartSpec, type PointSeries, type Series } from './reports/charts/basic.js';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Lines over x, one per series, with a legend (see {@link lineChartSpec}); the SVG text. */
export function lineChart(
  title: string,
  xLabel: string,
  series: Series[],
  options: { x?: number[]; width?: number; height?: number } = {},
): string {
  return renderSvg(lineChartSpec(title, xLabel, series, options));
}

/** A scatter plot of several point series with the y = x line (predicted against observed); the SVG text. */
export function scatterChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: PointSeries[],
  options: { width?: number; height?: number } = {},
): string {
  return renderSvg(scatterChartSpec(title, xLabel, yLabel, series, options));
}
