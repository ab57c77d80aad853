import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { barChartSpec, heatMapSpec, lineChartSpec, scatterChartSpec } from '../src/cli/reports/charts/basic.js';
import { egoSpec, treeDiagramSpec } from '../src/cli/reports/charts/diagrams.js';
import { labelBox, manhattanSpec, placeLabels } from '../src/cli/reports/charts/manhattan.js';
import { renderSvg, renderSvgAsync, textWidth, writeChart, type ChartSpec } from '../src/cli/reports/charts/render.js';
import { tempDir } from './helpers.js';
import { walk, type SvgText } from './svg-parse.js';

// The line chart as the old svg.ts lineChart() drew it (that wrapper is gone: reports call writeChart with a spec).
const lineChart = (...a: Parameters<typeof lineChartSpec>): string => renderSvg(lineChartSpec(...a));

// One fixed input per chart kind. The snapshots under test/__snapshots__/charts are vega's SVG
// (text widths estimated from the font size: the optional `canvas` package is not installed);
// review a changed one by opening it, then update with `npx vitest run test/charts.test.ts -u`.

let s = 5;
const r = (): number => {
  s = (s * 16807) % 2147483647;
  return s / 2147483647;
};
const n = 600;
const chromosome = Array.from({ length: n }, (_, i) => 1 + Math.floor(i / 120));
const position = Array.from({ length: n }, (_, i) => (i % 120) * 1000);
const scores = Array.from({ length: n }, () => -Math.log10(r()));
// A peak: ten markers in linkage at neighbouring positions, all scoring high (their labels compete for room).
for (let k = 0; k < 10; k++) scores[250 + k] = 7 + 0.15 * k;
const markerNames = Array.from({ length: n }, (_, i) => `SNP_${chromosome[i]}_${position[i]}`);

const KINDS: Record<string, ChartSpec> = {
  line: lineChartSpec(
    'Loss',
    'epoch',
    [
      { name: 'train_loss', values: [1, 0.8, 0.6, 0.5, 0.45, NaN, 0.4] },
      { name: 'ideal', values: [1, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2], dashed: true },
    ],
    { x: [1, 2, 3, 4, 5, 6, 7] },
  ),
  scatter: scatterChartSpec('height: predicted vs observed', 'observed', 'predicted', [
    { name: 'gblup', x: [1, 2, 3, 4], y: [1.2, 1.8, 3.3, 3.9] },
    { name: 'gcn', x: [1, 2, 3, 4], y: [0.8, 2.5, 2.7, 4.4] },
  ]),
  bars: barChartSpec('f1_weighted by model (mean ± sd over 5 folds × 2 repeats)', 'f1_weighted', [
    { label: 'rf', value: 0.81, sd: 0.05 },
    { label: 'gcn', value: 0.74, sd: 0.09 },
    { label: 'knn', value: 0.99, sd: 0.01 },
    { label: 'logreg', value: NaN },
  ]),
  heatmap: heatMapSpec(
    'roc_auc: normalization × zero replacement',
    ['clr', 'tss', 'none'],
    ['multiplicative', 'bayes'],
    [
      [0.8, 0.82],
      [0.7, NaN],
      [0.6, 0.65],
    ],
    { rowLabel: 'normalization', colLabel: 'zero replacement' },
  ),
  tree: treeDiagramSpec(
    'What decides roc_auc',
    {
      split: 'norm = clr?',
      value: 0.7,
      samples: 20,
      left: { value: 0.8, samples: 10 },
      right: {
        split: 'zero = bayes?',
        value: 0.65,
        samples: 10,
        left: { value: 0.66, samples: 5 },
        right: { value: 0.6, samples: 5 },
      },
    },
    'roc_auc',
  ),
  ego: egoSpec({
    title: 'node 35: class Theory (ig)',
    hops: [0, 1, 1, 1, 2, 2, 2, 2],
    classes: [0, 1, 0, 2, 1, -1, 0, 3],
    names: ['35', 'a', 'b', 'c', 'd', 'e', 'f', 'g'],
    src: [0, 0, 0, 1, 1, 2, 3],
    dst: [1, 2, 3, 4, 5, 6, 7],
    edgeScores: [0.5, -0.3, 0.1, 0.05, -0.02, 0.2, 0.01],
    top: 4,
  }),
  manhattan: manhattanSpec({
    title: 'height: GCN marker importance (ig)',
    scores,
    chromosome,
    position,
    labels: markerNames,
    highlight: new Set([3, 255, 400]),
    highlightLabel: 'true QTL',
    yLabel: 'Σ |attribution|',
  }),
};

/** A text's box as vega lays it out (its width estimate, ascent 0.8 em, descent 0.25 em per line). */
function box(t: SvgText): { x0: number; x1: number; y0: number; y1: number } {
  const w = Math.max(...t.lines.map((l) => textWidth(l, t.size)));
  const x0 = t.anchor === 'middle' ? t.x - w / 2 : t.anchor === 'end' ? t.x - w : t.x;
  return { x0, x1: x0 + w, y0: t.y - 0.8 * t.size, y1: t.y + 0.25 * t.size + (t.lines.length - 1) * (t.size + 2) };
}

describe('charts (Vega-Lite specs rendered by vega)', () => {
  for (const [kind, spec] of Object.entries(KINDS)) {
    it(`${kind}: the SVG matches its snapshot, equals vega's own async toSVG, and every text lies inside the picture`, async () => {
      const svg = renderSvg(spec);
      await expect(svg).toMatchFileSnapshot(`__snapshots__/charts/${kind}.svg`);
      expect(svg).toBe(await renderSvgAsync(spec)); // the synchronous path is vega's headless render
      expect(renderSvg(JSON.parse(JSON.stringify(spec)) as ChartSpec)).toBe(svg); // the spec as written to X.vl.json renders the same
      const { width, height, texts } = walk(svg);
      expect(texts.length).toBeGreaterThan(0);
      for (const t of texts) {
        if (t.rotated) continue; // axis titles turned 90°: their height, not width, runs along the axis
        const b = box(t);
        expect(b.x0, `${kind}: '${t.lines.join(' ')}' starts left of the picture`).toBeGreaterThanOrEqual(0);
        expect(b.x1, `${kind}: '${t.lines.join(' ')}' is cut off at the right edge (${width} px)`).toBeLessThanOrEqual(
          width,
        );
        expect(b.y0).toBeGreaterThanOrEqual(0);
        expect(b.y1).toBeLessThanOrEqual(height);
      }
    });
  }

  it('colour scales have legends naming what the colours mean', () => {
    const legend = (kind: string): string[] =>
      walk(renderSvg(KINDS[kind]!))
        .texts.filter((t) => /role-legend/.test(t.mark))
        .flatMap((t) => t.lines);
    expect(legend('line')).toEqual(['train_loss', 'ideal']);
    expect(legend('scatter')).toEqual(['gblup', 'gcn']);
    expect(legend('heatmap')).toEqual(expect.arrayContaining(['0.6', '0.7', '0.8']));
    expect(legend('ego').sort()).toEqual([
      'class 0',
      'class 1',
      'class 2',
      'class 3',
      'edges',
      'lowers the class',
      'node class',
      'raises the class',
      'unknown',
    ]);
    expect(legend('manhattan')).toEqual(['true QTL (3)']);
    expect(legend('tree')).toEqual(['split', 'leaf']);
  });

  it('bar values sit right of their error bar, not on it; a missing value reads n/a', () => {
    const { items, texts } = walk(renderSvg(KINDS['bars']!));
    const rules = items.filter((i) => /\bsd_marks/.test(i.mark) && i.tag === 'line');
    const values = texts.filter((t) => /\bvalues_marks/.test(t.mark));
    expect(values.map((t) => t.lines[0])).toEqual(['0.810', '0.740', '0.990', 'n/a']);
    expect(rules).toHaveLength(3);
    for (const rule of rules) {
      const end = rule.x + Number(rule.attrs['x2']);
      const label = values.find((t) => Math.abs(t.y - 3 - rule.y) < 8)!; // the same row
      expect(label.anchor).toBe('start');
      expect(box(label).x0).toBeGreaterThan(end);
    }
  });

  it('Manhattan: the ten top markers are named, no two names overlap, none overlaps a named point or leaves the plot', () => {
    const spec = KINDS['manhattan']!;
    const { texts, items } = walk(renderSvg(spec));
    const labels = texts.filter((t) => /\btop_labels_marks/.test(t.mark));
    const top = Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => scores[b]! - scores[a]! || a - b)
      .slice(0, 10);
    expect(labels.map((t) => t.lines[0]).sort()).toEqual(top.map((i) => markerNames[i]!).sort());
    const boxes = labels.map(box);
    for (let a = 0; a < boxes.length; a++)
      for (let b = a + 1; b < boxes.length; b++) {
        const p = boxes[a]!,
          q = boxes[b]!;
        expect(
          p.x1 <= q.x0 || q.x1 <= p.x0 || p.y1 <= q.y0 || q.y1 <= p.y0,
          `'${labels[a]!.lines[0]}' overlaps '${labels[b]!.lines[0]}'`,
        ).toBe(true);
      }
    // The plot's frame: the markers' group spans it (the background path of the layer group).
    const plot = items.find((i) => i.tag === 'path' && i.attrs['class'] === 'background')!;
    const [pw, ph] = /h([\d.]+)v([\d.]+)/.exec(plot.attrs['d']!)!.slice(1).map(Number) as [number, number];
    // The named points: the ten highest (smallest y) of the markers drawn.
    const named = items
      .filter((i) => /\b(markers|highlight)_marks/.test(i.mark) && i.tag === 'path')
      .sort((a, b) => a.y - b.y)
      .slice(0, 10);
    for (const b of boxes) {
      expect(b.x0).toBeGreaterThanOrEqual(plot.x);
      expect(b.x1).toBeLessThanOrEqual(plot.x + pw);
      expect(b.y0).toBeGreaterThanOrEqual(plot.y);
      expect(b.y1).toBeLessThanOrEqual(plot.y + ph);
      for (const p of named)
        expect(
          b.x1 <= p.x - 2 || p.x + 2 <= b.x0 || b.y1 <= p.y - 2 || p.y + 2 <= b.y0,
          `a label covers the point at ${p.x},${p.y}`,
        ).toBe(true);
    }
    // Placement itself, on a crowded case: 10 labels for points at one spot keep clear of each other and the 6 px around each point.
    const crowd = Array.from({ length: 10 }, (_, k) => ({ text: `marker_${k}`, px: 200, py: 60 + k }));
    const placed = placeLabels(crowd, 400, 280);
    expect(placed).toHaveLength(10);
    const pb = placed.map((p) => labelBox(p.text, p.x, p.y));
    for (let a = 0; a < pb.length; a++) {
      for (let b = a + 1; b < pb.length; b++)
        expect(pb[a]!.x1 < pb[b]!.x0 || pb[b]!.x1 < pb[a]!.x0 || pb[a]!.y1 < pb[b]!.y0 || pb[b]!.y1 < pb[a]!.y0).toBe(
          true,
        );
      for (const c of crowd)
        expect(pb[a]!.x1 < c.px - 3 || c.px + 3 < pb[a]!.x0 || pb[a]!.y1 < c.py - 3 || c.py + 3 < pb[a]!.y0).toBe(true);
      expect(pb[a]!.x0).toBeGreaterThanOrEqual(0);
      expect(pb[a]!.x1).toBeLessThanOrEqual(400);
      expect(pb[a]!.y0).toBeGreaterThanOrEqual(0);
    }
  });

  it('writeChart writes the SVG and its Vega-Lite spec beside it; the old function names still give the same SVG', () => {
    const dir = tempDir('graft-charts-');
    const file = join(dir, 'loss.svg');
    const svg = writeChart(file, KINDS['line']!);
    expect(readFileSync(file, 'utf8')).toBe(svg);
    const spec = JSON.parse(readFileSync(join(dir, 'loss.vl.json'), 'utf8')) as ChartSpec;
    expect(spec['$schema']).toMatch(/vega-lite\/v6\.json$/);
    expect(renderSvg(spec)).toBe(svg);
    expect(existsSync(join(dir, 'loss.svg.vl.json'))).toBe(false);
    expect(
      lineChart(
        'Loss',
        'epoch',
        [
          { name: 'train_loss', values: [1, 0.8, 0.6, 0.5, 0.45, NaN, 0.4] },
          { name: 'ideal', values: [1, 0.7, 0.5, 0.4, 0.3, 0.25, 0.2], dashed: true },
        ],
        { x: [1, 2, 3, 4, 5, 6, 7] },
      ),
    ).toBe(svg);
  });
});
