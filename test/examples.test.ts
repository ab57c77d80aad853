import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../src/core/paths.js';
import { tempDir } from './helpers.js';

// The scripts in examples/ as a user runs them: `node examples/x.mjs`, importing the package by
// its name (graft-gnn resolves to this checkout's dist/ through the package's self-reference),
// each output checked against what its data make true.

const root = packageRoot();

/** Runs an example; its stdout, or a failure with its stderr. */
function example(name: string, args: string[] = []): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'examples', name), ...args], { cwd: root });
    let out = '',
      err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`examples/${name} exited ${code}:\n${err}`)),
    );
  });
}

/** The number after `label` in a line of `text`. */
function figure(text: string, label: RegExp): number {
  const m = text.match(new RegExp(`${label.source}\\s*(-?[0-9.]+)`, 'm'));
  if (!m) throw new Error(`no ${label} in:\n${text}`);
  return Number(m[1]);
}

describe('examples/', () => {
  it('train-node-classifier: a GCN on a planted partition beats chance (0.25) by far', async () => {
    const out = await example('train-node-classifier.mjs');
    expect(out).toContain('data: planted-partition-1, 400 nodes');
    expect(figure(out, /test accuracy:/)).toBeGreaterThan(0.6);
  });

  it('genomic-study: GBLUP and rrBLUP on the shipped set reach what the heritabilities allow', async () => {
    const out = await example('genomic-study.mjs');
    const r = (model: string, trait: string): number => figure(out, new RegExp(`^${model} ${trait}: r =`));
    // height has h² = 0.8, yield 0.5 (data/synthetic-gp/README.md): r is above 0.3 and below
    // √h² for height, and lower for yield; GBLUP and rrBLUP are the same model up to the
    // marker scaling, so they agree closely.
    expect(r('gblup', 'height')).toBeGreaterThan(0.3);
    expect(r('gblup', 'height')).toBeLessThan(Math.sqrt(0.8));
    expect(r('gblup', 'yield')).toBeLessThan(r('gblup', 'height'));
    expect(Math.abs(r('gblup', 'height') - r('rrblup', 'height'))).toBeLessThan(0.05);
    expect(out).toContain('3-fold cross-validation');
  });

  it('predict-new-nodes and infer-in-node: a saved model predicts an unseen graph, and graft-gnn/infer gives the same classes', async () => {
    const dir = tempDir('examples-');
    const out = await example('predict-new-nodes.mjs', [dir]);
    const checkpoint = join(dir, 'checkpoint.safetensors');
    expect(existsSync(checkpoint)).toBe(true);
    expect(figure(out, /new graph: 400 nodes, accuracy/)).toBeGreaterThan(0.6);
    const inferred = await example('infer-in-node.mjs', [checkpoint]);
    expect(inferred).toMatch(/^node model on the (relaxed|simd|js) kernels, 4 classes$/m);
    const line = (text: string, start: string): string | undefined => text.split('\n').find((l) => l.startsWith(start));
    expect(line(inferred, 'classes sha256:')).toBe(line(out, 'classes sha256:'));
    expect(line(inferred, 'node n0:')).toBe(line(out, 'node n0:'));
    expect(line(inferred, 'new graph:')).toBe(line(out, 'new graph:'));
  });
});
