import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GraftError } from '../../core/errors.js';
import { ensureDir, writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { makeMotifTask, motifSidecar } from '../../chem/motif.js';
import { Runtime } from '../../runtime/runtime.js';
import { choice, choices, intAtLeast, joinNegativeValues, num } from '../args.js';
import { claimRunFolder } from '../run-folder.js';
import { GP_SHAP_MODELS, explainGenomicRun } from './explain-genomic.js';
import { explainMoleculeRun } from './explain-molecules.js';
import { explainNodeRun } from './explain-nodes.js';
import { EXPLAIN_MICROBIOME_USAGE, explainMicrobiomeRun } from './explain-microbiome.js';
import { detectRunKind, wrongKind } from '../run-kind.js';

export const EXPLAIN_USAGE = `  graft explain --run DIR [--method ig|saliency|gxi|gnnexplainer|attention[,...]] [--target NAME[,NAME...]]
                [--steps 50] [--baseline zero|mean] [--truth FILE] [--map FILE] [--count 20] [--top 10]
                [--keep 0.2] [--threads N] [--overwrite] [--quiet]
                (node runs of --model sage, gin, gat, gatv2: edge scores by occlusion; gnnexplainer is the GCN's;
                 attention: a GAT or GATv2 run's head-mean α per layer, written to explain/attention.csv;
                 graph runs: atom scores in explain/atoms.csv, bond scores in explain/bonds.csv for --model gcn
                 (bond weights), gine and dmpnn (bond features))
  graft explain --run GP_RUN --method kernelshap [--target TRAIT[,...]] [--count 5] [--background 10] [--budget 256] [--seed 1]
                [--model gcn|gblup|rrblup|rkhs|rkhs-ka]
                (SHAP of the GCN ensemble for --count lines over the features it reads, markers or PCs;
                 writes explain/shap.csv and shap-summary.svg; each coalition costs --background graph passes;
                 --model gblup|rrblup|rkhs|rkhs-ka: the kernel or linear model graft gp --keep-models kept, over
                 the markers (dosages), as graft predict scores a line's genotypes)
  graft explain --run HYBRID_GRAPH_RUN --method kernelshap [--target LABEL[,...]] [--count 5] [--background 10] [--budget 2048] [--seed 1]
                (SHAP of the descriptor bits of --count test molecules, each graph held fixed, for the label's
                 probability; default label: the first; writes explain/shap.csv and shap-summary.svg)
${EXPLAIN_MICROBIOME_USAGE}
  graft motif-task --data FILE.csv --out FILE.csv [--smiles COL] [--smarts c1ccccc1] [--label has_benzene] [--sample N] [--seed 1]`;

const METHODS = ['ig', 'saliency', 'gxi', 'gnnexplainer', 'attention', 'kernelshap'] as const;

/**
 * What kind of run a folder holds: a graft gp study, a graph-level run or a node run. Told by
 * run-kind.ts like every command that reads a run, so a run of another kind (a microbiome
 * study's results.json, a sweep) is named as what it is, not called an unfinished folder.
 */
function runKind(dir: string): 'genomic' | 'graph' | 'node' {
  const kind = detectRunKind(dir);
  if (kind === 'genomic' || kind === 'graph' || kind === 'node') return kind;
  throw wrongKind('graft explain', dir, kind, 'a gp, graph, node or mb run');
}

/**
 * `graft explain`: attributions of a finished run's model, into DIR/explain. They are made in
 * a folder of their own beside it and renamed into place at the end, so a failed or
 * interrupted explanation leaves nothing half-written, and an earlier explain/ is replaced
 * only with --overwrite.
 */
export async function explain(argv: string[]): Promise<void> {
  // An mb run takes SHAP methods and flags of its own (explain-microbiome.ts).
  const at = argv.indexOf('--run'),
    runArg = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith('--run='))?.slice(6);
  if (runArg && !runArg.startsWith('--') && existsSync(runArg) && detectRunKind(resolve(runArg)) === 'microbiome')
    return explainMicrobiomeRun(argv);
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      run: { type: 'string' },
      method: { type: 'string' },
      target: { type: 'string' },
      steps: { type: 'string' },
      baseline: { type: 'string' },
      truth: { type: 'string' },
      map: { type: 'string' },
      count: { type: 'string' },
      top: { type: 'string' },
      keep: { type: 'string' },
      background: { type: 'string' },
      budget: { type: 'string' },
      seed: { type: 'string' },
      model: { type: 'string' },
      threads: { type: 'string' },
      overwrite: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
  });
  if (!v.run)
    throw new GraftError(
      '--run DIR is required (a folder written by graft gp, graft train or graft train --task graph)',
    );
  const run = resolve(v.run);
  if (!existsSync(run)) throw new GraftError(`--run ${v.run}: no such folder`);
  const methods = choices(v.method ?? 'ig', '--method', METHODS);
  const baseline = choice(v.baseline, '--baseline', ['zero', 'mean'], 'zero');
  const steps = intAtLeast(v.steps, '--steps', 50, 1, 'step');
  const count = intAtLeast(v.count, '--count', 20, 1, 'item');
  const top = intAtLeast(v.top, '--top', 10, 1, 'row');
  const keep = num(v.keep, '--keep') ?? 0.2;
  if (!(keep > 0 && keep < 1)) throw new GraftError(`--keep must be in (0, 1), got ${keep}`);
  const threads = num(v.threads, '--threads', true);
  if (threads !== undefined && threads < 1) throw new GraftError(`--threads must be at least 1, got ${threads}`);
  if (v.truth && !existsSync(v.truth)) throw new GraftError(`--truth ${v.truth}: no such file`);
  if (v.map && !existsSync(v.map)) throw new GraftError(`--map ${v.map}: no such file`);
  const kind = runKind(run);
  if (methods.includes('attention') && kind === 'genomic')
    throw new GraftError(
      `--method attention explains GAT and GATv2 node and graph runs (their attention coefficients); ${run} is a ${kind} run`,
    );
  const noAttention = methods.filter((m) => m !== 'attention');
  if (methods.includes('kernelshap') && kind === 'node')
    throw new GraftError(
      `--method kernelshap explains gp runs, mb runs and hybrid graph runs; ${run} is a ${kind} run: use --method ig, saliency, gxi or gnnexplainer`,
    );
  const shap = {
    count: intAtLeast(v.count, '--count', 5, 1, 'line'),
    background: intAtLeast(v.background, '--background', 10, 1, 'line'),
    budget: intAtLeast(v.budget, '--budget', 256, 2, 'coalition'),
    seed: num(v.seed, '--seed', true) ?? 1,
    model: choice(v.model, '--model', GP_SHAP_MODELS, 'gcn'),
  };
  if (v.model !== undefined && (kind !== 'genomic' || methods.join() !== 'kernelshap'))
    throw new GraftError(
      '--model picks the kept gp model KernelSHAP explains: it goes with --run GP_RUN --method kernelshap',
    );
  const log = v.quiet ? () => {} : (s: string) => console.error(`graft explain: ${s}`);
  const final = join(run, 'explain');
  if (existsSync(final) && !v.overwrite)
    throw new GraftError(`${final} already holds explanations: pass --overwrite to replace them`);
  // The run's own lock: no training may write into the folder while it is explained.
  const release = claimRunFolder(run, { command: 'graft explain', resume: true });
  const work = join(run, `.explain-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  ensureDir(work);
  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  try {
    const t0 = performance.now();
    const targets = v.target
      ? v.target
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : null;
    const common = { run, out: work, steps, baseline, keep, log };
    const body =
      kind === 'genomic'
        ? await explainGenomicRun(rt, {
            ...common,
            methods: noAttention,
            shap,
            traits: targets,
            truth: v.truth ? resolve(v.truth) : null,
            map: v.map ? resolve(v.map) : null,
            top: Math.max(top, 200),
          })
        : kind === 'graph'
          ? await explainMoleculeRun(rt, {
              ...common,
              methods: noAttention.filter((m) => m !== 'kernelshap'),
              attention: methods.includes('attention'),
              labels: targets,
              count,
              truth: v.truth ? resolve(v.truth) : null,
              shap: methods.includes('kernelshap')
                ? { ...shap, budget: intAtLeast(v.budget, '--budget', 2048, 2, 'coalition') }
                : null,
            })
          : await explainNodeRun(rt, {
              ...common,
              methods: methods.filter((m) => m !== 'kernelshap'),
              target: targets?.[0] ?? null,
              count,
              top,
            });
    const doc = {
      format: 'graft-explanations-v1',
      run,
      methods,
      steps,
      baseline,
      keep,
      threads: rt.threads,
      created: new Date().toISOString(),
      ...body,
      seconds: (performance.now() - t0) / 1000,
    };
    writeJsonAtomic(join(work, 'explanations.json'), doc);
    if (existsSync(final)) rmSync(final, { recursive: true, force: true });
    renameSync(work, final);
    console.log(
      JSON.stringify({
        run,
        kind,
        methods,
        explanations: (body['explanations'] as unknown[]).length,
        auroc: body['auroc'] ?? null,
        out: final,
        seconds: +doc.seconds.toFixed(2),
      }),
    );
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  } finally {
    await rt.close();
    release();
  }
}

/** `graft motif-task`: a molecule task labelled by a SMARTS motif, with its sidecar, for explanations checked against the motif. */
export async function motifTask(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      data: { type: 'string' },
      out: { type: 'string' },
      smarts: { type: 'string' },
      label: { type: 'string' },
      smiles: { type: 'string' },
      sample: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  if (!v.data || !v.out) throw new GraftError('--data FILE.csv and --out FILE.csv are required');
  const sample = v.sample === undefined ? undefined : intAtLeast(v.sample, '--sample', 1, 2, 'molecule');
  const { csv, task } = await makeMotifTask(v.data, {
    smarts: v.smarts ?? 'c1ccccc1',
    label: v.label ?? 'has_benzene',
    ...(v.smiles ? { smiles: v.smiles } : {}),
    ...(sample !== undefined ? { sample } : {}),
    seed: num(v.seed, '--seed', true) ?? 1,
  });
  const out = resolve(v.out);
  writeFileAtomic(out, csv);
  writeJsonAtomic(motifSidecar(out), { ...task, source: resolve(v.data) });
  console.log(
    JSON.stringify({
      out,
      sidecar: motifSidecar(out),
      molecules: task.molecules,
      positives: task.positives,
      smarts: task.smarts,
    }),
  );
}
