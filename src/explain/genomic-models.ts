import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ensureDir } from '../core/atomic-write.js';
import { GraftError } from '../core/errors.js';
import { GP_MODELS_FORMAT, reportedPrefix, weightsUnder } from '../nn/load-weights.js';
import type { StudyData } from '../genomics/study-data.js';
import type { GcnRegressorConfig } from '../train/gcn-regressor.js';
import { loadCheckpoint, saveCheckpoint, type StoredTensor } from '../train/checkpoint.js';
import type { GcnMember } from './genomic.js';

// The genomic GCN ensembles fitted on every phenotyped sample, one file per trait
// (models/gcn-<trait>.safetensors): member e's weights as m<e>.<parameter>, with each member's
// seed and the trait's scale in the metadata, and a fingerprint of what they were fitted on,
// so a file from other data or settings is never explained as this run's.

export const GENOMIC_MODEL_FORMAT = GP_MODELS_FORMAT;

const fileSafe = (s: string): string => s.replace(/[^A-Za-z0-9_.-]+/g, '_');
export const genomicModelFile = (dir: string, trait: string): string => join(dir, `gcn-${fileSafe(trait)}.safetensors`);

/** What the members depend on: the config, the trait's values, the features and the graph. */
export function fitFingerprint(data: StudyData, trait: number, c: GcnRegressorConfig): string {
  const h = createHash('sha256').update(JSON.stringify([c, data.n, data.f, data.featureBlocks ?? null]));
  for (const a of [
    new Float64Array(data.y[trait]!),
    new Float32Array(data.features),
    new Int32Array(data.src),
    new Int32Array(data.dst),
  ])
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

/**
 * Writes the members with what rebuilds them (the config and the input widths), so the
 * inference entry (graft/infer) can run them from this file alone.
 */
export function saveGenomicModels(
  file: string,
  members: GcnMember[],
  fingerprint: string,
  config: GcnRegressorConfig,
  data: StudyData,
): void {
  ensureDir(dirname(file));
  const tensors = new Map<string, StoredTensor>();
  members.forEach((m, e) => {
    for (const [k, w] of m.weights) tensors.set(`m${e}.${k}`, { shape: [w.length], data: w });
  });
  const shape = { features: data.f, blocks: data.featureBlocks ?? [data.f] };
  saveCheckpoint(file, {
    tensors,
    metadata: {
      format: GENOMIC_MODEL_FORMAT,
      fit_sha256: fingerprint,
      members: JSON.stringify(members.map((m) => ({ seed: m.seed, scale: m.scale }))),
      config: JSON.stringify(config),
      shape: JSON.stringify(shape),
    },
  });
}

/** The file beside the models holding what they read: every sample's model features, the sample graph, and the sample ids. */
export const genomicInputsFile = (dir: string): string => join(dir, 'inputs.safetensors');

export function saveGenomicInputs(file: string, data: StudyData): void {
  ensureDir(dirname(file));
  const tensors = new Map<string, StoredTensor>([
    ['features', { shape: [data.n, data.f], data: new Float32Array(data.features) }],
    ['src', { shape: [data.src.length], data: new Int32Array(data.src) }],
    ['dst', { shape: [data.dst.length], data: new Int32Array(data.dst) }],
  ]);
  saveCheckpoint(file, {
    tensors,
    metadata: { format: 'graft-gp-inputs-v1', ids: JSON.stringify(data.ids), traits: JSON.stringify(data.traits) },
  });
}

/** The members kept in `file`, or null when there is none; a file of another fit is refused. */
export function loadGenomicModels(file: string, fingerprint: string): GcnMember[] | null {
  if (!existsSync(file)) return null;
  const cp = loadCheckpoint(file);
  if (cp.metadata['format'] !== GENOMIC_MODEL_FORMAT)
    throw new GraftError(
      `${file}: not a graft gp model file (format ${cp.metadata['format'] ?? 'none'}, expected ${GENOMIC_MODEL_FORMAT})`,
    );
  if (cp.metadata['fit_sha256'] !== fingerprint)
    throw new GraftError(
      `${file}: these models were fitted on other data or settings than the run's (fingerprint differs); remove the file, or fit the models again with the run's data and settings`,
    );
  const info = JSON.parse(cp.metadata['members'] ?? '[]') as { seed: number; scale: { mean: number; sd: number } }[];
  const prefix = reportedPrefix(cp, file);
  return info.map((m, e) => ({ seed: m.seed, scale: m.scale, weights: weightsUnder(cp, `${prefix}m${e}.`) }));
}
