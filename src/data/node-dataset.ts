import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeDataset } from '../graph/node-data.js';
import { applyPreprocess } from '../graph/preprocess.js';
import { DataError, parseTable, readText } from './csv.js';

export type { NodeDataset };

/** Kipf & Welling's preprocessing: each feature row divided by its sum (empty rows stay 0). */
export function rowNormalize(ds: NodeDataset): void {
  // The one implementation graft/infer also runs (graph/preprocess.ts), so the bits agree.
  applyPreprocess([{ kind: 'row-normalize' }], ds.features, ds.numNodes, ds.numFeatures);
}

function field<T>(
  file: string,
  obj: Record<string, unknown>,
  key: string,
  check: (v: unknown) => v is T,
  what: string,
): T {
  const v = obj[key];
  if (!check(v)) throw new DataError(file, 0, `field '${key}' must be ${what}`);
  return v;
}
const isInt = (v: unknown): v is number => Number.isInteger(v);
const isArr = (v: unknown): v is unknown[] => Array.isArray(v);

/** Loads `<dir>/<name>.json` of the shared Planetoid folder (Cora, CiteSeer; public split). */
export function loadPlanetoid(dir: string, name: string): NodeDataset {
  const file = join(dir, `${name}.json`);
  if (!existsSync(file)) throw new DataError(file, 0, `no such Planetoid data set (expected ${name}.json in ${dir})`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readText(file)) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(file, 0, `not valid JSON: ${(err as Error).message}`);
  }
  const n = field(file, json, 'num_nodes', isInt, 'an integer');
  const nf = field(file, json, 'num_features', isInt, 'an integer');
  const nc = field(file, json, 'num_classes', isInt, 'an integer');
  const feats = field(file, json, 'features', isArr, 'an array of feature-index lists');
  const labels = field(file, json, 'labels', isArr, 'an array');
  const edges = field(file, json, 'edges', isArr, 'an array of [i, j] pairs');
  const split = field(
    file,
    json,
    'split',
    (v): v is Record<string, unknown> => typeof v === 'object' && v !== null,
    'an object',
  );
  if (feats.length !== n) throw new DataError(file, 0, `'features' has ${feats.length} rows, num_nodes is ${n}`);
  if (labels.length !== n) throw new DataError(file, 0, `'labels' has ${labels.length} entries, num_nodes is ${n}`);
  const features = new Float32Array(n * nf);
  feats.forEach((row, i) => {
    if (!Array.isArray(row)) throw new DataError(file, 0, `features[${i}] must be a list of feature indices`);
    for (const j of row) {
      if (!Number.isInteger(j) || j < 0 || j >= nf)
        throw new DataError(file, 0, `features[${i}] has index ${JSON.stringify(j)}, not in [0, ${nf})`);
      features[i * nf + j] = 1;
    }
  });
  const lab = Int32Array.from(labels, (l, i) => {
    if (!Number.isInteger(l) || (l as number) < -1 || (l as number) >= nc)
      throw new DataError(file, 0, `labels[${i}] = ${JSON.stringify(l)}, not a class in [-1, ${nc})`);
    return l as number;
  });
  const src = new Int32Array(edges.length),
    dst = new Int32Array(edges.length);
  edges.forEach((e, k) => {
    const [a, b] = Array.isArray(e) ? e : [];
    if (!isInt(a) || !isInt(b) || a < 0 || b < 0 || a >= n || b >= n)
      throw new DataError(file, 0, `edges[${k}] = ${JSON.stringify(e)} is not a pair of node ids in [0, ${n})`);
    src[k] = a;
    dst[k] = b;
  });
  const part = (key: 'train' | 'val' | 'test'): Int32Array => {
    const v = split[key];
    if (!Array.isArray(v)) throw new DataError(file, 0, `split.${key} must be a list of node ids`);
    return Int32Array.from(v, (i, k) => {
      if (!Number.isInteger(i) || i < 0 || i >= n)
        throw new DataError(file, 0, `split.${key}[${k}] = ${JSON.stringify(i)} is not a node id`);
      if (lab[i]! < 0) throw new DataError(file, 0, `split.${key}[${k}] = node ${i} has no label`);
      return i as number;
    });
  };
  return {
    name,
    numNodes: n,
    numFeatures: nf,
    numClasses: nc,
    features,
    labels: lab,
    split: { train: part('train'), val: part('val'), test: part('test') },
    src,
    dst,
    ids: Array.from({ length: n }, (_, i) => String(i)),
  };
}

/** A graph without labels (graft predict's new graph): nodes and features from one file, edges by id from another. */
export interface NodeGraphCsv {
  numNodes: number;
  numFeatures: number;
  features: Float32Array;
  src: Int32Array;
  dst: Int32Array;
  ids: string[];
  featureNames: string[];
  index: Map<string, number>;
}

/**
 * The features file (id, then one numeric column per feature; its rows are the nodes, in
 * order) and the edges file (source, target[, weight] by id) of loadNodeCsv, without labels.
 */
export function loadNodeGraphCsv(files: { features: string; edges: string }): NodeGraphCsv {
  const ft = parseTable(files.features);
  if (ft.header.length < 2) throw new DataError(ft.file, 1, 'need an id column and at least one feature column');
  const n = ft.rows.length,
    nf = ft.header.length - 1;
  if (n === 0) throw new DataError(ft.file, 0, 'no nodes (the file has a header only)');
  const index = new Map<string, number>();
  const features = new Float32Array(n * nf);
  ft.rows.forEach((row, i) => {
    const id = row[0]!;
    if (index.has(id))
      throw new DataError(
        ft.file,
        ft.lines[i]!,
        `duplicate node id ${JSON.stringify(id)} (first on line ${ft.lines[index.get(id)!]})`,
      );
    index.set(id, i);
    for (let c = 1; c <= nf; c++) {
      const v = Number(row[c]);
      if (row[c] === '' || !Number.isFinite(v))
        throw new DataError(
          ft.file,
          ft.lines[i]!,
          `column '${ft.header[c]}' is ${JSON.stringify(row[c])}, not a finite number`,
        );
      features[i * nf + c - 1] = v;
    }
  });
  const node = (table: typeof ft, i: number, value: string): number => {
    const k = index.get(value);
    if (k === undefined)
      throw new DataError(
        table.file,
        table.lines[i]!,
        `unknown node id ${JSON.stringify(value)} (not in ${files.features})`,
      );
    return k;
  };
  const et = parseTable(files.edges);
  if (et.header.length < 2) throw new DataError(et.file, 1, 'need source and target columns');
  const src = new Int32Array(et.rows.length),
    dst = new Int32Array(et.rows.length);
  et.rows.forEach((row, i) => {
    src[i] = node(et, i, row[0]!);
    dst[i] = node(et, i, row[1]!);
  });
  return {
    numNodes: n,
    numFeatures: nf,
    features,
    src,
    dst,
    ids: ft.rows.map((r) => r[0]!),
    featureNames: ft.header.slice(1),
    index,
  };
}

/**
 * Generic node data from CSV/TSV files:
 *   features: id, then one numeric column per feature (defines the nodes and their order);
 *   edges: source, target[, weight] by id;
 *   labels: id, label[, split] with split one of train / val / test (otherwise a seeded
 *   split is made by the caller). Labels are class names; classes are numbered in sorted order.
 */
export function loadNodeCsv(
  files: { features: string; edges: string; labels: string },
  name = 'custom',
): NodeDataset & { classNames: string[]; featureNames: string[]; splitGiven: boolean } {
  const g = loadNodeGraphCsv(files);
  const { numNodes: n, numFeatures: nf, features, src, dst, index } = g;
  const node = (table: ReturnType<typeof parseTable>, i: number, value: string): number => {
    const k = index.get(value);
    if (k === undefined)
      throw new DataError(
        table.file,
        table.lines[i]!,
        `unknown node id ${JSON.stringify(value)} (not in ${files.features})`,
      );
    return k;
  };
  const lt = parseTable(files.labels);
  if (lt.header.length < 2) throw new DataError(lt.file, 1, 'need id and label columns');
  const labelOf = new Map<number, string>(),
    splitOf = new Map<number, string>(),
    lineOf = new Map<number, number>();
  lt.rows.forEach((row, i) => {
    const k = node(lt, i, row[0]!);
    if (row[1] === '' || row[1] === 'NA') return;
    const before = labelOf.get(k);
    if (before !== undefined && before !== row[1]) {
      throw new DataError(
        lt.file,
        lt.lines[i]!,
        `node ${JSON.stringify(row[0])} is labelled ${JSON.stringify(row[1])} here but ${JSON.stringify(before)} on line ${lineOf.get(k)}`,
      );
    }
    labelOf.set(k, row[1]!);
    lineOf.set(k, lt.lines[i]!);
    if (lt.header.length > 2 && row[2] !== '') {
      if (!['train', 'val', 'test'].includes(row[2]!))
        throw new DataError(lt.file, lt.lines[i]!, `split ${JSON.stringify(row[2])} is not train, val or test`);
      splitOf.set(k, row[2]!);
    }
  });
  if (labelOf.size === 0) throw new DataError(lt.file, 0, 'no labelled nodes');
  // Natural order: "2" before "10", and numeric labels by value.
  const classNames = [...new Set(labelOf.values())].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (classNames.length < 2)
    throw new DataError(lt.file, 0, `only one class (${JSON.stringify(classNames[0])}): nothing to classify`);
  const labels = new Int32Array(n).fill(-1);
  for (const [k, l] of labelOf) labels[k] = classNames.indexOf(l);
  const pick = (s: string): Int32Array =>
    Int32Array.from(
      [...splitOf]
        .filter(([, v]) => v === s)
        .map(([k]) => k)
        .sort((a, b) => a - b),
    );
  return {
    name,
    numNodes: n,
    numFeatures: nf,
    numClasses: classNames.length,
    features,
    labels,
    src,
    dst,
    split: { train: pick('train'), val: pick('val'), test: pick('test') },
    ids: g.ids,
    featureNames: g.featureNames,
    classNames,
    splitGiven: splitOf.size > 0,
  };
}
