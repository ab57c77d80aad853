import { GraftError } from '../core/errors.js';
import { type ScoringBasis, studyRow } from '../genomics/kept-models.js';
import type { StudyData } from '../genomics/study-data.js';
import { type KernelScoring, sampleRows, scoreKernel } from '../graph/gp-scoring.js';
import { gcnNormArrays } from '../graph/gcn-norm.js';
import type { Runtime } from '../runtime/runtime.js';
import type { GcnRegressorConfig } from '../train/gcn-regressor.js';
import { type GcnMember, memberProbe } from './genomic.js';
import { columnObjective, probeGraph } from './graph-probe.js';
import { kernelShap, kernelShapAsync, type KernelShapValues } from './kernelshap.js';

// KernelSHAP of a genomic GCN ensemble for single lines, over the features the GCN reads (the
// standardized markers, or the principal components with graft gp --features pcs). The game
// is interventional at the line's own node: a coalition keeps the line's features in it and
// takes the others from a background line, while every other node of the sample graph keeps
// its own features and the graph is unchanged. Each masked row is one copy of the whole graph;
// GraphProbe runs many copies side by side in one block-diagonal pass. The output is the
// ensemble's prediction in trait units (members' outputs · sd + mean, averaged).

/**
 * The ensemble as a function of one line's features: `at(node)` scores rows [count, f], each
 * placed at that node with every other node as it is, in trait units. dispose() frees the
 * members' models.
 */
export function genomicLineScorer(
  rt: Runtime,
  data: StudyData,
  c: GcnRegressorConfig,
  members: GcnMember[],
): { at(node: number): (rows: Float64Array, count: number) => Promise<Float64Array>; dispose(): void } {
  const f = data.f,
    X = data.features;
  // One normalized graph for every member's probe, as explain/genomic.ts builds it.
  const g = probeGraph(data.n, gcnNormArrays(data.n, data.src, data.dst), data.src, data.dst);
  const probes = members.map((m) => memberProbe(rt, data, g, c, m));
  return {
    at(node) {
      const objective = columnObjective({ kind: 'node', node }, 0, 1);
      return async (rows, count) => {
        const out = new Float64Array(count);
        for (const [t, probe] of probes.entries()) {
          const sc = members[t]!.scale;
          for (let c0 = 0; c0 < count; c0 += probe.chunk) {
            const copies = [];
            for (let k = c0; k < Math.min(count, c0 + probe.chunk); k++) {
              const x = Float32Array.from(X);
              for (let j = 0; j < f; j++) x[node * f + j] = rows[k * f + j]!;
              copies.push({ x });
            }
            const res = await probe.run(copies, objective);
            res.values.forEach((v, k) => {
              out[c0 + k]! += (v * sc.sd + sc.mean) / members.length;
            });
          }
        }
        return out;
      };
    },
    dispose() {
      for (const p of probes) p.dispose();
    },
  };
}

/** What genomicKernelShap explains and with what: the lines, the background lines, the coalition budget and the seed. */
export interface GenomicShapOptions {
  /** The lines (row indices of data) to explain. */
  rows: readonly number[];
  /** Background lines whose features stand in for absent ones. */
  background: readonly number[];
  budget: number;
  seed: number;
}

/**
 * SHAP values of the ensemble's prediction for each listed line over the GCN's f features:
 * values [rows, f], base value and prediction per line (the base varies by line: the
 * background is placed at that line's node of the graph).
 */
export async function genomicKernelShap(
  rt: Runtime,
  data: StudyData,
  c: GcnRegressorConfig,
  members: GcnMember[],
  o: GenomicShapOptions,
): Promise<{ values: Float64Array; base: Float64Array; prediction: Float64Array; coalitions: number; exact: boolean }> {
  const f = data.f,
    X = data.features;
  const background = new Float64Array(o.background.length * f);
  o.background.forEach((b, r) => {
    for (let j = 0; j < f; j++) background[r * f + j] = X[b * f + j]!;
  });
  const scorer = genomicLineScorer(rt, data, c, members);
  const values = new Float64Array(o.rows.length * f),
    base = new Float64Array(o.rows.length),
    prediction = new Float64Array(o.rows.length);
  let last: KernelShapValues | null = null;
  try {
    for (const [r, node] of o.rows.entries()) {
      const predict = scorer.at(node);
      const own = Float64Array.from({ length: f }, (_, j) => X[node * f + j]!);
      last = await kernelShapAsync(predict, own, 1, f, {
        background,
        backgroundRows: o.background.length,
        budget: o.budget,
        seed: o.seed,
      });
      values.set(last.values, r * f);
      base[r] = last.base[0]!;
      prediction[r] = last.prediction[0]!;
    }
  } finally {
    scorer.dispose();
  }
  return { values, base, prediction, coalitions: last?.coalitions ?? 0, exact: last?.exact ?? true };
}

// KernelSHAP of graft gp's kernel and linear models (GBLUP, rrBLUP, RKHS, RKHS-KA) as kept by
// graft gp --keep-models, over the markers: a line is its dosage row (0..2, or 0/1 for a binary
// coding), and the model is what graft predict runs on a new line's genotypes, μ + Σ_t k(x, x_t) α_t
// (sampleRows, scoreKernel). The game is interventional: absent markers take a background
// line's dosages. rrBLUP is linear in the dosages, φ_j = β_j (x_j − E[x_j]) with
// β_j = inv_j Σ_t α_t w_tj; GBLUP is linear too (by VanRaden's z), the RKHS models are not.

/** A kept kernel or linear model as a function of lines' dosage rows [count, markers]: one prediction per row (trait units). */
export function kernelModelScorer(
  basis: ScoringBasis,
  fit: KernelScoring,
): (rows: Float64Array, count: number) => Float64Array {
  const m = basis.markers?.names.length ?? 0;
  if (!basis.markers)
    throw new GraftError('kernelModelScorer: the run was made from a relationship matrix only (no markers to explain)');
  const row = new Float32Array(m);
  return (rows, count) => {
    const out = new Float64Array(count);
    for (let k = 0; k < count; k++) {
      for (let j = 0; j < m; j++) row[j] = rows[k * m + j]!;
      out[k] = scoreKernel(basis, fit, sampleRows(basis, row, null)).prediction;
    }
    return out;
  };
}

/**
 * SHAP values of a kept kernel or linear model for the listed study lines over its markers:
 * values [rows, markers], one base value (the mean prediction over the background lines) and
 * each line's prediction, which is graft predict's for the same genotypes.
 */
export function kernelModelShap(basis: ScoringBasis, fit: KernelScoring, o: GenomicShapOptions): KernelShapValues {
  const m = basis.markers?.names.length ?? 0;
  const gather = (lines: readonly number[]): Float64Array => {
    const out = new Float64Array(lines.length * m);
    lines.forEach((i, r) => {
      out.set(studyRow(basis, i), r * m);
    });
    return out;
  };
  return kernelShap(kernelModelScorer(basis, fit), gather(o.rows), o.rows.length, m, {
    background: gather(o.background),
    backgroundRows: o.background.length,
    budget: o.budget,
    seed: o.seed,
  });
}
