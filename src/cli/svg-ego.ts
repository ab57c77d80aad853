import { renderSvg } from './reports/charts/render.js';
import { egoSpec, type EgoOptions } from './reports/charts/diagrams.js';

export { egoSpec, type EgoOptions } from './reports/charts/diagrams.js';

/** An explained node's neighbourhood on rings by hop count (see {@link egoSpec}); the SVG text. */
export function egoSvg(o: EgoOptions): string {
  return renderSvg(egoSpec(o));
}
