import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { syntheticGenomicData } from '../src/data/genomic-synthetic.js';
import { runGraftAsync } from './helpers.js';

// The gp run with kept models that the graft predict, soup and quantize tests read: a synthetic
// study's first trait as `yield`, the candidates' phenotypes missing (graft gp predicts them),
// trained by `graft gp --keep-models` into DIR/run.

/** What keptGpRun made: the run folder, the phenotype file and graft gp's stderr. */
export interface KeptGpRun {
  run: string;
  pheno: string;
  stderr: string;
  status: number | null;
}

/** Writes DIR/pheno.csv (candidates NA) and runs graft gp --keep-models on `geno` with `args` (models, sizes, threads). */
export async function keptGpRun(
  dir: string,
  data: ReturnType<typeof syntheticGenomicData>,
  geno: string,
  isCandidate: (i: number) => boolean,
  args: string[],
): Promise<KeptGpRun> {
  const y = data.traits[0]!.values;
  const pheno = join(dir, 'pheno.csv');
  writeFileSync(
    pheno,
    `${['id,yield', ...data.ids.map((id, i) => `${id},${isCandidate(i) ? 'NA' : y[i]!.toFixed(5)}`)].join('\n')}\n`,
  );
  const run = join(dir, 'run');
  const r = await runGraftAsync([
    'gp',
    '--geno',
    geno,
    '--pheno',
    pheno,
    '--trait',
    'yield',
    '--keep-models',
    '--out',
    run,
    ...args,
  ]);
  return { run, pheno, stderr: r.stderr, status: r.status };
}
