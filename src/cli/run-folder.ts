import { join } from 'node:path';
import { lineChart } from './svg.js';
import { ensureDir, writeFileAtomic } from '../core/atomic-write.js';

/** Writes a run's per-epoch records as CSV and JSON plus SVG curves of every loss and metric. */
export function writeHistory(dir: string, history: Record<string, number>[]): void {
  ensureDir(dir);
  if (history.length === 0) return;
  const cols = Object.keys(history[0]!);
  const csv = [cols.join(','), ...history.map((r) => cols.map((c) => fmt(r[c]!)).join(','))].join('\n') + '\n';
  writeFileAtomic(join(dir, 'epochs.csv'), csv);
  writeFileAtomic(join(dir, 'epochs.json'), JSON.stringify(history, null, 1) + '\n');
  const x = history.map((r) => r['epoch']!);
  const losses = cols.filter((c) => c.endsWith('loss'));
  const others = cols.filter((c) => c !== 'epoch' && c !== 'ms' && !c.endsWith('loss'));
  writeFileAtomic(join(dir, 'loss.svg'), lineChart('Loss', 'epoch', losses.map((c) => ({ name: c, values: history.map((r) => r[c]!) })), { x }));
  if (others.length) writeFileAtomic(join(dir, 'metrics.svg'), lineChart('Metrics', 'epoch', others.map((c) => ({ name: c, values: history.map((r) => r[c]!) })), { x }));
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(7);
}

