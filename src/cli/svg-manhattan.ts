import { renderSvg } from './reports/charts/render.js';
import { manhattanSpec, type ManhattanOptions } from './reports/charts/manhattan.js';

export { manhattanSpec, type ManhattanOptions } from './reports/charts/manhattan.js';

/** A Manhattan plot (see {@link manhattanSpec}); the SVG text. */
export function manhattanSvg(o: ManhattanOptions): string {
  return renderSvg(manhattanSpec(o));
}
