import { CsrMatrix } from '../src/graph/csr.js';
import type { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';
import { randn, rng } from './helpers.js';

/** A random symmetric graph with self loops as CSR (uniform edges, like the bench workloads). */
export function randomGraph(heap: Heap, n: number, avgDegree: number, seed: number): CsrMatrix {
  const r = rng(seed);
  const rows: number[] = [],
    cols: number[] = [],
    vals: number[] = [];
  const m = Math.round((n * avgDegree) / 2);
  for (let e = 0; e < m; e++) {
    const a = Math.floor(r() * n),
      b = Math.floor(r() * n);
    const v = r();
    rows.push(a, b);
    cols.push(b, a);
    vals.push(v, v);
  }
  for (let i = 0; i < n; i++) {
    rows.push(i);
    cols.push(i);
    vals.push(1);
  }
  return CsrMatrix.fromCoo(heap, n, n, rows, cols, vals);
}

export function randomMatrix(heap: Heap, rows: number, cols: number, seed: number): Tensor {
  return Tensor.from(heap, 'float32', [rows, cols], randn(rows * cols, seed));
}

/** 24 small drug-like SMILES (RDKit parses them all). */
export const SMILES = [
  'CCO',
  'c1ccccc1O',
  'CC(=O)Oc1ccccc1C(=O)O',
  'CN1C=NC2=C1C(=O)N(C(=O)N2C)C',
  'CC(C)Cc1ccc(cc1)C(C)C(=O)O',
  'c1ccc2ccccc2c1',
  'CCN(CC)CC',
  'O=C(O)CCC(=O)O',
  'c1ccncc1',
  'C1CCCCC1',
  'CC#N',
  'ClC(Cl)Cl',
  'OCC(O)CO',
  'c1ccc(cc1)N',
  'CC(=O)Nc1ccc(O)cc1',
  'C1=CC=C(C=C1)C=O',
  'CCCCCCCC',
  'c1cc[nH]c1',
  'NC(=O)N',
  'CS(=O)C',
  'c1ccc(cc1)c1ccccc1',
  'OC1CCCCC1',
  'CC1=CC=CC=C1',
  'FC(F)(F)c1ccccc1',
];

/** A multi-label molecule CSV (smiles,common,mid,rare) of SMILES repeated `copies` times, with a rare label and a missing cell. */
export function moleculeCsv(copies = 1): string {
  const rows: string[] = [];
  for (let c = 0; c < copies; c++)
    SMILES.forEach((s, i) => {
      rows.push(`${s},${(i + c) % 3 === 0 ? 0 : 1},${(i + c) % 2},${(i + 3 * c) % 8 === 0 ? 1 : i === 5 ? '' : 0}`);
    });
  return `${['smiles,common,mid,rare', ...rows].join('\n')}\n`;
}
