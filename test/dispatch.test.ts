import { afterAll, describe, expect, it } from 'vitest';
import { biasAdd, colSum } from '../src/ops/elementwise.js';
import { matmul } from '../src/ops/linalg.js';
import { GEMM_WAKE_GRAINS, partsFor, WAKE_GRAINS } from '../src/runtime/partition.js';
import { Runtime, type RuntimeOptions } from '../src/runtime/runtime.js';
import type { Team } from '../src/runtime/team.js';
import { Tensor } from '../src/memory/tensor.js';
import { randomMatrix } from './fixtures.js';
import { bitsEqual } from './helpers.js';

// Issue 31: an op too small to pay for waking a sleeping helper runs on the calling thread,
// and one worth it (or any op while the helper spins) is still split; the bits never move.

const open: Runtime[] = [];
async function runtime(options: RuntimeOptions): Promise<Runtime> {
  const rt = await Runtime.create(options);
  open.push(rt);
  return rt;
}
afterAll(async () => {
  await Promise.all(open.map((rt) => rt.close()));
});

/** Resolves once every helper of `rt` sleeps (they do within microseconds at helperSpinMicros 0). */
async function helpersAsleep(rt: Runtime): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if ((rt.exec as Team).helpersAsleep()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the helpers never went to sleep');
}

/** A small GEMM (under WAKE_GRAINS), a large one, a bias add and a column sum; copies of their outputs. */
async function ops(rt: Runtime): Promise<Float32Array[]> {
  const h = rt.heap;
  const outs: Float32Array[] = [];
  const small = await matmul(rt.exec, randomMatrix(h, 162, 64, 1), randomMatrix(h, 64, 64, 2));
  outs.push(small.data().slice() as Float32Array);
  const large = await matmul(rt.exec, randomMatrix(h, 1024, 128, 3), randomMatrix(h, 128, 64, 4));
  outs.push(large.data().slice() as Float32Array);
  const b = Tensor.from(h, 'float32', [64], randomMatrix(h, 1, 64, 5).data());
  outs.push((await biasAdd(rt.exec, large, b, { relu: true })).data().slice() as Float32Array);
  outs.push((await colSum(rt.exec, large)).data().slice() as Float32Array);
  return outs;
}

describe('dispatch: small ops and sleeping helpers', () => {
  it('while every helper sleeps, an op under WAKE_GRAINS grains is one part; a larger one, or a thread count, still splits', async () => {
    const grain = 1 << 17;
    const rt = await runtime({ threads: 2, helperSpinMicros: 0, keepSmallOpsInline: true });
    await rt.exec.run('noop', [], [0, 1, 2]); // the helper ran a part, then slept at once
    await helpersAsleep(rt);
    expect(partsFor(rt.exec, WAKE_GRAINS * grain, grain)).toBe(2); // worth a wake-up
    expect(partsFor(rt.exec, 4 * grain, grain)).toBe(1);
    expect(partsFor(rt.exec, (WAKE_GRAINS - 1) * grain, grain)).toBe(1);
    // A GEMM's threshold is its own: its grain costs less time (bench/dispatch-cost.ts).
    expect(partsFor(rt.exec, WAKE_GRAINS * grain, grain, GEMM_WAKE_GRAINS)).toBe(1);
    // The fourth small op in a row is split all the same (it wakes the helper, which then
    // spins for the ops after it); the count starts again after it.
    expect(partsFor(rt.exec, 4 * grain, grain)).toBe(2);
    expect(partsFor(rt.exec, 4 * grain, grain)).toBe(1);
    expect(partsFor(rt.exec, GEMM_WAKE_GRAINS * grain, grain, GEMM_WAKE_GRAINS)).toBe(2);
    // A thread count alone knows nothing of sleep: the grain rule as before.
    expect(partsFor(2, 4 * grain, grain)).toBe(2);
    expect(partsFor(2, grain, grain)).toBe(1);
  });

  it('while the helper spins for the next op, a small op is split as before', async () => {
    const grain = 1 << 17;
    // A spin of 2 s: the helper does not sleep during this test (and is not left spinning long after).
    const rt = await runtime({ threads: 2, helperSpinMicros: 2_000_000 });
    await rt.exec.run('noop', [], [0, 1, 2]);
    expect((rt.exec as Team).helpersAsleep()).toBe(false);
    expect(partsFor(rt.exec, 4 * grain, grain)).toBe(2);
  });

  it('by default (keepSmallOpsInline off) a small op is split while the helper sleeps, as before', async () => {
    const grain = 1 << 17;
    const rt = await runtime({ threads: 2, helperSpinMicros: 0 });
    await rt.exec.run('noop', [], [0, 1, 2]);
    await helpersAsleep(rt);
    expect(partsFor(rt.exec, 4 * grain, grain)).toBe(2);
    expect(partsFor(rt.exec, 4 * grain, grain)).toBe(2);
  });

  it('an exec on one thread never splits, whatever the work', async () => {
    const rt = await runtime({ threads: 1 });
    expect((rt.exec as Team).helpersAsleep()).toBe(false);
    expect(partsFor(rt.exec, 1000 * (1 << 17), 1 << 17)).toBe(1);
  });

  it('ops give the bits of one thread whether the helper sleeps (small ops inline) or spins (split)', async () => {
    const serial = await ops(await runtime({ threads: 1 }));
    const asleep = await runtime({ threads: 2, helperSpinMicros: 0, keepSmallOpsInline: true });
    const spinning = await runtime({ threads: 2, helperSpinMicros: 2_000_000 });
    for (const rt of [asleep, spinning]) {
      if (rt === asleep) {
        await rt.exec.run('noop', [], [0, 1, 2]);
        await helpersAsleep(rt); // so the small GEMM does run inline
      }
      const out = await ops(rt);
      out.forEach((o, i) => {
        if (!bitsEqual(o, serial[i]!)) throw new Error(`output ${i} differs from one thread's`);
      });
    }
  });
});
