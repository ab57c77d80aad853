import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import type { Checkpoint, StoredTensor } from '../../core/safetensors.js';
import { FINGERPRINTS_FILE } from '../../chem/graph-run.js';
import { Runtime } from '../../runtime/runtime.js';
import { checkSameParameters, uniformSoup, type Weights } from '../../soup/average.js';
import { greedySoup, type GreedyStep } from '../../soup/greedy.js';
import { maskSparsity, sparseBytes } from '../../soup/prune.js';
import { sparseSoup, type SparseRound } from '../../soup/sparse.js';
import { saveCheckpoint } from '../../train/checkpoint.js';
import { packSparse } from '../../core/sparse-tensors.js';
import { choice, joinNegativeValues, num } from '../args.js';
import { claimRunFolder } from '../run-folder.js';
import { checkRunFeaturizer, readRunModel } from '../run-model.js';
import { checkSoupMembers, graphSoupTask, nodeSoupTask, soupRun, type SoupRun, type SoupTask } from './soup-members.js';

// `graft soup`: one model from several runs trained from one initialization (Wortsman et al.,
// ICML 2022), the uniform or greedy mean of their weights, or a sparse soup (pruned, members
// retrained from the pruned mean with the mask held, averaged again). Writes an ordinary run
// folder (config.json, checkpoint.safetensors) that graft eval, predict, quantize, export and
// graft/infer read as they read a graft train run, and soup.json with the figures.

export const SOUP_USAGE = `  graft soup --runs DIR1,DIR2,... --out DIR [--method uniform|greedy|sparse] [--sparsity 0.5] [--rounds 1]
              [--overwrite] [--threads N] [--data-dir DIR] [--quiet]
              (members: node or graph runs of one architecture, data file, split and --seed, trained with
               other --train-seed, --lr, --dropout or --epochs; greedy keeps a member only if the soup's
               validation score does not drop; sparse prunes the mean's weight matrices by magnitude to
               --sparsity, retrains each member by its recipe from it, pruned weights held at zero, and
               averages again, --rounds times. Writes config.json, checkpoint.safetensors, soup.json)`;

/** Metadata of a member's training checkpoint that is about training, not the model: left out of the soup's. */
const TRAINING_ONLY = ['format', 'adam_step', 'history', 'rng', 'step', 'epoch', 'train_sha256', 'early_stop'];

export async function soup(argv: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      runs: { type: 'string' },
      method: { type: 'string' },
      sparsity: { type: 'string' },
      rounds: { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      threads: { type: 'string' },
      'data-dir': { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  if (!v.runs) throw new GraftError('--runs DIR1,DIR2,... (the member runs, folders of graft train) is required');
  if (!v.out) throw new GraftError('--out DIR (the soup run folder to write) is required');
  const method = choice(v.method, '--method', ['uniform', 'greedy', 'sparse'], 'uniform');
  const sparsity = num(v.sparsity, '--sparsity') ?? 0.5;
  const rounds = num(v.rounds, '--rounds', true) ?? 1;
  if (method !== 'sparse' && (v.sparsity !== undefined || v.rounds !== undefined))
    throw new GraftError(`--sparsity and --rounds are for --method sparse, not ${method}`);
  if (!(sparsity >= 0 && sparsity < 1)) throw new GraftError(`--sparsity must be in [0, 1), got ${sparsity}`);
  if (rounds < 1) throw new GraftError(`--rounds must be at least 1, got ${rounds}`);
  const threads = num(v.threads, '--threads', true);
  const dirs = v.runs
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (dirs.length < 2) throw new GraftError(`--runs: a soup needs at least 2 member runs, got ${dirs.length}`);
  const out = resolve(v.out);
  const own = dirs.find((d) => resolve(d) === out);
  if (own) throw new GraftError(`--out ${out}: is a member run (${own}); write the soup to another folder`);
  const members = dirs.map((d) => {
    const run = readRunModel(d, 'graft soup');
    checkRunFeaturizer(run, 'graft soup');
    return soupRun(d, run);
  });
  checkSoupMembers(members);
  checkSameParameters(members.map((m) => ({ name: m.dir, weights: m.weights })));
  const log = v.quiet ? () => {} : (s: string) => console.error(`graft soup: ${s}`);
  const release = claimRunFolder(out, { command: 'graft soup', overwrite: v.overwrite === true });
  let rt: Runtime | null = null,
    task: SoupTask | null = null;
  try {
    rt = await Runtime.create(threads === undefined ? {} : { threads });
    const first = members[0]!;
    task = first.run.kind === 'node' ? await nodeSoupTask(rt, first, v['data-dir']) : await graphSoupTask(rt, first);
    const scores: number[] = [];
    for (const m of members) scores.push(await task.valScore(m.weights));
    log(`${members.length} members; ${task.scoreName} ${scores.map((s) => s.toFixed(4)).join(', ')}`);
    const made = await makeSoup(task, members, scores, method, sparsity, rounds, log);
    const lead = members.find((m) => m.dir === made.ingredients[0]) ?? first;
    const report = await soupReport(task, members, scores, made.weights);
    writeSoupFolder(out, lead, made.weights, await task.configFor(made.weights), {
      method,
      members: dirs.map((d) => resolve(d)),
      ingredients: made.ingredients.map((d) => resolve(d)),
      ...(method === 'sparse' ? { sparsity, rounds } : {}),
    });
    const fileBytes = statSync(join(out, 'checkpoint.safetensors')).size;
    const size = {
      soup_weight_bytes: 4 * paramCount(made.weights),
      soup_file_bytes: fileBytes,
      ensemble_weight_bytes: 4 * members.reduce((a, m) => a + paramCount(m.weights), 0),
      ...(made.sparse
        ? {
            sparsity: maskSparsity(made.sparse.mask),
            soup_sparse_bytes: sparseBytes(made.weights, made.sparse.mask),
          }
        : {}),
    };
    const summary = {
      method,
      score: task.scoreName,
      members: members.map((m, i) => ({ run: resolve(m.dir), [task!.scoreName]: scores[i], ...report.members[i] })),
      ingredients: made.ingredients.map((d) => resolve(d)),
      ...(made.steps ? { greedy_steps: made.steps } : {}),
      ...(made.sparse ? { sparse_rounds: made.sparse.rounds } : {}),
      soup: report.soup,
      best_member: report.best,
      ensemble: report.ensemble,
      inference_ms: report.timing,
      size,
      threads: rt.threads,
    };
    writeJsonAtomic(join(out, 'soup.json'), summary);
    writeJsonAtomic(join(out, 'metrics.json'), { ...report.soup, ...size });
    console.log(
      JSON.stringify({
        method,
        ingredients: made.ingredients.length,
        soup: report.soup,
        best_member: report.best,
        ensemble: report.ensemble,
        out,
      }),
    );
    return 0;
  } finally {
    task?.close();
    await rt?.close();
    release();
  }
}

/** The soup's weights by the method, with the greedy steps or the sparse rounds. */
async function makeSoup(
  task: SoupTask,
  members: readonly SoupRun[],
  scores: readonly number[],
  method: 'uniform' | 'greedy' | 'sparse',
  sparsity: number,
  rounds: number,
  log: (s: string) => void,
): Promise<{
  weights: Map<string, Float32Array>;
  ingredients: string[];
  steps?: GreedyStep[];
  sparse?: { mask: Map<string, Uint8Array>; rounds: SparseRound[] };
}> {
  const named = members.map((m, i) => ({ name: m.dir, weights: m.weights as Weights, score: scores[i]! }));
  if (method === 'uniform')
    return { weights: uniformSoup(named.map((m) => m.weights)), ingredients: members.map((m) => m.dir) };
  if (method === 'greedy') {
    const g = await greedySoup(named, (w) => task.valScore(w));
    for (const s of g.steps)
      log(
        `greedy: ${s.member} (${s.memberScore.toFixed(4)}): soup ${s.soupScore.toFixed(4)}, ${s.kept ? 'kept' : 'left out'}`,
      );
    return { weights: g.weights, ingredients: g.ingredients, steps: g.steps };
  }
  // Weight matrices are pruned, biases and other vectors stay whole.
  const prunable = [...members[0]!.shapes].filter(([, s]) => s.length >= 2).map(([n]) => n);
  const byDir = new Map(members.map((m) => [m.dir, m]));
  const s = await sparseSoup(named, {
    sparsity,
    rounds,
    prunable,
    retrain: (m, start, mask) => task.retrain(byDir.get(m.name)!, start, mask),
    score: (w) => task.valScore(w),
  });
  for (const r of s.rounds)
    log(
      `sparse round ${r.round}: sparsity ${r.sparsity.toFixed(3)}, members ${r.memberScores.map((x) => x.toFixed(4)).join(', ')}, soup ${r.soupScore.toFixed(4)}`,
    );
  return { weights: s.weights, ingredients: members.map((m) => m.dir), sparse: { mask: s.mask, rounds: s.rounds } };
}

/** Test figures of every member, the soup, the best member (by held-out score) and the ensemble, and inference times. */
async function soupReport(
  task: SoupTask,
  members: readonly SoupRun[],
  scores: readonly number[],
  weights: Weights,
): Promise<{
  members: Record<string, number>[];
  soup: Record<string, number>;
  best: Record<string, unknown>;
  ensemble: Record<string, number>;
  timing: Record<string, number>;
}> {
  const per: Record<string, number>[] = [];
  for (const m of members) per.push(await task.testMetrics(m.weights));
  let b = 0;
  scores.forEach((s, i) => {
    if (s > scores[b]!) b = i;
  });
  const all = members.map((m) => m.weights);
  // Each timed twice, the second time reported: the first warms the kernels and the caches.
  await task.timeTest([weights]);
  const soupMs = await task.timeTest([weights]);
  const ensembleMs = await task.timeTest(all);
  return {
    members: per,
    soup: { [task.scoreName]: await task.valScore(weights), ...(await task.testMetrics(weights)) },
    best: { run: resolve(members[b]!.dir), ...per[b]! },
    ensemble: await task.ensembleMetrics(all),
    timing: { soup_test_ms: soupMs, ensemble_test_ms: ensembleMs, members: members.length },
  };
}

const paramCount = (w: Weights): number => [...w.values()].reduce((a, x) => a + x.length, 0);

/**
 * The soup as a run folder of the lead member's kind: its checkpoint metadata (task, config,
 * preprocessing, widths) with the training state left out, the soup's weights as model.*, and
 * its config.json with a `soup` record; a graph run's training fingerprints (the members share
 * the split) for graft predict's max_similarity.
 */
function writeSoupFolder(
  out: string,
  lead: SoupRun,
  weights: Weights,
  extraConfig: Record<string, unknown>,
  record: Record<string, unknown>,
): void {
  const meta = { ...lead.run.model.checkpoint.metadata };
  for (const k of TRAINING_ONLY) delete meta[k];
  // A graph model file records its early stopping (which weights it reports): none, model.* it is.
  if (lead.run.kind === 'graph') meta['early_stop'] = JSON.stringify({ bestLoss: null, bestEpoch: 0, bad: 0 });
  meta['soup'] = JSON.stringify(record);
  const tensors = new Map<string, StoredTensor>();
  for (const [name, w] of weights) tensors.set(`model.${name}`, { shape: lead.shapes.get(name)!, data: w });
  const cp: Checkpoint = { tensors, metadata: meta };
  // Weight matrices a sparse soup pruned are stored as a bitmap and their nonzeros, where smaller.
  saveCheckpoint(join(out, 'checkpoint.safetensors'), packSparse(cp));
  if (lead.run.kind === 'graph') {
    const fp = join(lead.run.dir, FINGERPRINTS_FILE);
    if (existsSync(fp)) writeFileAtomic(join(out, FINGERPRINTS_FILE), readFileSync(fp));
  }
  // config.json last: a folder with it is whole.
  writeJsonAtomic(join(out, 'config.json'), { ...lead.run.config, ...extraConfig, soup: record });
}
