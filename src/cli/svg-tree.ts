import { esc, frame } from './svg.js';

/** A decision tree's node as drawn: its split (absent at a leaf), its value and sample count. */
export interface DrawnNode { split?: string; value: number; samples: number; left?: DrawnNode; right?: DrawnNode }

/**
 * A binary tree drawn top-down: each node a box with its split ("choice = tss?"), the mean
 * value and the sample count; "yes" to the left, "no" to the right. Leaves spread evenly.
 */
export function treeDiagram(title: string, root: DrawnNode, valueName: string): string {
  const leaves: DrawnNode[] = [];
  const depthOf = (n: DrawnNode): number => (n.left && n.right ? 1 + Math.max(depthOf(n.left), depthOf(n.right)) : 0);
  const collect = (n: DrawnNode): void => { if (n.left && n.right) { collect(n.left); collect(n.right); } else leaves.push(n); };
  collect(root);
  const boxW = 150, boxH = 46, gapX = 12, rowH = 92, depth = depthOf(root);
  const W = Math.max(480, leaves.length * (boxW + gapX) + 40), H = 60 + (depth + 1) * rowH;
  const pos = new Map<DrawnNode, { x: number; y: number }>();
  let next = 0;
  const place = (n: DrawnNode, d: number): number => {
    const x = n.left && n.right ? (place(n.left, d + 1) + place(n.right, d + 1)) / 2 : 20 + boxW / 2 + (next++) * (boxW + gapX);
    pos.set(n, { x, y: 44 + d * rowH });
    return x;
  };
  place(root, 0);
  const parts = frame(W, H, title);
  const draw = (n: DrawnNode): void => {
    const p = pos.get(n)!;
    for (const [child, label] of [[n.left, 'yes'], [n.right, 'no']] as const) {
      if (!child) continue;
      const c = pos.get(child)!;
      parts.push(`<line x1="${p.x}" y1="${p.y + boxH}" x2="${c.x}" y2="${c.y}" stroke="#777"/>`);
      parts.push(`<text x="${(p.x + c.x) / 2 + (label === 'yes' ? -8 : 8)}" y="${(p.y + boxH + c.y) / 2}" text-anchor="middle" font-size="10" fill="#555">${label}</text>`);
      draw(child);
    }
    const leaf = !(n.left && n.right);
    parts.push(`<rect x="${p.x - boxW / 2}" y="${p.y}" width="${boxW}" height="${boxH}" rx="6" fill="${leaf ? '#eef5ff' : '#fff7e6'}" stroke="#999"/>`);
    parts.push(`<text x="${p.x}" y="${p.y + 16}" text-anchor="middle" font-size="11" font-weight="bold">${esc(n.split ?? `${valueName} ${n.value.toFixed(3)}`)}</text>`);
    parts.push(`<text x="${p.x}" y="${p.y + 32}" text-anchor="middle" font-size="10">${n.split ? `${valueName} ${n.value.toFixed(3)}, ` : ''}${n.samples} runs</text>`);
  };
  draw(root);
  parts.push('</svg>');
  return parts.join('\n');
}
