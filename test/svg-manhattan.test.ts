import { describe, expect, it } from 'vitest';
import { manhattanSpec, type ManhattanOptions } from '../src/cli/reports/charts/manhattan.js';
import { renderSvg, textWidth } from '../src/cli/reports/charts/render.js';
import { rng } from './helpers.js';
import { walk } from './svg-parse.js';

// The Manhattan plot as the old svg-manhattan.ts drew it (that wrapper is gone: explain calls writeChart with the spec).
const manhattanSvg = (o: ManhattanOptions): string => renderSvg(manhattanSpec(o));

/** The points of the mark layer NAME ('markers', 'highlight'), as [x, y] in the picture. */
function circles(svg: string, name: string): [number, number][] {
  return walk(svg)
    .items.filter((i) => new RegExp(`\\b${name}_marks`).test(i.mark) && i.tag === 'path')
    .map((i) => [i.x, i.y]);
}

/** The lines of the texts in mark layers whose class matches `cls`. */
function textsOf(svg: string, cls: RegExp): string[] {
  return walk(svg)
    .texts.filter((t) => cls.test(t.mark))
    .map((t) => t.lines.join(' '));
}

/** Well-formed enough: one svg root, every opened element closed, in order. */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (m[1]) {
      if (stack.pop() !== m[2]) return false;
    } else stack.push(m[2]!);
  }
  return stack.length === 0 && svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>');
}

describe('manhattanSvg', () => {
  it('lays markers out chromosome by chromosome, then by position, with the highlighted ones distinct', () => {
    const r = rng(7);
    const n = 60;
    // Chromosomes and positions shuffled relative to the marker index; chromosome '10' sorts after '2'.
    const chrNames = ['2', '10', '1', 'X'];
    const chromosome = Array.from({ length: n }, () => chrNames[Math.floor(r() * chrNames.length)]!);
    const position = Array.from({ length: n }, () => Math.round(r() * 1e6));
    // Distinct scores, far enough apart to tell the points apart by their height.
    const perm = Array.from({ length: n }, (_, i) => i).sort(() => r() - 0.5);
    const scores = perm.map((p) => p * 0.5);
    const labels = Array.from({ length: n }, (_, i) => `m<${i}>`);
    const highlight = new Set([3, 17, 42]);
    const svg = manhattanSvg({
      title: 'test & scan',
      scores,
      chromosome,
      position,
      labels,
      highlight,
      highlightLabel: 'true QTL',
      yLabel: '|effect|',
    });
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain('test &amp; scan');
    const pts = circles(svg, 'markers'),
      hl = circles(svg, 'highlight');
    expect(hl).toHaveLength(3);
    expect(pts).toHaveLength(n - 3);
    expect(textsOf(svg, /role-legend/)).toEqual(['true QTL (3)']);
    // Map each point back to its marker by its height (higher score, smaller cy; all distinct),
    // then check that x order is chromosome order, then position.
    const byScore = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
    const tagged = [...pts.map((p) => ({ p, hl: false })), ...hl.map((p) => ({ p, hl: true }))].sort(
      (a, b) => a.p[1] - b.p[1],
    );
    expect(new Set(tagged.map((t) => t.p[1])).size).toBe(n);
    const drawn = tagged.map((t, k) => ({ cx: t.p[0], i: byScore[k]!, hl: t.hl }));
    expect(
      drawn
        .filter((d) => d.hl)
        .map((d) => d.i)
        .sort((a, b) => a - b),
    ).toEqual([...highlight]);
    drawn.sort((a, b) => a.cx - b.cx);
    const rank = (c: string): number => ['1', '2', '10', 'X'].indexOf(c);
    for (let k = 1; k < n; k++) {
      const a = drawn[k - 1]!.i,
        b = drawn[k]!.i;
      const ca = rank(chromosome[a]!),
        cb = rank(chromosome[b]!);
      expect(ca <= cb, `chromosome order at ${k}`).toBe(true);
      if (ca === cb) expect(position[a]! <= position[b]!, `position order at ${k}`).toBe(true);
    }
    // Chromosome names on the axis, in genome order; the top 10 named (escaped).
    const axis = textsOf(svg, /\bchromosomes_marks/);
    expect(axis).toEqual(['1', '2', '10', 'X']);
    const top = textsOf(svg, /\btop_labels_marks/);
    expect(top).toHaveLength(10);
    expect(top[0]).toBe(`m<${scores.indexOf(Math.max(...scores))}>`); // placed first, the highest
    expect(svg).toContain('m&lt;');
    expect(svg).not.toContain('role-title-subtitle');
  });

  it('without chromosomes, by marker index; mismatched lengths throw', () => {
    const scores = [1, 5, 2, 8, 3];
    const svg = manhattanSvg({ title: 't', scores, yLabel: 'score' });
    expect(balanced(svg)).toBe(true);
    const pts = circles(svg, 'markers');
    expect(pts).toHaveLength(5);
    for (let k = 1; k < 5; k++) expect(pts[k]![0]).toBeGreaterThan(pts[k - 1]![0]);
    expect(circles(svg, 'highlight')).toHaveLength(0);
    expect(() => manhattanSvg({ title: 't', scores, chromosome: [1, 1], yLabel: 's' })).toThrow(
      /chromosome has 2 entries for 5 scores/,
    );
    expect(() => manhattanSvg({ title: 't', scores, highlight: new Set([9]), yLabel: 's' })).toThrow(
      /highlighted marker 9/,
    );
  });

  it('thins the markers below the median past 20,000 and says so; highlighted ones are all drawn', () => {
    const r = rng(3);
    const n = 30_000;
    const scores = Float64Array.from({ length: n }, () => -Math.log10(r() + 1e-12));
    const chromosome = Array.from({ length: n }, (_, i) => 1 + Math.floor(i / 6_000));
    const highlight = new Set(Array.from({ length: 40 }, (_, k) => k * 700 + 7));
    const svg = manhattanSvg({ title: 'big', scores, chromosome, highlight, yLabel: '-log10 p' });
    expect(balanced(svg)).toBe(true);
    const pts = circles(svg, 'markers').length,
      hl = circles(svg, 'highlight').length;
    expect(hl).toBe(40);
    expect(pts + hl).toBeLessThanOrEqual(20_040); // about 20,000 drawn
    expect(pts).toBeGreaterThan(n / 2 - 40); // every marker above the median is kept
    const captions = walk(svg).texts.filter((t) => /role-title-subtitle/.test(t.mark));
    expect(captions).toHaveLength(1);
    const caption = captions[0]!.lines.join(' ');
    expect(caption).toMatch(/^30,000 markers: of the [\d,]+ scoring below the median, 1 in \d+ is drawn/);
    expect(caption).toContain(`${(pts + hl).toLocaleString('en-US')} points shown`);
    // The caption fits: wrapped over lines, each (centred) inside the picture's width.
    const { width } = walk(svg),
      c = captions[0]!;
    expect(c.lines.length).toBeGreaterThan(1);
    for (const line of c.lines) {
      const w = textWidth(line, c.size);
      expect(c.x - w / 2).toBeGreaterThanOrEqual(0);
      expect(c.x + w / 2, `caption line '${line}' is cut off`).toBeLessThanOrEqual(width);
    }
    expect(svg.length).toBeLessThan(3_000_000); // vega writes each point as a path: about 125 bytes
    // 20,000 or fewer: nothing thinned.
    const small = manhattanSvg({ title: 's', scores: scores.subarray(0, 20_000), yLabel: 'y' });
    expect(circles(small, 'markers')).toHaveLength(20_000);
    expect(small).not.toContain('role-title-subtitle');
  });
});
