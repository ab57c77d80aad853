import { esc, frame } from './svg.js';

/** A heat map of values[row][col] (NaN: an empty cell marked n/a), with each cell's value written in it. */
export function heatMap(title: string, rows: string[], cols: string[], values: number[][], options: { rowLabel?: string; colLabel?: string } = {}): string {
  const cell = 64, L = 90, T = 56, W = L + cell * cols.length + 20, H = T + cell * rows.length + 40;
  const finite = values.flat().filter(Number.isFinite);
  const lo = Math.min(...finite), hi = Math.max(...finite);
  // White (lowest) to dark blue (highest): the eye finds the best cell.
  const shade = (v: number): string => {
    const t = hi > lo ? (v - lo) / (hi - lo) : 1;
    const mix = (a: number, b: number): number => Math.round(a + (b - a) * t);
    return `rgb(${mix(247, 8)},${mix(251, 69)},${mix(255, 148)})`;
  };
  const parts = frame(W, H, title);
  cols.forEach((c, j) => parts.push(`<text x="${L + j * cell + cell / 2}" y="${T - 8}" text-anchor="middle">${esc(c)}</text>`));
  rows.forEach((r, i) => {
    parts.push(`<text x="${L - 8}" y="${T + i * cell + cell / 2 + 4}" text-anchor="end">${esc(r)}</text>`);
    cols.forEach((_, j) => {
      const v = values[i]![j]!, x = L + j * cell, y = T + i * cell;
      const ok = Number.isFinite(v);
      parts.push(`<rect x="${x}" y="${y}" width="${cell - 2}" height="${cell - 2}" fill="${ok ? shade(v) : '#f0f0f0'}"/>`);
      const dark = ok && hi > lo && (v - lo) / (hi - lo) > 0.6;
      parts.push(`<text x="${x + cell / 2 - 1}" y="${y + cell / 2 + 4}" text-anchor="middle" font-size="11" fill="${dark ? 'white' : '#222'}">${ok ? v.toFixed(3) : 'n/a'}</text>`);
    });
  });
  if (options.colLabel) parts.push(`<text x="${L + (cell * cols.length) / 2}" y="${T - 26}" text-anchor="middle" font-style="italic">${esc(options.colLabel)}</text>`);
  if (options.rowLabel) parts.push(`<text x="${L}" y="${H - 12}" font-style="italic">rows: ${esc(options.rowLabel)}</text>`);
  parts.push('</svg>');
  return parts.join('\n');
}
