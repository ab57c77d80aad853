import { renderSvg } from './reports/charts/render.js';
import { barChartSpec, type Bar } from './reports/charts/basic.js';

export { barChartSpec, type Bar } from './reports/charts/basic.js';

/** Horizontal bars with ± sd error bars, values written beside them (see {@link barChartSpec}); the SVG text. */
export function barChart(
  title: string,
  xLabel: string,
  bars: Bar[],
  options: { width?: number; from?: number } = {},
): string {
  return renderSvg(barChartSpec(title, xLabel, bars, options));
}
