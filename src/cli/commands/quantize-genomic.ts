import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { genomicModelFile } from '../../explain/genomic-models.js';
import { gcnNormArrays } from '../../graph/gcn-norm.js';
import { loadModel, type KernelBinaries, type LoadOptions } from '../../infer/index.js';
import type { Linear } from '../../nn/layers.js';
import { int8Entries, quantizeLinear, RangeObserver } from '../../quant/int8.js';
import { int8StackBound, type CalibratedLinear } from '../../quant/int8-bound.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../train/checkpoint.js';
import { soupModelFile } from './gp.js';

// graft quantize --int8 on a gp run's kept GCN (graft gp --keep-models): the ensemble
// (models/gcn-<trait>.safetensors) or the soup (models/gcn-soup-<trait>.safetensors), each
// member's linear maps in int8 as for node and graph runs (quant/int8.ts), calibrated on the
// study's samples (models/inputs.safetensors: the features and sample graph the run kept).
// Written beside it as <model>-<trait>.int8.safetensors, a gp model file graft/infer's
// predictGenomic reads; reported: float and int8 predictions of the study's samples, their
// largest difference and the bound the quantization steps give (quant/int8-bound.ts).

/** The kept gp GCN models graft quantize takes. */
export const GP_QUANTIZE_MODELS = ['gcn', 'gcn-soup'] as const;

/** The int8 file of a kept gp GCN model file: gcn-soup-env1.safetensors → gcn-soup-env1.int8.safetensors. */
export const int8ModelFile = (file: string): string => file.replace(/\.safetensors$/, '.int8.safetensors');

/** Quantizes RUN/models' kept `model` of `trait` (left out: the soup where the run kept one, else gcn); prints the report as one JSON line. */
export async function quantizeGenomic(
  run: string,
  trait: string,
  chosen: (typeof GP_QUANTIZE_MODELS)[number] | undefined,
  out: string | undefined,
  kernels: KernelBinaries,
): Promise<void> {
  const models = join(run, 'models');
  const model = chosen ?? (existsSync(soupModelFile(models, trait)) ? 'gcn-soup' : 'gcn');
  const file = model === 'gcn' ? genomicModelFile(models, trait) : soupModelFile(models, trait);
  const inputsFile = join(models, 'inputs.safetensors');
  for (const f of [file, inputsFile])
    if (!existsSync(f))
      throw new GraftError(
        `${f}: not found: graft quantize reads a gp run's kept ${model} model (graft gp --models gcn${model === 'gcn-soup' ? ' --gcn-soup uniform|greedy' : ''} --keep-models)`,
      );
  const inputs = decodeCheckpoint(readFileSync(inputsFile), inputsFile);
  const tensor = <T>(name: string): T => {
    const t = inputs.tensors.get(name);
    if (!t) throw new GraftError(`${inputsFile}: no tensor ${name}`);
    return t.data as T;
  };
  const features = tensor<Float32Array>('features');
  const input = {
    n: inputs.tensors.get('features')!.shape[0]!,
    features,
    src: tensor<Int32Array>('src'),
    dst: tensor<Int32Array>('dst'),
  };
  const floatBytes = readFileSync(file);
  const cp = decodeCheckpoint(floatBytes, file);
  if (cp.metadata['precision'] === 'int8') throw new GraftError(`${file}: is already int8`);

  // Calibration: every member's linear maps, their input ranges over every study sample.
  const ranges = new Map<string, RangeObserver>();
  // gp model files store weights flat: each map's [k, out] is the built model's.
  const shapes = new Map<string, [number, number]>();
  const order: string[] = [];
  const observe: LoadOptions['onLinears'] = (linears: Linear[], member: string) => {
    for (const lin of linears) {
      const key = `${member}${lin.name}`;
      const r = new RangeObserver();
      ranges.set(key, r);
      shapes.set(key, lin.weight.value.shape as [number, number]);
      order.push(key);
      lin.observe = (x) => r.add(x.data() as Float32Array, x.shape[1]!, null);
    }
  };
  const floatPred = await (await loadModel(floatBytes, { kernels, onLinears: observe, name: file })).predictGenomic(
    input,
  );

  const tensors = new Map(cp.tensors);
  const calibrated = new Map<string, CalibratedLinear>();
  const calibration: Record<string, { min: number; max: number; scale: number; zero_point: number }> = {};
  for (const key of order) {
    const r = ranges.get(key)!;
    const w = tensors.get(`${key}.weight`);
    if (!w) throw new GraftError(`${file}: no weight for the linear map ${key}`);
    if (!Number.isFinite(r.min)) throw new GraftError(`${key}: calibration saw no input rows`);
    const [k, outW] = shapes.get(key)!;
    const values = quantizeLinear(w.data as Float32Array, k, outW, r);
    tensors.delete(`${key}.weight`);
    for (const [name, t] of int8Entries(key, values)) tensors.set(name, t);
    calibrated.set(key, { values, range: { min: r.min, max: r.max } });
    calibration[key] = { min: r.min, max: r.max, scale: values.inputScale, zero_point: values.zeroPoint };
  }
  const bytes = encodeCheckpoint({
    tensors,
    metadata: { ...cp.metadata, precision: 'int8', calibration: JSON.stringify(calibration) },
  });
  const target = out ?? int8ModelFile(file);
  const int8Pred = await (await loadModel(bytes, { kernels, name: target })).predictGenomic(input);
  writeFileAtomic(target, bytes);

  let maxDiff = 0;
  for (let i = 0; i < floatPred.length; i++) maxDiff = Math.max(maxDiff, Math.abs(int8Pred[i]! - floatPred[i]!));
  console.log(
    JSON.stringify({
      out: target,
      model,
      trait,
      samples: floatPred.length,
      max_abs_diff: maxDiff,
      bound: stackBound(cp.metadata, calibrated, input),
      correlation: pearson(floatPred, int8Pred),
      bytes: { float_model: floatBytes.length, int8_model: bytes.length },
      calibration,
    }),
  );
}

/**
 * The ensemble's bound in trait units: the mean over members of each member's stack bound
 * times its scale (the mean of the members' errors is at most the mean of their bounds).
 * Null for a branched model (its maps do not run one after another).
 */
function stackBound(
  metadata: Record<string, string>,
  calibrated: ReadonlyMap<string, CalibratedLinear>,
  input: { n: number; src: Int32Array; dst: Int32Array },
): number | null {
  const shape = JSON.parse(metadata['shape'] ?? '{}') as { blocks?: number[] };
  if ((shape.blocks?.length ?? 0) > 1) return null;
  const members = JSON.parse(metadata['members'] ?? '[]') as { scale: { sd: number } }[];
  const a = gcnNormArrays(input.n, input.src, input.dst);
  let norm = 0;
  for (let r = 0; r < input.n; r++) {
    let s = 0;
    for (let p = a.rowPtr[r]!; p < a.rowPtr[r + 1]!; p++) s += Math.abs(a.vals[p]!);
    norm = Math.max(norm, s);
  }
  let sum = 0;
  members.forEach((m, e) => {
    const mine = [...calibrated].filter(([k]) => k.startsWith(`m${e}.`)).map(([, c]) => c);
    sum += int8StackBound(mine, norm) * m.scale.sd;
  });
  return sum / members.length;
}

function pearson(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  const ma = a.reduce((s, v) => s + v, 0) / n,
    mb = b.reduce((s, v) => s + v, 0) / n;
  let sab = 0,
    saa = 0,
    sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
