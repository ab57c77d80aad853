// Charts as Vega-Lite specs rendered to SVG by vega in Node. A grammar of graphics does the
// layout, legends and axes that hand-placed coordinates got wrong (captions cut off at the right
// edge, labels piled on each other, colours without a legend); the spec is written beside its
// SVG so a user can restyle it or open it in the Vega editor.
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { writeFileAtomic, writeJsonAtomic } from '../../../core/atomic-write.js';

/** A Vega-Lite spec as plain JSON (what is written to `X.vl.json`). */
export type ChartSpec = Record<string, unknown>;

/** A rendered chart: its SVG text and the Vega-Lite spec it came from. */
export interface Chart {
  svg: string;
  spec: ChartSpec;
}

export const VEGA_LITE_SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/**
 * Fonts and sizes fixed here, so a chart renders the same on every machine: without the
 * optional `canvas` package (not a dependency of ours) vega estimates text widths from the
 * font size, which is deterministic.
 */
export const CHART_CONFIG = {
  font: 'sans-serif',
  title: { fontSize: 14, fontWeight: 'normal', subtitleFontSize: 11, subtitleColor: '#555', anchor: 'middle' },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: 'normal', gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 11, titleFontWeight: 'normal' },
  view: { stroke: '#333' },
  background: 'white',
} as const;

/** The vega View internals the synchronous render reads (vega-view's render-headless.js reads the same). */
interface ViewInternals {
  _viewWidth: number;
  _viewHeight: number;
  _origin: [number, number];
  _scenegraph: { root: unknown };
}

/**
 * Renders a Vega-Lite spec to SVG text, synchronously. `View.toSVG()` is async only because it
 * waits for data loads and images; a chart with inline data and no images has neither, so this
 * runs the dataflow (`view.run()` evaluates synchronously when nothing is pending) and the
 * headless SVG renderer directly, as vega's own renderHeadless does. The charts test checks the
 * result is byte-identical to `await view.toSVG()` for every chart kind. Synchronous, so the
 * callers (all synchronous report writers) keep their signatures.
 */
export function renderSvg(spec: ChartSpec): string {
  const view = new vega.View(vega.parse(compile(spec as unknown as TopLevelSpec).spec), { renderer: 'none' });
  view.run();
  const v = view as unknown as ViewInternals;
  const pad = view.padding() as { left: number; right: number; top: number; bottom: number };
  const w = Math.max(0, v._viewWidth + pad.left + pad.right),
    h = Math.max(0, v._viewHeight + pad.top + pad.bottom);
  const Renderer = (vega as unknown as { SVGStringRenderer: new (loader: unknown) => SvgStringRenderer })
    .SVGStringRenderer;
  const r = new Renderer(view.loader())
    .initialize(null, w, h, [pad.left + v._origin[0], pad.top + v._origin[1]])
    .background(view.background());
  const svg = r.render(v._scenegraph.root).svg();
  view.finalize();
  return tidy(svg);
}

/**
 * Positions rounded to 0.01 px (vega writes 15 digits: 271.4389607677291), which keeps a plot
 * of 20,000 markers near 2.5 MB and snapshots free of floating-point noise; and the ids of
 * gradients and clip paths numbered from 0 in each picture (vega counts them per process, so the
 * same chart would otherwise differ by what was drawn before it).
 */
function tidy(svg: string): string {
  const ids = new Map<string, string>(),
    next = new Map<string, number>();
  svg = svg.replace(/(id="|url\(#)(gradient_|clip|pattern_)(\d+)/g, (_, at: string, kind: string, k: string) => {
    let id = ids.get(kind + k);
    if (id === undefined) {
      const c = next.get(kind) ?? 0;
      next.set(kind, c + 1);
      id = kind + c;
      ids.set(kind + k, id);
    }
    return at + id;
  });
  return `${svg.replace(/(translate\()([-\d.e]+),([-\d.e]+)\)/g, (_, t: string, x: string, y: string) => `${t}${+(+x).toFixed(2)},${+(+y).toFixed(2)})`)}\n`;
}

interface SvgStringRenderer {
  initialize(el: null, w: number, h: number, origin: [number, number]): SvgStringRenderer;
  background(c: unknown): SvgStringRenderer;
  render(scene: unknown): SvgStringRenderer;
  svg(): string;
}

/** The same render through vega's public async path (the oracle of the synchronous one). */
export async function renderSvgAsync(spec: ChartSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec as unknown as TopLevelSpec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return tidy(svg);
}

/** A spec and its SVG. */
export function chart(spec: ChartSpec): Chart {
  return { svg: renderSvg(spec), spec };
}

/** Where the spec of `X.svg` goes: `X.vl.json` beside it. */
export function specPathOf(svgFile: string): string {
  return `${svgFile.replace(/\.svg$/i, '')}.vl.json`;
}

/**
 * Renders `spec` and writes `file` (an .svg) and its spec beside it as `X.vl.json`, each
 * atomically; returns the SVG text. Accepts a {@link Chart} too (rendered already).
 */
export function writeChart(file: string, spec: ChartSpec | Chart): string {
  const c = isChart(spec) ? spec : chart(spec);
  writeFileAtomic(file, c.svg);
  writeJsonAtomic(specPathOf(file), c.spec);
  return c.svg;
}

function isChart(x: ChartSpec | Chart): x is Chart {
  return typeof (x as Chart).svg === 'string' && typeof (x as Chart).spec === 'object';
}

/** Text width in pixels as vega measures it (an estimate from the font size without `canvas`). */
export function textWidth(text: string, fontSize: number): number {
  return (vega as unknown as { textMetrics: { width(item: object, text: string): number } }).textMetrics.width(
    { font: 'sans-serif', fontSize },
    text,
  );
}

/** Splits `text` into lines no wider than `width` pixels at `fontSize` (words kept whole). */
export function wrapText(text: string, width: number, fontSize: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, fontSize) > width) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}
