import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { SYNTHETIC_GP_DIR } from '../src/genomics/synthetic-set.js';
import { moleculeCsv } from './fixtures.js';
import { interruptGraft, readJson, runFigures, runGraft, tempDir } from './helpers.js';

// Worker faults and Ctrl-C through the real CLI: a worker thread that dies mid-epoch costs a
// replay of that epoch (node and graph training) or of that job (graft gp), and the run's
// figures are those of a run with no fault; SIGINT ends a graph run with a checkpoint and 130.

const dir = tempDir('graft-workers-');
const seeded = new Rng(77);
const between = (lo: number, hi: number): number => lo + Math.floor(seeded.next() * (hi - lo + 1));
const molecules = join(dir, 'molecules.csv');
writeFileSync(molecules, moleculeCsv(5));

describe('a worker that dies mid-run does not fail the run', () => {
  it('graft train: the epoch is rolled back and replayed; metrics as a one-thread run with no fault', () => {
    const args = (out: string, threads: string): string[] => [
      'train',
      '--dataset',
      'synthetic',
      '--epochs',
      '20',
      '--patience',
      '0',
      '--threads',
      threads,
      '--out',
      out,
      '--quiet',
    ];
    expect(runGraft(args(join(dir, 'node-clean'), '1')).status).toBe(0);
    const r = runGraft(args(join(dir, 'node-fault'), '2'), {
      GRAFT_TEST_FAULT: `exit:gemmNN:${between(5, 45)}@helper`,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /graft train: faultInject failed on worker 0: worker exited with code 70 while running faultInject in epoch \d+; rolled back to the epoch's in-memory snapshot and replaying it \(failure 1; restore [\d.]+ ms, \d+ ms redone\)/,
    );
    expect(readJson(join(dir, 'node-fault', 'metrics.json'))['worker_faults']).toBe(1);
    expect(runFigures(join(dir, 'node-fault', 'metrics.json'))).toEqual(
      runFigures(join(dir, 'node-clean', 'metrics.json')),
    );
  });

  it('graft train --task graph: the same for mini-batch graph training', () => {
    const args = (out: string, threads: string): string[] => [
      'train',
      '--task',
      'graph',
      '--data',
      molecules,
      '--epochs',
      '5',
      '--patience',
      '0',
      '--batch-size',
      '16',
      '--shard-size',
      '16',
      '--hidden',
      '32',
      '--threads',
      threads,
      '--out',
      out,
      '--quiet',
      '--no-cache',
    ];
    expect(runGraft(args(join(dir, 'graph-clean'), '1')).status).toBe(0);
    // At 2 threads an unsplit step times intra-op against one thread on its first steps, and a
    // run that keeps one thread sends no later op to a helper: the fault lands in the trial's
    // first step (its intra-op warm-up, which runs first), so it fires whichever it keeps.
    const r = runGraft(args(join(dir, 'graph-fault'), '2'), {
      GRAFT_TEST_FAULT: `exit:gemmNN:${between(1, 2)}@helper`,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /worker exited with code 70 .* in epoch \d+; rolled back to the epoch's in-memory snapshot and replaying it/,
    );
    expect(runFigures(join(dir, 'graph-fault', 'metrics.json'))).toEqual(
      runFigures(join(dir, 'graph-clean', 'metrics.json')),
    );
  });

  it('graft gp: the job whose worker died runs again; results.json as a run with no fault', () => {
    const args = (out: string): string[] => [
      'gp',
      '--geno',
      join(SYNTHETIC_GP_DIR, 'genotypes.csv.gz'),
      '--pheno',
      join(SYNTHETIC_GP_DIR, 'phenotypes.csv'),
      '--trait',
      'yield',
      '--models',
      'gcn,gblup',
      '--k',
      '3',
      '--epochs',
      '20',
      '--ensemble',
      '1',
      '--features',
      'pcs',
      '--threads',
      '2',
      '--out',
      out,
    ];
    expect(runGraft([...args(join(dir, 'gp-clean')), '--quiet']).status).toBe(0);
    const r = runGraft(args(join(dir, 'gp-fault')), {
      GRAFT_TEST_FAULT: `exit:gemmNN:${between(20, 150)}`,
      GRAFT_TEST_FAULT_ONCE: join(dir, 'gp-once'),
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /gcn repeat 1 fold \d yield: its worker failed \(.*\); running the job again \(attempt 2\)/,
    );
    const { timing: _a, ...a } = readJson(join(dir, 'gp-clean', 'results.json'));
    const { timing: _b, ...b } = readJson(join(dir, 'gp-fault', 'results.json'));
    expect(b).toEqual(a);
  });
});

describe('Ctrl-C during graph training', () => {
  it('writes a checkpoint at the epoch under way and exits 130; --resume ends as a run never interrupted', async () => {
    const args = (out: string): string[] => [
      'train',
      '--task',
      'graph',
      '--data',
      molecules,
      '--epochs',
      '60',
      '--patience',
      '0',
      '--batch-size',
      '16',
      '--shard-size',
      '8',
      '--hidden',
      '16',
      '--threads',
      '2',
      '--out',
      out,
      '--no-cache',
    ];
    const out = join(dir, 'graph-sigint');
    const { code, stderr: err } = await interruptGraft(args(out), /epoch 1\/60/);
    expect(code, err).toBe(130);
    expect(err).toMatch(
      /interrupted after epoch \d+; checkpoint written to .*checkpoint\.safetensors; continue with the same command and --resume/,
    );
    expect(existsSync(join(out, 'metrics.json'))).toBe(false);
    const resumed = runGraft([...args(out), '--resume', '--quiet']);
    expect(resumed.status, resumed.stderr).toBe(0);
    const clean = runGraft([...args(join(dir, 'graph-sigint-clean')), '--quiet']);
    expect(clean.status).toBe(0);
    expect(runFigures(join(out, 'metrics.json'))).toEqual(runFigures(join(dir, 'graph-sigint-clean', 'metrics.json')));
  });
});
