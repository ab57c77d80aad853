import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { choices, joinNegativeValues, num } from '../args.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { readGenotypes } from '../../data/genotypes.js';
import { type NewSamples, candidatesCsv, predictNewSamples } from '../../genomics/candidates.js';
import { GP_MODELS, type GpModel } from '../../genomics/gp-models.js';
import {
  alignGenotypes,
  keptModelFiles,
  type KeptModel,
  loadKeptModel,
  loadScoringBasis,
  scoringFile,
} from '../../genomics/kept-models.js';
import { readRelationshipRows } from '../../genomics/relationship.js';
import { Runtime } from '../../runtime/runtime.js';
import { genomicModelFile } from '../../explain/genomic-models.js';
import { loadModel } from '../../infer/index.js';
import { decodeCheckpoint } from '../../train/checkpoint.js';
import { soupModelFile } from './gp.js';
import { localKernels } from './quantize.js';
import { int8ModelFile } from './quantize-genomic.js';

// graft predict on a genomic run: the models graft gp --keep-models fitted on every
// phenotyped sample score genotypes they have never seen, with candidates.csv's columns.

export const PREDICT_GENOMIC_USAGE = `  graft predict --run GP_RUN --geno FILE.(vcf|vcf.gz|csv) [--relationship FILE] [--out FILE] [--models M,...]
           [--min-overlap 0.9] [--int8] [--threads N] [--quiet]   (a graft gp run made with --keep-models; writes
             id,trait,model,prediction,sd,reliability,rank as candidates.csv; --relationship: the new samples'
             rows against every sample of the run, for runs made with --relationship; --int8: gcn and gcn-soup
             from the int8 files graft quantize --trait wrote, by graft/infer, the members' mean with no sd)`;

export async function predictGenomicRun(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      run: { type: 'string' },
      geno: { type: 'string' },
      relationship: { type: 'string' },
      out: { type: 'string' },
      models: { type: 'string' },
      'min-overlap': { type: 'string' },
      int8: { type: 'boolean' },
      threads: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  const dir = resolve(v.run!);
  const log = v.quiet ? () => {} : (s: string) => console.error(`graft predict: ${s}`);
  const minOverlap = num(v['min-overlap'], '--min-overlap') ?? 0.9;
  if (!(minOverlap >= 0 && minOverlap <= 1))
    throw new GraftError(`--min-overlap must be in [0, 1], got ${v['min-overlap']}`);
  const threads = num(v.threads, '--threads', true) ?? availableParallelism();
  if (threads < 1) throw new GraftError('--threads must be at least 1');
  const modelsDir = join(dir, 'models');
  // The CLI's own wording for the two refusals users meet most: they name the flags that fix them.
  if (!existsSync(scoringFile(modelsDir)))
    throw new GraftError(
      `${scoringFile(modelsDir)} not found: the run kept no models to score new samples; run graft gp again with --keep-models`,
    );
  const basis = loadScoringBasis(modelsDir);
  // gcn-soup is kept like any model (graft gp --gcn-soup --keep-models), though not listed in GP_MODELS.
  const wanted: GpModel[] | null = v.models ? choices(v.models, '--models', [...GP_MODELS, 'gcn-soup']) : null;
  let kept = keptModelFiles(modelsDir).map((f) => loadKeptModel(f, basis));
  if (wanted) {
    const absent = wanted.filter((m) => !kept.some((k) => k.model === m));
    if (absent.length)
      throw new GraftError(
        `--models ${absent.join(',')}: not kept in ${modelsDir} (kept: ${[...new Set(kept.map((k) => k.model))].join(', ')})`,
      );
    kept = kept.filter((k) => wanted.includes(k.model));
  }
  if (kept.length === 0)
    throw new GraftError(
      `${modelsDir}: no kept models (graft-gp-kept-v1 files); run graft gp again with --keep-models`,
    );
  if (kept.some((k) => k.shape?.covariates))
    log(
      "hybrid: needs the new samples' covariates, which graft predict does not take yet; left out (its candidates are in candidates.csv)",
    );
  kept = kept.filter((k) => (k.final.kernel || k.final.members) && !k.shape?.covariates);
  if (v.int8) kept = await withInt8(modelsDir, kept, dir, log);
  if (basis.markers && !v.geno) throw new GraftError(`--geno FILE is required: ${dir}'s models read marker genotypes`);
  if (basis.relationship === 'given' && !v.relationship)
    throw new GraftError(
      `--relationship FILE is required: ${dir} was made with a relationship matrix; give the new samples' rows against its ${basis.n} samples`,
    );
  if (!basis.markers && v.geno)
    throw new GraftError(
      `--geno: ${dir} was made from a relationship matrix only; give --relationship FILE (the new samples' rows) instead`,
    );
  const s: NewSamples = { ids: [], dosage: null, given: null };
  if (v.geno) {
    const g = await readGenotypes(v.geno);
    const a = withFlagHint(
      () => alignGenotypes(basis, g, minOverlap),
      [
        ['scoring needs at least', 'graft predict needs at least'],
        ['a lower minimum overlap accepts it', '--min-overlap lowers it'],
      ],
    );
    const r = a.report;
    log(
      `${v.geno}: ${g.ids.length} samples; ${r.present} of the model's ${r.markers} markers present (${((100 * r.present) / r.markers).toFixed(1)}%), aligned by name; coding ${r.coding}`,
    );
    if (r.allelesChecked) {
      if (r.swapped)
        log(
          `${r.swapped} marker(s) have REF/ALT swapped against the training coding: recoded (dosage d → ${g.dosage.some((x) => x > 1) ? 2 : 1} − d)`,
        );
      if (r.otherAlleles)
        log(
          `warning: ${r.otherAlleles} marker(s) have alleles other than the training's (neither the same nor swapped): taken as missing`,
        );
    } else if (g.sites?.ref) log('alleles not checked: the model was trained on a genotype matrix without REF/ALT');
    if (r.imputed) log(`${r.imputed} cell(s) (missing calls and absent markers) filled with the training means`);
    s.ids = a.ids;
    s.dosage = a.dosage;
  }
  if (v.relationship) {
    const rr = readRelationshipRows(v.relationship, basis.ids);
    if (s.dosage) {
      const at = new Map(rr.ids.map((id, q) => [id, q]));
      const missing = s.ids.filter((id) => !at.has(id));
      if (missing.length)
        throw new GraftError(
          `${v.relationship}: no row for ${missing.length} sample(s) of ${v.geno} (e.g. '${missing[0]}')`,
        );
      s.given = { rows: s.ids.map((id) => rr.rows[at.get(id)!]!), self: s.ids.map((id) => rr.self[at.get(id)!]!) };
    } else {
      s.ids = rr.ids;
      s.given = { rows: rr.rows, self: rr.self };
    }
    log(`${v.relationship}: relationship rows of ${s.ids.length} new sample(s) against the run's ${basis.n}`);
  }
  const own = s.ids.filter((id) => basis.ids.includes(id));
  if (own.length)
    log(`${own.length} of the samples are the run's own (e.g. ${own[0]}): scored as new samples all the same`);
  const rt = await Runtime.create({ threads });
  let rows: Awaited<ReturnType<typeof predictNewSamples>>;
  try {
    rows = await predictNewSamples(rt, basis, kept, s);
  } finally {
    await rt.close();
  }
  const out = resolve(
    v.out ??
      join(dir, `predictions-${basename(v.geno ?? v.relationship!).replace(/\.(csv|tsv|vcf)(\.gz|\.bgz)?$/i, '')}.csv`),
  );
  writeFileAtomic(out, candidatesCsv(rows));
  log(
    `${s.ids.length} sample(s) × ${kept.length} kept model(s) (${[...new Set(kept.map((k) => k.model))].join(', ')}; traits ${[...new Set(kept.map((k) => k.trait))].join(', ')}): ${out}`,
  );
}

/**
 * Runs `f`; a GraftError holding the engine's wording (which names no flag) is rethrown with
 * the CLI's wording, which names the flag that fixes it, in its place.
 */
function withFlagHint<T>(f: () => T, rewording: [engine: string, cli: string][]): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof GraftError && rewording.every(([e]) => err.message.includes(e))) {
      throw new GraftError(rewording.reduce((m, [e, c]) => m.replace(e, c), err.message));
    }
    throw err;
  }
}

/**
 * --int8: the kept gcn and gcn-soup models scored from the int8 files graft quantize wrote
 * beside their model files, by graft/infer; refused when a file is missing or was quantized
 * from another fit. The other models have no int8 form and are scored as they are.
 */
async function withInt8(
  modelsDir: string,
  kept: KeptModel[],
  dir: string,
  log: (s: string) => void,
): Promise<KeptModel[]> {
  const kernels = localKernels();
  const out: KeptModel[] = [];
  for (const k of kept) {
    if (k.model !== 'gcn' && k.model !== 'gcn-soup') {
      if (k.final.members)
        log(`${k.model} ${k.trait}: no int8 form (graft quantize takes gcn and gcn-soup): scored in float`);
      out.push(k);
      continue;
    }
    const floatFile = k.model === 'gcn' ? genomicModelFile(modelsDir, k.trait) : soupModelFile(modelsDir, k.trait);
    const file = int8ModelFile(floatFile);
    if (!existsSync(file))
      throw new GraftError(
        `${file} not found: --int8 scores the int8 file of ${k.model} ${k.trait}; make it with graft quantize --run ${dir} --int8 --trait ${k.trait} --model ${k.model}`,
      );
    const bytes = readFileSync(file);
    const fitOf = (f: string, b: Uint8Array): string | undefined => decodeCheckpoint(b, f).metadata['fit_sha256'];
    if (fitOf(file, bytes) !== fitOf(floatFile, readFileSync(floatFile)))
      throw new GraftError(
        `${file}: quantized from another fit than ${floatFile} (graft gp ran again since): run graft quantize again`,
      );
    const model = await loadModel(bytes, { kernels, name: file });
    out.push({ ...k, forward: (input) => model.predictGenomic(input) });
  }
  return out;
}
