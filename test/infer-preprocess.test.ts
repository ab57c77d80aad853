import { describe, expect, it } from 'vitest';
import { rowNormalize } from '../src/data/node-dataset.js';
import { plantedPartition } from '../src/data/synthetic.js';
import { parseModelFile, reportedModel } from '../src/infer/model-file.js';
import {
  applyPreprocess,
  fitStandardize,
  preprocessMetadata,
  readPreprocess,
  type PreprocessStep,
} from '../src/graph/preprocess.js';
import { dataPreprocess } from '../src/store/node-task.js';
import { bitsEqual, randn, rng, SIZES } from './helpers.js';

// infer/preprocess.ts, the one record of what a model's raw inputs need and the one function
// that applies it, against the formulas written out here.

/** x / rowsum per row in float64, rounded once to float32; rows summing to ≤ 0 unchanged. */
function rowOracle(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * cols + c]!;
    if (s > 0) for (let c = 0; c < cols; c++) out[r * cols + c] = Math.fround(x[r * cols + c]! / s);
  }
  return out;
}

describe('applyPreprocess', () => {
  it.each(SIZES.filter((n) => n > 0))(
    'row-normalize: the formula bit for bit on %i columns, empty and negative-sum rows left as they are',
    (cols) => {
      const r = rng(cols);
      const rows = 7;
      const x = Float32Array.from({ length: rows * cols }, () => (r() < 0.5 ? 0 : Math.floor(r() * 5)));
      x.fill(0, 0, cols); // an empty row
      for (let c = 0; c < cols; c++) x[cols + c] = -1 - c; // a row summing below 0
      const want = rowOracle(x, rows, cols);
      const got = applyPreprocess([{ kind: 'row-normalize' }], x.slice(), rows, cols);
      expect(bitsEqual(got, want)).toBe(true);
      for (let row = 2; row < rows; row++) {
        const s = got.subarray(row * cols, (row + 1) * cols).reduce((a, b) => a + b, 0);
        if (x.subarray(row * cols, (row + 1) * cols).some((v) => v > 0)) expect(s).toBeCloseTo(1, 5);
      }
    },
  );

  it("rowNormalize (graft train's) is the same function: the same bits as applyPreprocess", () => {
    const ds = plantedPartition({ nodes: 120, features: 17, seed: 3 });
    const raw = ds.features.map((v, i) => v * (1 + (i % 4)));
    ds.features = raw.slice();
    rowNormalize(ds);
    expect(bitsEqual(ds.features, applyPreprocess([{ kind: 'row-normalize' }], raw.slice(), 120, 17))).toBe(true);
    expect(bitsEqual(ds.features, rowOracle(raw, 120, 17))).toBe(true);
  });

  it("standardize: (x − mean) / sd per column with the fitted training rows' mean and population sd; sd 0 divides by 1", () => {
    const rows = 9,
      cols = 5;
    const x = randn(rows * cols, 4).map((v, i) => v * 3 + (i % cols));
    for (let r = 0; r < rows; r++) x[r * cols + 4] = 2; // a constant column
    const train = [0, 2, 3, 5, 8];
    const step = fitStandardize(x, cols, train) as Extract<PreprocessStep, { kind: 'standardize' }>;
    for (let c = 0; c < cols; c++) {
      const v = train.map((r) => x[r * cols + c]!);
      const m = v.reduce((a, b) => a + b, 0) / v.length;
      expect(step.mean[c]).toBeCloseTo(m, 12);
      expect(step.sd[c]).toBeCloseTo(Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length), 12);
    }
    expect(step.sd[4]).toBe(0);
    const got = applyPreprocess([step], x.slice(), rows, cols);
    for (let i = 0; i < rows * cols; i++) {
      const c = i % cols;
      expect(got[i]).toBe(Math.fround((x[i]! - step.mean[c]!) / (c === 4 ? 1 : step.sd[c]!)));
    }
    // The training rows come out with mean 0 and sd 1 in each varying column.
    for (let c = 0; c < 4; c++)
      expect(train.reduce((a, r) => a + got[r * cols + c]!, 0) / train.length).toBeCloseTo(0, 5);
    expect(() => applyPreprocess([step], new Float32Array(6), 2, 3)).toThrow(
      /fitted on 5 columns, the features have 3/,
    );
  });

  it('steps apply in order; an unknown step is refused, never skipped', () => {
    const x = Float32Array.of(1, 3, 2, 2);
    const std: PreprocessStep = { kind: 'standardize', mean: [0.5, 0.5], sd: [0.25, 0.25] };
    expect([...applyPreprocess([{ kind: 'row-normalize' }, std], x.slice(), 2, 2)]).toEqual([-1, 1, 0, 0]);
    expect(() => applyPreprocess([{ kind: 'log1p' } as unknown as PreprocessStep], x.slice(), 2, 2)).toThrow(
      /unknown step "log1p"/,
    );
    expect(() => applyPreprocess([], x, 3, 2)).toThrow(/must be 3 × 2 values, got 4/);
  });
});

describe('the preprocessing record in model files', () => {
  it('round-trips through the metadata; damaged or unknown records name the file', () => {
    const p = {
      features: [{ kind: 'row-normalize' as const }],
      featurizer: { name: 'graft-atoms-v1', atomFeatures: 48 },
    };
    expect(readPreprocess(preprocessMetadata(p), 'm')).toEqual({ version: 1, ...p });
    expect(readPreprocess({}, 'm')).toBeNull();
    expect(() => readPreprocess({ preprocess: '{' }, 'm.safetensors')).toThrow(
      /^m\.safetensors: its metadata 'preprocess' is not JSON$/,
    );
    expect(() => readPreprocess({ preprocess: '{"version":2,"features":[]}' }, 'm.safetensors')).toThrow(
      /m\.safetensors: its preprocessing record is not one this version of graft reads/,
    );
    expect(() => readPreprocess({ preprocess: '{"version":1,"features":[{"kind":"clr"}]}' }, 'm.safetensors')).toThrow(
      /m\.safetensors: preprocessing step "clr" is not one this version of graft knows/,
    );
  });

  it('a model file written from a checkpoint keeps the record (export, quantize)', () => {
    const cp = {
      tensors: new Map([
        ['model.gcn0.weight', { shape: [3, 2], data: new Float32Array(6) }],
        ['model.gcn0.bias', { shape: [2], data: new Float32Array(2) }],
      ]),
      metadata: {
        task: 'node',
        config: JSON.stringify({ layers: 1, restoreBest: false }),
        ...preprocessMetadata({ features: [{ kind: 'row-normalize' }] }),
      },
    };
    const m = parseModelFile(cp, 'cp');
    expect(m.preprocess).toEqual({ version: 1, features: [{ kind: 'row-normalize' }] });
    expect(parseModelFile(reportedModel(m), 'model').preprocess).toEqual(m.preprocess);
  });

  it('graft train records row normalization for Planetoid and CSVs unless --no-normalize, none for the generated sets', () => {
    expect(dataPreprocess({ dataset: 'cora', normalize: true })).toEqual([{ kind: 'row-normalize' }]);
    expect(dataPreprocess({ dataset: 'cora', normalize: false })).toEqual([]);
    expect(dataPreprocess({ dataset: 'custom', edges: 'e', features: 'f', labels: 'l', normalize: true })).toEqual([
      { kind: 'row-normalize' },
    ]);
    expect(dataPreprocess({ dataset: 'synthetic', normalize: true })).toEqual([]);
    expect(dataPreprocess({ dataset: 'synthetic-arxiv', normalize: true })).toEqual([]);
  });
});
