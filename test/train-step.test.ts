import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Tensor } from '../src/memory/tensor.js';
import type { PassContext } from '../src/nn/layer.js';
import type { Model } from '../src/nn/model.js';
import type { LossResult } from '../src/ops/losses.js';
import { framed, runFingerprint, sameConfig } from '../src/train/run-checkpoint.js';
import { evaluationPass, trainingPass } from '../src/train/step.js';

// The trainers' shared pieces on their own: a pass releases every temporary on every path
// (counted on a model and a loss that record their calls), and the one fingerprint and
// config comparison against independent formulas.

type Failing = 'forward' | 'loss' | 'read' | 'backward' | null;

/** A model and a loss that record what was made and freed, and fail where told. */
function recorder(fail: Failing) {
  const log: string[] = [];
  const out = { name: 'out' } as unknown as Tensor;
  const model: Model<number> = {
    params: () => [],
    forward: async () => {
      log.push('forward');
      if (fail === 'forward') throw new Error('forward failed');
      return out;
    },
    backward: async () => {
      log.push('backward');
      if (fail === 'backward') throw new Error('backward failed');
      return null;
    },
    release: () => log.push('release'),
    dispose: () => undefined,
  };
  const loss = async (): Promise<LossResult> => {
    log.push('loss');
    if (fail === 'loss') throw new Error('loss failed');
    return { loss: 0.5, grad: { free: () => log.push('grad.free') } as unknown as Tensor, count: 1 } as LossResult;
  };
  const read = (): number => {
    log.push('read');
    if (fail === 'read') throw new Error('read failed');
    return 7;
  };
  return { log, model, loss, read };
}

const ctx = { training: true, seed: 1, step: 0 } as PassContext;

describe('trainingPass', () => {
  it('runs forward, loss, read, backward in order, and frees the loss gradient and releases the model', async () => {
    const r = recorder(null);
    expect(await trainingPass(r.model, ctx, 0, r.loss, r.read)).toEqual({ loss: 0.5, read: 7 });
    expect(r.log).toEqual(['forward', 'loss', 'read', 'backward', 'grad.free', 'release']);
  });

  it.each([
    ['forward', ['forward', 'release']],
    ['loss', ['forward', 'loss', 'release']],
    ['read', ['forward', 'loss', 'read', 'grad.free', 'release']],
    ['backward', ['forward', 'loss', 'read', 'backward', 'grad.free', 'release']],
  ] as const)('a failing %s: the error goes up, every temporary made so far is freed', async (fail, expected) => {
    const r = recorder(fail);
    await expect(trainingPass(r.model, ctx, 0, r.loss, r.read)).rejects.toThrow(`${fail} failed`);
    expect(r.log).toEqual(expected);
  });

  it('evaluationPass releases the model after use, and when use throws', async () => {
    const r = recorder(null);
    expect(await evaluationPass(r.model, ctx, 0, () => 3)).toBe(3);
    expect(r.log).toEqual(['forward', 'release']);
    const s = recorder(null);
    await expect(
      evaluationPass(s.model, ctx, 0, () => {
        throw new Error('use failed');
      }),
    ).rejects.toThrow('use failed');
    expect(s.log).toEqual(['forward', 'release']);
  });
});

describe('the run fingerprint and the config comparison', () => {
  it('runFingerprint is SHA-256 of the parts in order; framed puts each array length first (0xffffffff when absent)', () => {
    const a = Float32Array.of(1, 2, 3),
      b = Int32Array.of(-4);
    const bytes = (x: ArrayBufferView): Buffer => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
    const len = (n: number): Buffer => {
      const buf = Buffer.alloc(4);
      buf.writeUInt32LE(n);
      return buf;
    };
    const want = createHash('sha256')
      .update(Buffer.concat([Buffer.from('cfg', 'utf8'), len(12), bytes(a), len(0xffffffff), len(4), bytes(b)]))
      .digest('hex');
    expect(runFingerprint(['cfg', ...framed(a), ...framed(undefined), ...framed(b)])).toBe(want);
    // A boundary moved between two arrays changes a framed fingerprint, not a raw one.
    const c = Float32Array.of(1, 2),
      d = Float32Array.of(3);
    expect(runFingerprint([...framed(a)])).not.toBe(runFingerprint([...framed(c), ...framed(d)]));
    expect(runFingerprint([a])).toBe(runFingerprint([c, d]));
  });

  it('sameConfig ignores epochs, reads keys through the defaults given, and names the first key that differs', () => {
    const saved = { hidden: 16, epochs: 10 };
    expect(() => sameConfig('f', saved, { current: { hidden: 16, epochs: 50 } }, 'cp')).not.toThrow();
    expect(() => sameConfig('f', saved, { current: { hidden: 32, epochs: 10 } }, 'cp')).toThrow(
      "f: argument 'config.hidden' must be 16 as in the checkpoint cp, got 32",
    );
    // A key absent from the saved config counts as its default.
    const value = (c: Record<string, unknown>, k: string): unknown => (k === 'order' ? (c[k] ?? 'auto') : c[k]);
    expect(() => sameConfig('f', saved, { current: { hidden: 16, order: 'auto' }, value }, 'cp')).not.toThrow();
    expect(() => sameConfig('f', saved, { current: { hidden: 16, order: 'rcm' }, value }, 'cp')).toThrow(
      /config\.order' must be "auto"/,
    );
  });
});
