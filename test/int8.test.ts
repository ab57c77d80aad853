import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../src/infer/index.js';
import type { BackendKind } from '../src/kernels/backend.js';
import { createBackend } from '../src/kernels/wasm.js';
import { Heap } from '../src/memory/heap.js';
import { Tensor } from '../src/memory/tensor.js';
import { Int8Weight, matmulInt8 } from '../src/ops/int8.js';
import { matmul } from '../src/ops/linalg.js';
import { activationQuant, quantizeWeight } from '../src/quant/int8.js';
import { InlineExec } from '../src/runtime/inline-exec.js';
import { Runtime } from '../src/runtime/runtime.js';
import { moleculeCsv } from './fixtures.js';
import { availableBackends, bitsEqual, rng, runGraftAsync, sharedData, tempDir } from './helpers.js';

// The int8 kernels (assembly/int8.ts) against a plain-TS integer reference written here,
// bit for bit, on every build; the op against the float product; graft quantize end to end.

/** q = round-half-even(clamp(f32(f32(x·inv) + zp), 0, 127)), NaN → 0. */
function quantizeOracle(x: number, inv: number, zp: number): number {
  let v = Math.fround(Math.fround(x * Math.fround(inv)) + zp);
  v = Number.isNaN(v) ? 0 : Math.min(127, Math.max(0, v));
  const fl = Math.floor(v),
    d = v - fl;
  return d > 0.5 ? fl + 1 : d < 0.5 ? fl : fl % 2 === 0 ? fl : fl + 1;
}

function int8Oracle(
  x: Float32Array,
  m: number,
  k: number,
  q: Int8Array,
  out: number,
  weightScale: Float32Array,
  inputScale: number,
  zp: number,
): Float32Array {
  const inv = Math.fround(1 / inputScale);
  const y = new Float32Array(m * out);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < out; j++) {
      let dot = 0,
        wsum = 0;
      for (let c = 0; c < k; c++) {
        dot += q[j * k + c]! * quantizeOracle(x[i * k + c]!, inv, zp);
        wsum += q[j * k + c]!;
      }
      y[i * out + j] = Math.fround(Math.fround(dot - zp * wsum) * Math.fround(inputScale * weightScale[j]!));
    }
  }
  return y;
}

function case_(m: number, k: number, out: number, seed: number, signed: boolean): { x: Float32Array; w: Float32Array } {
  const r = rng(seed);
  const x = Float32Array.from({ length: m * k }, () => (signed ? r() * 2 - 1 : r()) * 3);
  // Exact ties of the quantization grid, zeros and values past the calibrated range.
  for (let i = 0; i < x.length; i += 7) x[i] = 0;
  if (x.length > 5) {
    x[1] = 100;
    x[2] = signed ? -100 : 0;
    x[3] = 1.5 * (3 / 127);
    x[4] = NaN;
    x[5] = 2.5 * (3 / 127);
  }
  const w = Float32Array.from({ length: k * out }, () => r() * 2 - 1);
  return { x, w };
}

describe.each(availableBackends())('int8 kernels on %s', (backend: BackendKind) => {
  it.each([
    [1, 1, 1],
    [3, 15, 4],
    [5, 16, 5],
    [7, 17, 3],
    [9, 33, 8],
    [4, 100, 7],
    [2, 1433, 16],
  ])('m=%i k=%i out=%i: bit for bit the integer oracle, unsigned and signed inputs', async (m, k, out) => {
    const heap = new Heap();
    const exec = new InlineExec(heap, createBackend(backend, heap.memory));
    for (const signed of [false, true]) {
      const { x, w } = case_(m, k, out, m * 1000 + k + out, signed);
      const { q, weightScale } = quantizeWeight(w, k, out);
      const a = activationQuant(signed ? -3 : 0, 3);
      expect(a.zeroPoint).toBe(signed ? 64 : 0);
      const iw = Int8Weight.create(heap, { q, k, out, weightScale, ...a });
      const X = Tensor.from(heap, 'float32', [m, k], x);
      const y = await matmulInt8(exec, X, iw);
      expect(
        bitsEqual(y.data() as Float32Array, int8Oracle(x, m, k, q, out, weightScale, a.inputScale, a.zeroPoint)),
        `signed ${signed}`,
      ).toBe(true);
      y.free();
      X.free();
      iw.free();
    }
  });
});

describe('int8 products', () => {
  it('are the same bits on every build and any thread count (exact integer dots)', async () => {
    const { x, w } = case_(301, 130, 19, 4, false);
    const { q, weightScale } = quantizeWeight(w, 130, 19);
    const a = activationQuant(0, 3);
    const results: Float32Array[] = [];
    for (const backend of availableBackends()) {
      for (const threads of [1, 2, 3]) {
        const rt = await Runtime.create({ threads, backend });
        try {
          const iw = Int8Weight.create(rt.heap, { q, k: 130, out: 19, weightScale, ...a });
          const y = await matmulInt8(rt.exec, Tensor.from(rt.heap, 'float32', [301, 130], x), iw);
          results.push((y.data() as Float32Array).slice());
        } finally {
          await rt.close();
        }
      }
    }
    for (const r of results) expect(bitsEqual(r, results[0]!)).toBe(true);
  });

  it('stay within the quantization error of the float product', async () => {
    const m = 64,
      k = 200,
      out = 12;
    const r = rng(12);
    const x = Float32Array.from({ length: m * k }, () => r()),
      w = Float32Array.from({ length: k * out }, () => r() * 2 - 1);
    const heap = new Heap();
    const exec = new InlineExec(heap, createBackend('js', heap.memory));
    const { q, weightScale } = quantizeWeight(w, k, out);
    for (let j = 0; j < out; j++) {
      let mx = 0;
      for (let i = 0; i < k; i++) {
        mx = Math.max(mx, Math.abs(w[i * out + j]!));
        expect(Math.abs(q[j * k + i]! * weightScale[j]! - w[i * out + j]!)).toBeLessThanOrEqual(
          weightScale[j]! / 2 + 1e-7,
        );
      }
      expect(Math.max(...Array.from({ length: k }, (_, i) => Math.abs(q[j * k + i]!)))).toBe(127);
      expect(weightScale[j]).toBeCloseTo(mx / 127, 7);
    }
    const a = activationQuant(0, 1);
    const X = Tensor.from(heap, 'float32', [m, k], x);
    const yq = (
      await matmulInt8(exec, X, Int8Weight.create(heap, { q, k, out, weightScale, ...a }))
    ).data() as Float32Array;
    const yf = (await matmul(exec, X, Tensor.from(heap, 'float32', [k, out], w))).data() as Float32Array;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < out; j++) {
        // |error| ≤ Σ_c (|x|·s_w/2 + |w|·s_x/2 + s_x·s_w/4) over the row: the two roundings' bound.
        let bound = 0;
        for (let c = 0; c < k; c++)
          bound +=
            (Math.abs(x[i * k + c]!) * weightScale[j]!) / 2 +
            (Math.abs(w[c * out + j]!) * a.inputScale) / 2 +
            (a.inputScale * weightScale[j]!) / 4;
        expect(Math.abs(yq[i * out + j]! - yf[i * out + j]!)).toBeLessThanOrEqual(bound + 1e-5);
      }
    }
  });

  it('refuses what the int8 path cannot hold', () => {
    const heap = new Heap();
    expect(() =>
      Int8Weight.create(heap, {
        q: new Int8Array(4),
        k: 2,
        out: 2,
        weightScale: new Float32Array(2),
        inputScale: 0,
        zeroPoint: 0,
      }),
    ).toThrow(/inputScale/);
    expect(() =>
      Int8Weight.create(heap, {
        q: Int8Array.of(-128, 0, 0, 0),
        k: 2,
        out: 2,
        weightScale: new Float32Array(2),
        inputScale: 1,
        zeroPoint: 0,
      }),
    ).toThrow(/\[-127, 127\]/);
    expect(() =>
      Int8Weight.create(heap, {
        q: new Int8Array(4),
        k: 2,
        out: 2,
        weightScale: new Float32Array(2),
        inputScale: 1,
        zeroPoint: 3,
      }),
    ).toThrow(/zeroPoint/);
  });
});

describe('graft quantize --int8', () => {
  const shared = sharedData();
  it.skipIf(!shared)(
    'Cora: int8 accuracy within 1 point of float, a quarter of the bytes, and graft/infer runs the file',
    async () => {
      const dir = tempDir('graft-int8-cora-');
      const run = join(dir, 'run');
      expect(
        (await runGraftAsync(['train', '--dataset', 'cora', '--threads', '2', '--out', run, '--quiet'])).status,
      ).toBe(0);
      const r = await runGraftAsync(['quantize', '--run', run, '--int8']);
      expect(r.status, r.stderr).toBe(0);
      const rep = JSON.parse(r.stdout) as {
        float: { test_accuracy: number };
        int8: { test_accuracy: number };
        bytes: { float_model: number; int8_model: number };
      };
      expect(Math.abs(rep.int8.test_accuracy - rep.float.test_accuracy)).toBeLessThanOrEqual(0.01);
      expect(rep.float.test_accuracy).toBeGreaterThan(0.79);
      expect(rep.bytes.int8_model).toBeLessThan(rep.bytes.float_model * 0.3);
      expect(statSync(join(run, 'model.int8.safetensors')).size).toBe(rep.bytes.int8_model);
      const m = await loadModel(readFileSync(join(run, 'model.int8.safetensors')));
      expect(m.task).toBe('node');
    },
  );

  it('a graph run: the int8 model file is written and scored', async () => {
    const dir = tempDir('graft-int8-graph-');
    writeFileSync(join(dir, 'mols.csv'), moleculeCsv(6));
    const run = join(dir, 'run');
    const t = await runGraftAsync([
      'train',
      '--task',
      'graph',
      '--data',
      join(dir, 'mols.csv'),
      '--epochs',
      '4',
      '--hidden',
      '16',
      '--threads',
      '2',
      '--out',
      run,
      '--quiet',
    ]);
    expect(t.status, t.stderr).toBe(0);
    const r = await runGraftAsync(['quantize', '--run', run, '--int8']);
    expect(r.status, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as {
      task: string;
      float: { test_roc_auc: number };
      int8: { test_roc_auc: number };
      calibration: Record<string, unknown>;
    };
    expect(rep.task).toBe('graph');
    expect(Object.keys(rep.calibration).sort()).toEqual(['gcn0', 'gcn1', 'head']);
    expect(Number.isFinite(rep.int8.test_roc_auc)).toBe(true);
    const bad = await runGraftAsync(['quantize', '--run', run]);
    expect(bad.stderr).toMatch(/--int8 is required/);
  });
});
