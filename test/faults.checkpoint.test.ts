import { cpSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/random.js';
import { loadCheckpoint, previousCheckpointPath } from '../src/train/checkpoint.js';
import { runGraft, tempDir } from './helpers.js';

// Damaged checkpoints: a flipped byte, a file cut to half, a zero-length header. Each is
// refused with a message that says what is wrong and where; a resume falls back to the
// checkpoint before it when that one is good, and the run still ends as one never stopped.

const dir = tempDir('graft-ckpt-');
const args = (out: string): string[] => [
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
  '1',
  '--out',
  out,
  '--quiet',
];
const clean = join(dir, 'clean'),
  killed = join(dir, 'killed');
const figures = (d: string): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(JSON.parse(readFileSync(join(d, 'metrics.json'), 'utf8')) as Record<string, unknown>).filter(
      ([k]) => !/_ms$|^snapshot_|^threads$/.test(k),
    ),
  );

const DAMAGE: [string, (file: string) => void, RegExp][] = [
  [
    'one flipped byte',
    (f) => {
      const b = readFileSync(f);
      b[b.length - 10]! ^= 0x40;
      writeFileSync(f, b);
    },
    /checksum mismatch .*: the file is damaged or truncated/,
  ],
  [
    'truncated to half',
    (f) => truncateSync(f, Math.floor(readFileSync(f).length / 2)),
    /not a valid checkpoint: (header length \d+ runs past the end|checksum mismatch)/,
  ],
  [
    'a zero-length header',
    (f) => {
      const b = readFileSync(f);
      b.fill(0, 0, 8);
      writeFileSync(f, b);
    },
    /not a valid checkpoint: its header length is zero/,
  ],
];

beforeAll(() => {
  expect(runGraft(args(clean)).status).toBe(0);
  // Killed after its checkpoint at epoch 12 or later, so the one before it is there too.
  const r = runGraft(args(killed), {
    GRAFT_TEST_FAULT: `kill:gemmNN:${40 + Math.floor(new Rng(5).next() * 20)}`,
    GRAFT_TEST_FAULT_ONCE: join(dir, 'once'),
  });
  expect(r.signal, r.stderr).toBe('SIGKILL');
  expect(existsSync(previousCheckpointPath(join(killed, 'checkpoint.safetensors')))).toBe(true);
});

describe('damaged checkpoints', () => {
  for (const [what, damage, message] of DAMAGE) {
    it(`${what}: a clear error; --resume falls back to the previous checkpoint and ends as a run never stopped`, () => {
      const run = join(dir, what.replace(/\W+/g, '-'));
      cpSync(killed, run, { recursive: true });
      const file = join(run, 'checkpoint.safetensors');
      damage(file);
      expect(() => loadCheckpoint(file)).toThrow(message);
      const r = runGraft([...args(run), '--resume']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        new RegExp(
          `warning: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: not a valid checkpoint: .*; resuming from the previous checkpoint .*checkpoint\\.prev\\.safetensors`,
        ),
      );
      expect(figures(run)).toEqual(figures(clean));
      expect(readFileSync(join(run, 'predictions.csv'), 'utf8')).toBe(
        readFileSync(join(clean, 'predictions.csv'), 'utf8'),
      );
    });
  }

  it('with no good checkpoint behind it, resume stops with the damage named (exit 2), and graft eval does too', () => {
    const run = join(dir, 'no-previous');
    cpSync(killed, run, { recursive: true });
    const file = join(run, 'checkpoint.safetensors');
    DAMAGE[0]![1](file);
    rmSync(previousCheckpointPath(file));
    const r = runGraft([...args(run), '--resume']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${file}: not a valid checkpoint: checksum mismatch`);
    expect(existsSync(join(run, 'metrics.json'))).toBe(false);
    writeFileSync(join(run, 'config.json'), readFileSync(join(clean, 'config.json')));
    const ev = runGraft(['eval', '--run', run]);
    expect(ev.status).toBe(2);
    expect(ev.stderr).toContain(`${file}: not a valid checkpoint: checksum mismatch`);
  });

  it('a checkpoint of another model is refused, naming the setting that differs', () => {
    const run = join(dir, 'other-model');
    cpSync(killed, run, { recursive: true });
    const r = runGraft([...args(run), '--hidden', '32', '--resume']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /argument 'config.hidden' must be 16 as in the checkpoint .*checkpoint\.safetensors, got 32/,
    );
  });
});

describe('unwritable --out', () => {
  const file = join(dir, 'a-file');
  beforeAll(() => writeFileSync(file, 'not a folder\n'));
  // CI runs as root, so a read-only folder would not stop it: a path under a regular file does.
  for (const [what, cmd] of [
    ['graft train', ['train', '--dataset', 'synthetic', '--epochs', '2']],
    [
      'graft train --task graph',
      ['train', '--task', 'graph', '--data', join(dir, 'mol.csv'), '--epochs', '2', '--no-cache'],
    ],
    [
      'graft gp',
      [
        'gp',
        '--geno',
        join(import.meta.dirname, '..', 'data', 'synthetic-gp', 'genotypes.csv.gz'),
        '--pheno',
        join(import.meta.dirname, '..', 'data', 'synthetic-gp', 'phenotypes.csv'),
        '--trait',
        'yield',
      ],
    ],
  ] as const) {
    it(`${what}: a clear error before training starts, and nothing written`, () => {
      writeFileSync(
        join(dir, 'mol.csv'),
        'smiles,a\nCCO,1\nc1ccccc1O,0\nCC#N,1\nCCN(CC)CC,0\nOCC(O)CO,1\nCCCCCCCC,0\nNC(=O)N,1\nCS(=O)C,0\nOC1CCCCC1,1\nc1ccncc1,0\n',
      );
      const r = runGraft([...cmd, '--out', join(file, 'run'), '--quiet']);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(
        `${join(file, 'run')}: cannot create the run folder: a part of the path is a file, not a folder (ENOTDIR); give this run another --out`,
      );
      expect(r.stderr).not.toMatch(/epoch|\bat \w+ \(/);
      expect(readFileSync(file, 'utf8')).toBe('not a folder\n');
    });
  }
});
