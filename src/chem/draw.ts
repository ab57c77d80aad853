import { rdkit } from './rdkit.js';

/** How moleculeSvg draws: the image size in pixels and an optional title. */
export interface MoleculeSvgOptions {
  width?: number;
  height?: number;
  /** Drawn above the molecule as an SVG <text>. */
  title?: string;
  /**
   * A score per bond (RDKit's bond order, as featurize.ts reads bonds), drawn as bond
   * highlights on the same diverging scale, scaled by the largest |score| over atoms and bonds
   * together (both are shares of one output, as integrated gradients' are).
   */
  bondScores?: ArrayLike<number>;
}

/** The diverging scale's ends: positive scores red (#d7301f), negative blue (#2166ac); 0 is white. */
const POSITIVE: readonly [number, number, number] = [215 / 255, 48 / 255, 31 / 255];
const NEGATIVE: readonly [number, number, number] = [33 / 255, 102 / 255, 172 / 255];
/** Atoms whose |score| is below this share of the molecule's largest get no highlight (they would be white). */
const NEAR_ZERO = 0.01;
const TITLE_ROW = 24;

/**
 * The colour (RGB in 0..1, what RDKit's drawing options take) for a score already divided by
 * the molecule's largest |score|: t in [−1, 1], white at 0, blending to red at +1 and blue at −1.
 */
export function scoreColor(t: number): [number, number, number] {
  const a = Math.min(1, Math.abs(t)),
    end = t >= 0 ? POSITIVE : NEGATIVE;
  return [0, 1, 2].map((k) => 1 + a * (end[k]! - 1)) as [number, number, number];
}

function escXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * The molecule drawn by RDKit MinimalLib with each atom's highlight coloured by its score
 * (`atomScores[i]` for atom i in RDKit's order for this SMILES, the order featurize.ts reads
 * from get_json()): positive red, negative blue, |score| scaled by the molecule's largest
 * |score|, near zero left unhighlighted (white). Throws naming the SMILES when it does not
 * parse, or when the scores do not match its atom count.
 */
export async function moleculeSvg(
  smiles: string,
  atomScores: ArrayLike<number>,
  o: MoleculeSvgOptions = {},
): Promise<string> {
  const RD = await rdkit();
  const width = o.width ?? 300,
    height = o.height ?? 240;
  const drawH = o.title !== undefined ? Math.max(1, height - TITLE_ROW) : height;
  const mol = smiles.trim() === '' ? null : RD.get_mol(smiles);
  if (!mol) throw new Error(`moleculeSvg: RDKit cannot parse the SMILES '${smiles}'`);
  try {
    if (!mol.is_valid()) throw new Error(`moleculeSvg: RDKit cannot parse the SMILES '${smiles}'`);
    const parsed = (JSON.parse(mol.get_json()) as { molecules: { atoms: unknown[]; bonds?: unknown[] }[] })
      .molecules[0]!;
    const atoms = parsed.atoms.length,
      bondCount = parsed.bonds?.length ?? 0;
    if (atomScores.length !== atoms) {
      throw new Error(
        `moleculeSvg: ${atomScores.length} atom scores for '${smiles}', which has ${atoms} atoms (heavy atoms, in RDKit's order)`,
      );
    }
    const bondScores = o.bondScores;
    if (bondScores && bondScores.length !== bondCount)
      throw new Error(`moleculeSvg: ${bondScores.length} bond scores for '${smiles}', which has ${bondCount} bonds`);
    let max = 0;
    for (let i = 0; i < atoms; i++) {
      const v = atomScores[i]!;
      if (!Number.isFinite(v)) throw new Error(`moleculeSvg: atom ${i} of '${smiles}' has score ${v}`);
      max = Math.max(max, Math.abs(v));
    }
    for (let b = 0; b < (bondScores?.length ?? 0); b++) {
      const v = bondScores![b]!;
      if (!Number.isFinite(v)) throw new Error(`moleculeSvg: bond ${b} of '${smiles}' has score ${v}`);
      max = Math.max(max, Math.abs(v));
    }
    const highlighted: number[] = [];
    const highlightAtomColors: Record<number, [number, number, number]> = {};
    const highlightAtomRadii: Record<number, number> = {};
    for (let i = 0; i < atoms; i++) {
      const t = max > 0 ? atomScores[i]! / max : 0;
      if (Math.abs(t) < NEAR_ZERO) continue;
      highlighted.push(i);
      highlightAtomColors[i] = scoreColor(t);
      highlightAtomRadii[i] = 0.4;
    }
    const bonds: number[] = [];
    const highlightBondColors: Record<number, [number, number, number]> = {};
    for (let b = 0; b < (bondScores?.length ?? 0); b++) {
      const t = max > 0 ? bondScores![b]! / max : 0;
      if (Math.abs(t) < NEAR_ZERO) continue;
      bonds.push(b);
      highlightBondColors[b] = scoreColor(t);
    }
    const svg = mol.get_svg_with_highlights(
      JSON.stringify({
        atoms: highlighted,
        bonds,
        ...(bonds.length > 0 ? { highlightBondColors } : {}),
        highlightAtomColors,
        highlightAtomRadii,
        width,
        height: drawH,
      }),
    );
    if (o.title === undefined) return svg;
    // The drawing nested below a title row.
    const body = svg.replace(/^<\?xml[^>]*\?>\s*/, '');
    return [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
      `<rect width="${width}" height="${height}" fill="white"/>`,
      `<text x="${width / 2}" y="17" text-anchor="middle" font-family="sans-serif" font-size="14">${escXml(o.title)}</text>`,
      body.replace(/^<svg\b/, `<svg x="0" y="${TITLE_ROW}"`),
      '</svg>',
    ].join('\n');
  } finally {
    mol.delete();
  }
}
