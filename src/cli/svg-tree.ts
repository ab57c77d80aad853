import { renderSvg } from './reports/charts/render.js';
import { treeDiagramSpec, type DrawnNode } from './reports/charts/diagrams.js';

export { treeDiagramSpec, type DrawnNode } from './reports/charts/diagrams.js';

/** A binary tree drawn top-down (see {@link treeDiagramSpec}); the SVG text. */
export function treeDiagram(title: string, root: DrawnNode, valueName: string): string {
  return renderSvg(treeDiagramSpec(title, root, valueName));
}
