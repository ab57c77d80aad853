import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { syntheticGenomicData } from '../src/data/genomic-synthetic.js';
import { decodeCheckpoint, encodeCheckpoint } from '../src/train/checkpoint.js';
import { rng, runGraftAsync, tempDir } from './helpers.js';

// graft/infer on graft gp --keep-models: the kept kernel and linear models (gblup, rkhs,
// rrblup) score raw named dosages from the two files' bytes. Oracle: graft predict on the same
// raw genotypes in a file (the CLI reads the file, aligns, imputes and scores through
// genomics/kept-models.ts): the same bits, through the built bundle. The inputs hold markers
// the model never saw, lack some of its markers and have missing calls, so alignment and
// imputation are exercised; a shuffled marker order gives the same bits; too few markers is
// refused, as is a GCN model or another run's model.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundleFile = join(root, 'dist', 'infer', 'graft-infer.js');
type Bundle = typeof import('../src/infer/index.js');

const dir = tempDir('graft-infer-gp-');
const put = (name: string, text: string): string => {
  writeFileSync(join(dir, name), text);
  return join(dir, name);
};
const data = syntheticGenomicData({ samples: 64, chromosomes: 2, markersPerChromosome: 40, seed: 23 });
const m = data.markers.length;
const trainN = 52,
  fresh = data.ids.slice(trainN).map((_, q) => trainN + q); // 12 samples the run never saw
const r = rng(9);

// The new samples' raw genotypes: 3 of the model's markers absent, 2 extra markers, about 3% missing calls.
const absent = new Set([5, 17, 60]);
const newMarkers = [...data.markers.filter((_, j) => !absent.has(j)), 'extra_a', 'extra_b'];
const newDosage = new Float64Array(fresh.length * newMarkers.length);
fresh.forEach((i, q) => {
  newMarkers.forEach((name, c) => {
    const j = data.markers.indexOf(name);
    newDosage[q * newMarkers.length + c] =
      j < 0 ? Math.floor(r() * 3) : r() < 0.03 ? NaN : data.completeDosage[i * m + j]!;
  });
});
const csvOf = (ids: string[], markers: string[], d: ArrayLike<number>): string =>
  `${[
    ['id', ...markers].join(','),
    ...ids.map((id, q) =>
      [
        id,
        ...markers.map((_, c) => {
          const v = d[q * markers.length + c]!;
          return Number.isNaN(v) ? 'NA' : String(v);
        }),
      ].join(','),
    ),
  ].join('\n')}\n`;

let run = '',
  predictLog = '',
  bundle: Bundle;
const predicted = new Map<string, { prediction: string; reliability: string }>();
const bytes = (f: string): Uint8Array => readFileSync(join(run, 'models', f));

beforeAll(async () => {
  const trainIds = data.ids.slice(0, trainN);
  const geno = put('geno.csv', csvOf(trainIds, data.markers, data.dosage.subarray(0, trainN * m)));
  const y = data.traits[0]!.values;
  // Every 6th training sample unphenotyped: a candidate, not in the fit.
  const pheno = put(
    'pheno.csv',
    `${['id,yield', ...trainIds.map((id, i) => `${id},${i % 6 === 1 ? 'NA' : y[i]!.toFixed(5)}`)].join('\n')}\n`,
  );
  run = join(dir, 'run');
  const g = await runGraftAsync([
    'gp',
    '--geno',
    geno,
    '--pheno',
    pheno,
    '--trait',
    'yield',
    '--models',
    'gblup,rkhs,rrblup',
    '--keep-models',
    '--k',
    '3',
    '--out',
    run,
    '--threads',
    '1',
    '--quiet',
  ]);
  expect(g.status, g.stderr).toBe(0);
  const out = join(dir, 'pred.csv');
  const p = await runGraftAsync([
    'predict',
    '--run',
    run,
    '--geno',
    put(
      'new.csv',
      csvOf(
        fresh.map((i) => data.ids[i]!),
        newMarkers,
        newDosage,
      ),
    ),
    '--out',
    out,
    '--threads',
    '1',
  ]);
  expect(p.status, p.stderr).toBe(0);
  predictLog = p.stderr;
  for (const line of readFileSync(out, 'utf8').trim().split('\n').slice(1)) {
    const [id, , model, prediction, , reliability] = line.split(',');
    predicted.set(`${JSON.parse(id!)}|${model}`, { prediction: prediction!, reliability: reliability! });
  }
  bundle = (await import(bundleFile)) as Bundle;
}, 60_000);

describe('graft/infer: kept gp kernel and linear models on raw genotypes', () => {
  it("gives graft predict's bits for gblup, rkhs and rrblup, whatever the marker order", () => {
    expect(predicted.size).toBe(3 * fresh.length);
    for (const model of ['gblup', 'rkhs', 'rrblup']) {
      const gm = bundle.loadGenomicModel(bytes('scoring.safetensors'), bytes(`kept-${model}-yield.safetensors`));
      expect([gm.model, gm.trait]).toEqual([model, 'yield']);
      expect(gm.markers.length).toBeGreaterThan(0.9 * m); // QC keeps most of them
      const res = gm.predictGenotypes({ markers: newMarkers, dosages: newDosage, samples: fresh.length });
      const present = gm.markers.filter((x) => newMarkers.includes(x)).length;
      expect(present).toBeLessThan(gm.markers.length); // some of the absent ones passed QC
      expect(res.overlap.present).toBe(present);
      expect(predictLog).toContain(`${present} of the model's ${gm.markers.length} markers present`);
      expect(predictLog).toContain(`${res.overlap.imputed} cell(s) (missing calls and absent markers) filled`);
      fresh.forEach((i, q) => {
        const want = predicted.get(`${data.ids[i]}|${model}`)!;
        expect(
          Object.is(res.prediction[q], Number(want.prediction)),
          `${model} ${data.ids[i]}: ${res.prediction[q]} vs ${want.prediction}`,
        ).toBe(true);
        if (want.reliability === '') expect(res.reliability[q]).toBeNaN();
        else expect(Object.is(res.reliability[q], Number(want.reliability))).toBe(true);
      });
      expect(
        model === 'rrblup' ? res.reliability.every(Number.isNaN) : res.reliability.every((v) => v > 0 && v <= 1),
      ).toBe(true);
      // The same samples with the columns in another order (and float32 dosages): the same bits.
      const perm = newMarkers.map((_, c) => c).sort(() => r() - 0.5);
      const shuffled = new Float32Array(newDosage.length);
      fresh.forEach((_, q) => {
        perm.forEach((c, c2) => {
          shuffled[q * perm.length + c2] = newDosage[q * newMarkers.length + c]!;
        });
      });
      const again = gm.predictGenotypes({
        markers: perm.map((c) => newMarkers[c]!),
        dosages: shuffled,
        samples: fresh.length,
      });
      expect([...again.prediction]).toEqual([...res.prediction]);
      expect(again.prediction.every((v, q) => Object.is(v, res.prediction[q]))).toBe(true);
    }
  });

  it("refuses too few of the model's markers unless the minimum is lowered, and malformed input", () => {
    const gm = bundle.loadGenomicModel(bytes('scoring.safetensors'), bytes('kept-gblup-yield.safetensors'));
    const mm = gm.markers.length,
      h = Math.floor(mm / 2),
      half = gm.markers.slice(0, h),
      d = new Float64Array(2 * h).fill(1);
    expect(() => gm.predictGenotypes({ markers: half, dosages: d, samples: 2 })).toThrow(
      new RegExp(
        `^predictGenotypes: ${h} of the model's ${mm} markers are present \\(${((100 * h) / mm).toFixed(1)}%\\); scoring needs at least 90%`,
      ),
    );
    const ok = gm.predictGenotypes({ markers: half, dosages: d, samples: 2 }, { minOverlap: 0.45 });
    expect(ok.overlap.present).toBe(h);
    expect(ok.overlap.imputed).toBe(2 * (mm - h));
    expect(ok.prediction[0]).toBe(ok.prediction[1]); // identical samples
    expect(() => gm.predictGenotypes({ markers: half, dosages: d, samples: 3 })).toThrow(
      `dosages holds ${2 * h} values; 3 samples × ${h} markers need ${3 * h}`,
    );
    expect(() => gm.predictGenotypes({ markers: ['a', 'a'], dosages: new Float64Array(2), samples: 1 })).toThrow(
      /marker 'a' is given twice/,
    );
  });

  it('refuses a GCN model and a model kept by another run, by name', () => {
    const kept = decodeCheckpoint(bytes('kept-gblup-yield.safetensors'));
    const as = (md: Record<string, string>): Uint8Array =>
      encodeCheckpoint({ tensors: kept.tensors, metadata: { ...kept.metadata, ...md } });
    expect(() =>
      bundle.loadGenomicModel(bytes('scoring.safetensors'), as({ model: 'boost' }), {
        kept: 'kept-boost-yield.safetensors',
      }),
    ).toThrow(
      /kept-boost-yield\.safetensors: graft\/infer scores the kernel and linear gp models .*boost runs an ensemble on the study's sample graph: score it with graft predict/,
    );
    expect(() => bundle.loadGenomicModel(bytes('scoring.safetensors'), as({ basis: '0'.repeat(64) }))).toThrow(
      /kept from other data than scoring\.safetensors/,
    );
    expect(() =>
      bundle.loadGenomicModel(bytes('kept-gblup-yield.safetensors'), bytes('kept-gblup-yield.safetensors')),
    ).toThrow(/not a graft gp scoring file/);
  });
});
