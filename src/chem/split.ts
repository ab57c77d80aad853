import { argRangeError } from '../core/errors.js';
import { Rng } from '../core/random.js';
import type { MolGraph } from './featurize.js';

/** Molecule indices of the training, validation and test sets. */
export interface Split {
  train: number[];
  val: number[];
  test: number[];
}

function fractions(fn: string, f: [number, number, number]): void {
  if (f.some((v) => !(v >= 0)) || Math.abs(f[0] + f[1] + f[2] - 1) > 1e-9)
    throw argRangeError(fn, 'fractions', 'three non-negative numbers summing to 1', f);
}

/** A seeded random split of n items (default 80/10/10). */
export function randomSplit(n: number, seed: number, f: [number, number, number] = [0.8, 0.1, 0.1]): Split {
  fractions('randomSplit', f);
  const idx = new Rng(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const a = Math.round(n * f[0]),
    b = Math.round(n * (f[0] + f[1]));
  return {
    train: idx.slice(0, a).sort((x, y) => x - y),
    val: idx.slice(a, b).sort((x, y) => x - y),
    test: idx.slice(b).sort((x, y) => x - y),
  };
}

/**
 * The Bemis–Murcko framework of a molecule: its ring systems and the linkers between them,
 * found by repeatedly stripping non-ring atoms of degree ≤ 1 (side chains). Returns a key
 * that is the same for isomorphic frameworks: a Weisfeiler–Lehman hash (element, aromaticity,
 * bond order; 4 rounds) of the framework graph; '' for acyclic molecules.
 */
export function scaffoldKey(g: MolGraph): string {
  const n = g.atoms;
  const alive = new Uint8Array(n).fill(1);
  const deg = new Int32Array(n);
  for (let e = 0; e < g.src.length; e++) {
    deg[g.src[e]!]!++;
    deg[g.dst[e]!]!++;
  }
  const adj: number[][] = Array.from({ length: n }, () => []);
  for (let e = 0; e < g.src.length; e++) {
    adj[g.src[e]!]!.push(e);
    adj[g.dst[e]!]!.push(e);
  }
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (!g.inRing[i] && deg[i]! <= 1) queue.push(i);
  while (queue.length) {
    const i = queue.pop()!;
    if (!alive[i]) continue;
    alive[i] = 0;
    for (const e of adj[i]!) {
      const j = g.src[e] === i ? g.dst[e]! : g.src[e]!;
      if (alive[j] && --deg[j]! <= 1 && !g.inRing[j]) queue.push(j);
    }
  }
  if (!g.inRing.some((v, i) => v && alive[i])) return '';
  let label = Array.from({ length: n }, (_, i) => `${g.z[i]}${g.aromatic[i] ? 'a' : ''}`);
  for (let round = 0; round < 4; round++) {
    label = label.map((l, i) => {
      if (!alive[i]) return l;
      const nb = adj[i]!.map((e) => {
        const j = g.src[e] === i ? g.dst[e]! : g.src[e]!;
        return alive[j] ? `${g.w[e]}:${label[j]}` : null;
      })
        .filter((s): s is string => s !== null)
        .sort();
      return hash(`${l}(${nb.join(',')})`);
    });
  }
  return hash(
    label
      .filter((_, i) => alive[i])
      .sort()
      .join('|'),
  );
}

function hash(s: string): string {
  // FNV-1a, two 32-bit lanes: a short, deterministic label.
  let a = 0x811c9dc5,
    b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    a = Math.imul(a ^ s.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ s.charCodeAt(i), 0x5bd1e995) >>> 0;
  }
  return a.toString(36) + b.toString(36);
}

/**
 * Scaffold split (as DeepChem's): molecules grouped by Bemis–Murcko framework; groups larger
 * than half the test share go first, the rest in a seeded random order, filling train, then
 * validation, then test, so no framework is shared between the parts.
 */
export function scaffoldSplit(graphs: MolGraph[], seed: number, f: [number, number, number] = [0.8, 0.1, 0.1]): Split {
  fractions('scaffoldSplit', f);
  const groups = new Map<string, number[]>();
  graphs.forEach((g, i) => {
    const k = scaffoldKey(g);
    const list = groups.get(k);
    if (list) list.push(i);
    else groups.set(k, [i]);
  });
  const n = graphs.length;
  const all = [...groups.values()];
  const big = all.filter((gr) => gr.length > (n * f[2]) / 2).sort((a, b) => b.length - a.length || a[0]! - b[0]!);
  const small = new Rng(seed).shuffle(all.filter((gr) => gr.length <= (n * f[2]) / 2).sort((a, b) => a[0]! - b[0]!));
  const out: Split = { train: [], val: [], test: [] };
  for (const gr of [...big, ...small]) {
    if (out.train.length + gr.length <= f[0] * n) out.train.push(...gr);
    else if (out.val.length + gr.length <= f[1] * n) out.val.push(...gr);
    else out.test.push(...gr);
  }
  for (const k of ['train', 'val', 'test'] as const) out[k].sort((a, b) => a - b);
  return out;
}
