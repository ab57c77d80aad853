import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GraftError } from '../../core/errors.js';
import type { StoreHeader } from '../../store/format.js';
import { prepareCsv } from '../../store/from-csv.js';
import { prepareOgb } from '../../store/ogb.js';
import { ensureSyntheticStore, SYNTHETIC_SHAPES } from '../../store/synthetic.js';

// graft prepare: builds a graph store (store/format.ts) once, from Graft's node CSVs, an OGB
// node-property-prediction folder, or a named synthetic shape (cached in .graft-cache/).

export const PREPARE_USAGE = `  graft prepare --from csv|ogb --in DIR --out FILE.graftstore [--split-scheme NAME] [--directed] [--seed N]
                (csv: DIR holds features.csv, edges.csv, labels.csv, or name them with --features F --edges F --labels F;
                 ogb: DIR holds raw/ and split/<scheme>/ as OGB leaves them)
  graft prepare --synthetic products|arxiv [--cache-dir DIR]   (an OGB-shaped planted partition, generated once)`;

export async function prepare(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: {
      from: { type: 'string' },
      in: { type: 'string' },
      out: { type: 'string' },
      'split-scheme': { type: 'string' },
      directed: { type: 'boolean' },
      seed: { type: 'string' },
      features: { type: 'string' },
      edges: { type: 'string' },
      labels: { type: 'string' },
      synthetic: { type: 'string' },
      'cache-dir': { type: 'string' },
    },
  });
  const t0 = performance.now();
  const report = (file: string, h: StoreHeader, extra: Record<string, unknown> = {}): void => {
    console.log(
      JSON.stringify({
        out: file,
        name: h.name,
        nodes: h.numNodes,
        adjacency_entries: h.numEdges,
        features: h.numFeatures,
        classes: h.numClasses,
        train: h.arrays['train']!.shape[0],
        val: h.arrays['val']!.shape[0],
        test: h.arrays['test']!.shape[0],
        bytes: h.fileBytes,
        seconds: +((performance.now() - t0) / 1000).toFixed(1),
        ...extra,
      }),
    );
  };
  if (v.synthetic !== undefined) {
    if (v.from !== undefined || v.in !== undefined)
      throw new GraftError('--synthetic and --from/--in are alternatives');
    if (!(v.synthetic in SYNTHETIC_SHAPES))
      throw new GraftError(
        `--synthetic must be one of ${Object.keys(SYNTHETIC_SHAPES).join(', ')}, got ${JSON.stringify(v.synthetic)}`,
      );
    const r = ensureSyntheticStore(v.synthetic, {
      ...(v['cache-dir'] ? { cacheDir: resolve(v['cache-dir']) } : {}),
      ...(v.seed !== undefined ? { seed: seedOf(v.seed) } : {}),
    });
    report(r.file, r.header, { cached: r.cached });
    return;
  }
  if (v.from !== 'csv' && v.from !== 'ogb')
    throw new GraftError(`--from must be 'csv' or 'ogb' (or use --synthetic), got ${JSON.stringify(v.from)}`);
  if (!v.out) throw new GraftError('--out FILE.graftstore is required');
  const out = resolve(v.out);
  if (!existsSync(dirname(out))) mkdirSync(dirname(out), { recursive: true });
  const symmetric = !v.directed;
  if (v.from === 'ogb') {
    if (!v.in) throw new GraftError('--in DIR (the OGB folder holding raw/ and split/) is required');
    report(
      out,
      await prepareOgb(resolve(v.in), out, {
        symmetric,
        ...(v['split-scheme'] ? { splitScheme: v['split-scheme'] } : {}),
      }),
    );
    return;
  }
  const pick = (flag: string | undefined, name: string): string => {
    if (flag) return flag;
    if (!v.in) throw new GraftError(`--in DIR or --${name} FILE is required`);
    const csv = join(v.in, `${name}.csv`),
      tsv = join(v.in, `${name}.tsv`);
    return existsSync(csv) || !existsSync(tsv) ? csv : tsv;
  };
  const files = {
    features: pick(v.features, 'features'),
    edges: pick(v.edges, 'edges'),
    labels: pick(v.labels, 'labels'),
  };
  report(out, prepareCsv(files, out, { symmetric, ...(v.seed !== undefined ? { seed: seedOf(v.seed) } : {}) }));
}

function seedOf(s: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0)
    throw new GraftError(`--seed must be a non-negative integer, got ${JSON.stringify(s)}`);
  return n;
}
