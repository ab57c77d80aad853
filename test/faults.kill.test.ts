import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { moleculeCsv } from './fixtures.js';
import { bitsEqual, readJson, runFigures, runGraft, tempDir } from './helpers.js';

// kill -9 at a seeded random point, then the same command with --resume (on another thread
// count): the run ends with the weights and figures of a run never stopped. The kill is the
// fault hook's: the N-th GEMM dispatch sends SIGKILL to the whole process, once (a marker file
// keeps the resumed run from being killed again).

const dir = tempDir('graft-kill-');
const seeded = new Rng(13);
const between = (lo: number, hi: number): number => lo + Math.floor(seeded.next() * (hi - lo + 1));

/** Runs `args` with a kill at GEMM dispatch `call`; asserts that the process died by SIGKILL. */
function killedAt(call: number, args: string[]): void {
  const once = join(dir, `once-${call}-${Math.random().toString(36).slice(2)}`);
  const r = runGraft(args, { GRAFT_TEST_FAULT: `kill:gemmNN:${call}`, GRAFT_TEST_FAULT_ONCE: once });
  expect(r.signal, `expected the run to be killed at GEMM ${call}: status ${r.status}\n${r.stderr}`).toBe('SIGKILL');
  expect(existsSync(once)).toBe(true);
}

function sameCheckpointTensors(a: string, b: string): void {
  const x = loadCheckpoint(a).tensors,
    y = loadCheckpoint(b).tensors;
  expect([...x.keys()].sort()).toEqual([...y.keys()].sort());
  expect([...x.keys()].some((k) => k.startsWith('model.'))).toBe(true);
  for (const [k, t] of x) expect(bitsEqual(t.data as Float32Array, y.get(k)!.data as Float32Array), k).toBe(true);
}

/**
 * The kill-then-resume check of a checkpointing trainer: a clean run on 2 threads, the same
 * run killed at GEMM `call` (it must leave a checkpoint inside the run and no metrics), then
 * `--resume` on 1 thread; the final checkpoint's tensors and the figures must equal the
 * clean run's. Returns both folders for the trainer's own further checks.
 */
function killThenResume(
  name: string,
  args: (out: string, threads: string) => string[],
  call: number,
  epochs: number,
): { clean: string; killed: string } {
  const clean = join(dir, `${name}-clean`),
    killed = join(dir, `${name}-killed`);
  expect(runGraft(args(clean, '2')).status).toBe(0);
  killedAt(call, args(killed, '2'));
  const at = Number(loadCheckpoint(join(killed, 'checkpoint.safetensors')).metadata['epoch']);
  expect(at).toBeGreaterThan(0);
  expect(at).toBeLessThan(epochs);
  expect(existsSync(join(killed, 'metrics.json'))).toBe(false);
  const resumed = runGraft([...args(killed, '1'), '--resume']);
  expect(resumed.status, resumed.stderr).toBe(0);
  sameCheckpointTensors(join(clean, 'checkpoint.safetensors'), join(killed, 'checkpoint.safetensors'));
  expect(runFigures(join(killed, 'metrics.json'))).toEqual(runFigures(join(clean, 'metrics.json')));
  return { clean, killed };
}

describe('kill -9 at a seeded point, then --resume, ends as a run never stopped', () => {
  it('graft train (node task): weights, Adam state, metrics and predictions', () => {
    const args = (out: string, threads: string): string[] => [
      'train',
      '--dataset',
      'synthetic',
      '--epochs',
      '30',
      '--patience',
      '0',
      '--checkpoint-every',
      '3',
      '--threads',
      threads,
      '--out',
      out,
      '--quiet',
    ];
    const { clean, killed } = killThenResume('node', args, between(10, 55), 30);
    expect(readFileSync(join(killed, 'predictions.csv'), 'utf8')).toBe(
      readFileSync(join(clean, 'predictions.csv'), 'utf8'),
    );
  });

  it("graft train --task graph (batch splitting, oversampled labels): weights, the sampler's order, metrics and the per-label table", () => {
    const data = join(dir, 'molecules.csv');
    writeFileSync(data, moleculeCsv(5));
    const args = (out: string, threads: string): string[] => [
      'train',
      '--task',
      'graph',
      '--data',
      data,
      '--oversample',
      'mlros',
      '--epochs',
      '8',
      '--patience',
      '0',
      '--batch-size',
      '16',
      '--shard-size',
      '8',
      '--hidden',
      '32',
      '--checkpoint-every',
      '2',
      '--threads',
      threads,
      '--out',
      out,
      '--quiet',
      '--no-cache',
    ];
    const { clean, killed } = killThenResume('graph', args, between(60, 200), 8);
    expect(readFileSync(join(killed, 'labels.csv'), 'utf8')).toBe(readFileSync(join(clean, 'labels.csv'), 'utf8'));
    const epochs = (d: string): number[][] =>
      (readJson(join(d, 'epochs.json')) as unknown as { train_loss: number; val_loss: number }[]).map((e) => [
        e.train_loss,
        e.val_loss,
      ]);
    expect(epochs(killed)).toEqual(epochs(clean));
    // Resuming with a setting that changes the run is refused, naming it.
    const other = runGraft([...args(killed, '1').map((a) => (a === 'mlros' ? 'lpros' : a)), '--resume']);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(
      /cannot resume: the run was started with other settings \(oversample: "mlros" then, "lpros" now\)/,
    );
  });

  it('graft gp: killed inside a GCN job, resumed by job (and inside the job from its checkpoint): results.json, folds and predictions as an uninterrupted run', () => {
    const args = (out: string, threads: string): string[] => [
      'gp',
      '--geno',
      join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
      '--pheno',
      join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
      '--trait',
      'yield',
      '--models',
      'gcn,gblup,rrblup',
      '--k',
      '3',
      '--epochs',
      '40',
      '--ensemble',
      '2',
      '--features',
      'pcs',
      '--checkpoint-every',
      '5',
      '--threads',
      threads,
      '--out',
      out,
      '--quiet',
    ];
    const clean = join(dir, 'gp-clean'),
      killed = join(dir, 'gp-killed');
    expect(runGraft(args(clean, '2')).status).toBe(0);
    killedAt(between(150, 600), args(killed, '2'));
    expect(existsSync(join(killed, 'results.json'))).toBe(false);
    expect(existsSync(join(killed, 'jobs', 'manifest.json'))).toBe(true);
    expect(
      readdirSync(join(killed, 'jobs')).some((f) => /^gcn-.*-m\d\.safetensors$/.test(f)),
      "a GCN member's training checkpoint",
    ).toBe(true);
    const resumed = runGraft([...args(killed, '1'), '--resume']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const { timing: _a, ...a } = readJson(join(clean, 'results.json'));
    const { timing: _b, ...b } = readJson(join(killed, 'results.json'));
    expect(b).toEqual(a);
    for (const f of ['folds.csv', 'predictions.csv'])
      expect(readFileSync(join(killed, f), 'utf8'), f).toBe(readFileSync(join(clean, f), 'utf8'));
    // The settings and the inputs are checked: another epoch count is refused, and says so.
    const other = runGraft([...args(killed, '1').map((x) => (x === '40' ? '50' : x)), '--resume']);
    expect(other.status).toBe(2);
    expect(other.stderr).toMatch(
      /cannot resume: the finished jobs were computed from other settings or inputs \(setting gcn\.epochs: 40 then, 50 now\)/,
    );
  });
});
