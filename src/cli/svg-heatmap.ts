import { renderSvg } from './reports/charts/render.js';
import { heatMapSpec } from './reports/charts/basic.js';

export { heatMapSpec } from './reports/charts/basic.js';

/** A heat map of values[row][col] with a colour legend (see {@link heatMapSpec}); the SVG text. */
export function heatMap(
  title: string,
  rows: string[],
  cols: string[],
  values: number[][],
  options: { rowLabel?: string; colLabel?: string } = {},
): string {
  return renderSvg(heatMapSpec(title, rows, cols, values, options));
}
