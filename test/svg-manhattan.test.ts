import { describe, expect, it } from 'vitest';
import { manhattanSvg } from '../src/cli/svg-manhattan.js';
import { rng } from './helpers.js';

/** The circles inside the <g class="NAME"> groups, as [cx, cy]. */
function circles(svg: string, cls: string): [number, number][] {
  const out: [number, number][] = [];
  for (const g of svg.matchAll(new RegExp(`<g class="${cls}"[^>]*>(.*?)</g>`, 'g'))) {
    for (const c of g[1]!.matchAll(/<circle cx="([-\d.]+)" cy="([-\d.]+)"/g)) out.push([Number(c[1]), Number(c[2])]);
  }
  return out;
}

/** Well-formed enough: one svg root, every opened element closed, in order. */
function balanced(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)[^>]*?(\/?)>/g)) {
    if (m[3]) continue;
    if (m[1]) { if (stack.pop() !== m[2]) return false; } else stack.push(m[2]!);
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
    const svg = manhattanSvg({ title: 'test & scan', scores, chromosome, position, labels, highlight, highlightLabel: 'true QTL', yLabel: '|effect|' });
    expect(balanced(svg)).toBe(true);
    expect(svg).toContain('test &amp; scan');
    const all = (svg.match(/<circle /g) ?? []).length;
    const pts = circles(svg, 'markers'), hl = circles(svg, 'highlight');
    expect(hl).toHaveLength(3);
    expect(pts).toHaveLength(n - 3);
    expect(all).toBe(n + 1); // + the legend's
    expect(svg).toContain('true QTL (3)');
    // Map each point back to its marker by its height (higher score, smaller cy; all distinct),
    // then check that x order is chromosome order, then position.
    const byScore = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
    const tagged = [...pts.map((p) => ({ p, hl: false })), ...hl.map((p) => ({ p, hl: true }))].sort((a, b) => a.p[1] - b.p[1]);
    expect(new Set(tagged.map((t) => t.p[1])).size).toBe(n);
    const drawn = tagged.map((t, k) => ({ cx: t.p[0], i: byScore[k]!, hl: t.hl }));
    expect(drawn.filter((d) => d.hl).map((d) => d.i).sort((a, b) => a - b)).toEqual([...highlight]);
    drawn.sort((a, b) => a.cx - b.cx);
    const rank = (c: string): number => ['1', '2', '10', 'X'].indexOf(c);
    for (let k = 1; k < n; k++) {
      const a = drawn[k - 1]!.i, b = drawn[k]!.i;
      const ca = rank(chromosome[a]!), cb = rank(chromosome[b]!);
      expect(ca <= cb, `chromosome order at ${k}`).toBe(true);
      if (ca === cb) expect(position[a]! <= position[b]!, `position order at ${k}`).toBe(true);
    }
    // Chromosome names on the axis, in genome order; the top 10 named (escaped).
    const axis = [...svg.matchAll(/font-size="11">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(axis).toEqual(['1', '2', '10', 'X']);
    const top = [...svg.matchAll(/<text [^>]*rotate\(-30[^>]*>([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(top).toHaveLength(10);
    expect(top[0]).toBe(`m&lt;${scores.indexOf(Math.max(...scores))}&gt;`);
    expect(svg).not.toContain('class="caption"');
  });

  it('without chromosomes, by marker index; mismatched lengths throw', () => {
    const scores = [1, 5, 2, 8, 3];
    const svg = manhattanSvg({ title: 't', scores, yLabel: 'score' });
    expect(balanced(svg)).toBe(true);
    const pts = circles(svg, 'markers');
    expect(pts).toHaveLength(5);
    for (let k = 1; k < 5; k++) expect(pts[k]![0]).toBeGreaterThan(pts[k - 1]![0]);
    expect(svg).not.toContain('class="highlight"');
    expect(() => manhattanSvg({ title: 't', scores, chromosome: [1, 1], yLabel: 's' })).toThrow(/chromosome has 2 entries for 5 scores/);
    expect(() => manhattanSvg({ title: 't', scores, highlight: new Set([9]), yLabel: 's' })).toThrow(/highlighted marker 9/);
  });

  it('thins the markers below the median past 20,000 and says so; highlighted ones are all drawn', () => {
    const r = rng(3);
    const n = 30_000;
    const scores = Float64Array.from({ length: n }, () => -Math.log10(r() + 1e-12));
    const chromosome = Array.from({ length: n }, (_, i) => 1 + Math.floor(i / 6_000));
    const highlight = new Set(Array.from({ length: 40 }, (_, k) => k * 700 + 7));
    const svg = manhattanSvg({ title: 'big', scores, chromosome, highlight, yLabel: '-log10 p' });
    expect(balanced(svg)).toBe(true);
    const pts = circles(svg, 'markers').length, hl = circles(svg, 'highlight').length;
    expect(hl).toBe(40);
    expect(pts + hl).toBeLessThanOrEqual(20_040); // about 20,000 drawn
    expect(pts).toBeGreaterThan(n / 2 - 40); // every marker above the median is kept
    const caption = /<text class="caption"[^>]*>([^<]+)<\/text>/.exec(svg)?.[1];
    expect(caption).toMatch(/^30,000 markers: of the [\d,]+ scoring below the median, 1 in \d+ is drawn/);
    expect(caption).toContain(`${pts + hl} points shown`);
    expect(svg.length).toBeLessThan(2_000_000);
    // 20,000 or fewer: nothing thinned.
    const small = manhattanSvg({ title: 's', scores: scores.subarray(0, 20_000), yLabel: 'y' });
    expect(circles(small, 'markers')).toHaveLength(20_000);
    expect(small).not.toContain('class="caption"');
  });
});
