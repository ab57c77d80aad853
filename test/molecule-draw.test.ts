import { describe, expect, it } from 'vitest';
import { moleculeSvg, scoreColor } from '../src/chem/draw.js';
import { smilesToGraph } from '../src/chem/featurize.js';

/** The fill of the highlight ellipse RDKit draws for atom i, as [r, g, b] 0..255, or undefined. */
function highlightFill(svg: string, i: number): [number, number, number] | undefined {
  const m = new RegExp(`<ellipse [^>]*class='atom-${i}'[^>]*style='fill:#([0-9A-Fa-f]{6})`).exec(svg);
  if (!m) return undefined;
  const h = m[1]!;
  return [0, 2, 4].map((k) => parseInt(h.slice(k, k + 2), 16)) as [number, number, number];
}

describe('moleculeSvg', () => {
  it('phenol: the positive atom red, the negative one (the O) blue, zero ones not highlighted', async () => {
    const smiles = 'c1ccccc1O';
    expect((await smilesToGraph(smiles))!.atoms).toBe(7); // the featurizer's atom order and count
    const svg = await moleculeSvg(smiles, [1, 0, 0, 0, 0, 0, -1]);
    expect(svg.length).toBeGreaterThan(500);
    expect(svg).toContain('<svg');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    const pos = highlightFill(svg, 0),
      neg = highlightFill(svg, 6);
    expect(pos, 'atom 0 highlighted').toBeDefined();
    expect(neg, 'atom 6 highlighted').toBeDefined();
    expect(pos![0]).toBeGreaterThan(180);
    expect(pos![2]).toBeLessThan(80);
    expect(neg![2]).toBeGreaterThan(150);
    expect(neg![0]).toBeLessThan(80);
    // The ends of the scale (RDKit writes the colour as hex, truncating to 0..255).
    const near = (got: number[], want: number[]): void =>
      got.forEach((v, k) => {
        expect(Math.abs(v - want[k]! * 255)).toBeLessThanOrEqual(1);
      });
    near(pos!, scoreColor(1));
    near(neg!, scoreColor(-1));
    for (let i = 1; i <= 5; i++) expect(highlightFill(svg, i), `atom ${i}`).toBeUndefined();
    // The O is atom 6: the highlight sits on its label.
    expect(svg).toMatch(/<path class='atom-6'/);
  });

  it('scales by the largest |score|: half the maximum is a lighter red; a title is added', async () => {
    const svg = await moleculeSvg('c1ccccc1O', [0.5, 0, 0, 0, 0, 0, -0.25], {
      title: 'phenol <attribution>',
      width: 320,
      height: 280,
    });
    expect(svg).toContain(
      '<text x="160" y="17" text-anchor="middle" font-family="sans-serif" font-size="14">phenol &lt;attribution&gt;</text>',
    );
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="320" height="280"/);
    const full = highlightFill(svg, 0)!,
      half = highlightFill(svg, 6)!;
    expect(full[0]).toBeGreaterThan(180);
    expect(half[2]).toBeGreaterThan(half[0]); // blue-ish
    expect(half[0]).toBeGreaterThan(100); // but lighter than the full blue
    expect(scoreColor(0)).toEqual([1, 1, 1]);
  });

  it("bond scores: highlights in RDKit's bond order (the featurizer's), on the atoms' scale", async () => {
    const smiles = 'c1ccccc1O';
    const g = (await smilesToGraph(smiles))!;
    // Bond 6 is the ring closure, atoms 5 and 0, in the featurizer's order as in RDKit's drawing.
    expect([g.src[6], g.dst[6]].sort()).toEqual([0, 5]);
    const svg = await moleculeSvg(smiles, [0, 0, 0, 0, 0, 0, 0], { bondScores: [1, 0, 0, 0, 0, 0, -0.5] });
    const fill = (b: number): [number, number, number] | undefined => {
      const m = new RegExp(`<path class='bond-${b} [^>]*style='fill:#([0-9A-Fa-f]{6})`).exec(svg);
      return m ? ([0, 2, 4].map((k) => parseInt(m[1]!.slice(k, k + 2), 16)) as [number, number, number]) : undefined;
    };
    fill(0)!.forEach((v, k) => {
      expect(Math.abs(v - scoreColor(1)[k]! * 255)).toBeLessThanOrEqual(1);
    });
    fill(6)!.forEach((v, k) => {
      expect(Math.abs(v - scoreColor(-0.5)[k]! * 255)).toBeLessThanOrEqual(1);
    });
    for (const b of [1, 2, 3, 4, 5]) expect(fill(b), `bond ${b}`).toBeUndefined();
    // One scale for atoms and bonds: an atom at the bonds' largest |score| is as red as bond 0.
    const both = await moleculeSvg(smiles, [1, 0, 0, 0, 0, 0, 0], { bondScores: [2, 0, 0, 0, 0, 0, 0] });
    expect(highlightFill(both, 0)![1]).toBeGreaterThan(100); // half of the largest: a lighter red
    await expect(moleculeSvg(smiles, new Float32Array(7), { bondScores: [1, 2] })).rejects.toThrow(
      /2 bond scores for 'c1ccccc1O', which has 7 bonds/,
    );
  });

  it('a wrong-length score array and an unparsable SMILES throw, naming the SMILES', async () => {
    await expect(moleculeSvg('c1ccccc1O', [1, 0, 0])).rejects.toThrow(
      /3 atom scores for 'c1ccccc1O', which has 7 atoms/,
    );
    await expect(moleculeSvg('c1ccccc1O', new Float32Array(8))).rejects.toThrow(/8 atom scores/);
    await expect(moleculeSvg('C1CC(', [0, 0, 0])).rejects.toThrow(/cannot parse the SMILES 'C1CC\('/);
    await expect(moleculeSvg('', [])).rejects.toThrow(/cannot parse the SMILES ''/);
    await expect(moleculeSvg('CCO', [0, NaN, 1])).rejects.toThrow(/atom 1 of 'CCO' has score NaN/);
  });
});
