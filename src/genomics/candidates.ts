import type { GpModel } from './gp-models.js';
import type { CvJobResult } from './job-types.js';
import type { Runtime } from '../runtime/runtime.js';
import {
  combine,
  newSampleEdges,
  sampleFeatures,
  sampleRows,
  scoreKernel,
  scoreMembers,
  studyRow,
  type KeptModel,
  type SampleRows,
  type ScoringBasis,
} from './kept-models.js';
import type { StudyData } from './study-data.js';

// Candidates: genotyped samples with no phenotype for a trait, predicted by each model fitted
// on every phenotyped sample (the final fits). One long table for graft gp (candidates.csv)
// and graft predict (the same columns for new genotypes):
//   id, trait, model, prediction, sd (the members' spread: GCN models), reliability
//   (1 − PEV/(σg² K_ss): GBLUP and the RKHS models), rank (1 = highest within trait × model).

/** One row of candidates.csv: a sample's prediction by one model for one trait, with its ensemble sd, reliability and rank. */
export interface CandidateRow {
  id: string;
  trait: string;
  model: GpModel;
  prediction: number;
  sd: number | null;
  reliability: number | null;
  rank: number;
}

export const CANDIDATE_COLUMNS = 'id,trait,model,prediction,sd,reliability,rank';

/** The kept model of each final fit (model, trait), with the GCN input shape its members need. */
export function keptModels(data: StudyData, finals: CvJobResult[]): KeptModel[] {
  const out: KeptModel[] = [];
  for (const r of finals) {
    for (const pt of r.perTrait) {
      if (!pt.final) continue;
      const shape = pt.final.members
        ? {
            f: data.f,
            ...(data.featureBlocks ? { blocks: data.featureBlocks } : {}),
            ...(r.job.model === 'hybrid' && data.covariates ? { covariates: data.covariates.width } : {}),
          }
        : undefined;
      out.push({ model: r.job.model, trait: data.traits[pt.trait]!, final: pt.final, ...(shape ? { shape } : {}) });
    }
  }
  return out;
}

/**
 * Every candidate's prediction by every model, from the final fits: kernel and linear models
 * through the kept model (scoreKernel on the candidate's rows, what graft predict does with
 * the same genotypes); the GCN part as fitted, with the candidate in the graph (transductive).
 * across and gxe score each stage on the relationship (μ with the environment's level, α).
 */
export function studyCandidates(
  basis: ScoringBasis,
  data: StudyData,
  finals: CvJobResult[],
  models: GpModel[],
): CandidateRow[] {
  const rowsOf = new Map<number, SampleRows>();
  const rows = (i: number): SampleRows => {
    let r = rowsOf.get(i);
    if (!r) {
      const given =
        basis.relationship === 'given'
          ? { row: data.grm.slice(i * data.n, (i + 1) * data.n), self: data.grm[i * data.n + i]! }
          : null;
      r = sampleRows(basis, basis.markers ? studyRow(basis, i) : null, given);
      rowsOf.set(i, r);
    }
    return r;
  };
  const out: CandidateRow[] = [];
  for (const r of finals) {
    for (const pt of r.perTrait) {
      const trait = data.traits[pt.trait]!;
      const kept: KeptModel = { model: r.job.model, trait, final: pt.final ?? {} };
      pt.test.forEach((i, q) => {
        const base = { id: data.ids[i]!, trait, model: r.job.model, rank: 0 };
        if (!pt.final) {
          out.push({ ...base, prediction: pt.predicted[q]!, sd: null, reliability: null });
          return;
        }
        const kern = pt.final.kernel ? scoreKernel(basis, pt.final.kernel, rows(i)) : null;
        const members = pt.final.memberTest ? pt.final.memberTest.map((m) => m[q]!) : null;
        const dev = pt.final.deviation ? scoreKernel(basis, pt.final.deviation, rows(i)) : null;
        out.push({ ...base, ...combine(kept, kern, members, dev) });
      });
    }
  }
  return rankCandidates(out, data.traits, models);
}

/** Ranks within trait × model (1 = highest; ties by input order) and orders rows by trait, model, rank. */
export function rankCandidates(rows: CandidateRow[], traits: string[], models: GpModel[]): CandidateRow[] {
  const at = new Map(rows.map((r, i) => [r, i]));
  const groups = new Map<string, CandidateRow[]>();
  for (const r of rows) {
    const key = `${r.trait}\u0000${r.model}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  for (const g of groups.values()) {
    g.sort((a, b) => b.prediction - a.prediction || at.get(a)! - at.get(b)!);
    g.forEach((r, k) => {
      r.rank = k + 1;
    });
  }
  return [...rows].sort(
    (a, b) =>
      traits.indexOf(a.trait) - traits.indexOf(b.trait) ||
      models.indexOf(a.model) - models.indexOf(b.model) ||
      a.rank - b.rank,
  );
}

/** The rows as CSV; numbers at full precision (shortest round-trip), so equal predictions read back as equal bits. */
export function candidatesCsv(rows: CandidateRow[]): string {
  const num = (v: number | null): string => (v === null || !Number.isFinite(v) ? '' : String(v));
  return `${[CANDIDATE_COLUMNS, ...rows.map((r) => [JSON.stringify(r.id), r.trait, r.model, num(r.prediction), num(r.sd), num(r.reliability), r.rank].join(','))].join('\n')}\n`;
}

/** New samples for kept models: their ids, imputed dosage rows (marker runs) and relationship rows (runs made with a relationship file). */
export interface NewSamples {
  ids: string[];
  dosage: Float32Array[] | null;
  given: { rows: Float64Array[]; self: number[] } | null;
}

/**
 * Every new sample scored by every kept model (graft predict): kernel and linear models by
 * scoreKernel, exactly as graft gp scores its candidates; GCN models with each sample joined
 * to the study's graph by the stored rule (scoreMembers). Rows ranked like candidates.csv.
 */
export async function predictNewSamples(
  rt: Runtime,
  basis: ScoringBasis,
  kept: KeptModel[],
  s: NewSamples,
): Promise<CandidateRow[]> {
  const rows = s.ids.map((_, q) =>
    sampleRows(
      basis,
      s.dosage ? s.dosage[q]! : null,
      s.given ? { row: s.given.rows[q]!, self: s.given.self[q]! } : null,
    ),
  );
  let graph: { features: Float32Array; edges: number[] }[] | null = null;
  const out: CandidateRow[] = [];
  for (const k of kept) {
    let members: Float64Array[] | null = null;
    if (k.final.members) {
      graph ??= rows.map((r) => ({ features: sampleFeatures(basis, r), edges: newSampleEdges(basis, r) }));
      members = await scoreMembers(rt, basis, k, graph);
    }
    s.ids.forEach((id, q) => {
      const kern = k.final.kernel ? scoreKernel(basis, k.final.kernel, rows[q]!) : null;
      const dev = k.final.deviation ? scoreKernel(basis, k.final.deviation, rows[q]!) : null;
      out.push({
        id,
        trait: k.trait,
        model: k.model,
        rank: 0,
        ...combine(k, kern, members ? members.map((m) => m[q]!) : null, dev),
      });
    });
  }
  const traits = [...new Set(kept.map((k) => k.trait))],
    models = [...new Set(kept.map((k) => k.model))];
  return rankCandidates(out, traits, models);
}
