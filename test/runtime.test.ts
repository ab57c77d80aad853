import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerError } from '../src/core/errors.js';
import { FAULT_EXIT, FAULT_THROW, reloadFaultPlan } from '../src/core/test-fault.js';
import { dropout, dropoutBackward, dropoutKey } from '../src/ops/dropout.js';
import {
  addInto,
  axpy,
  biasAdd,
  colSum,
  copy,
  reduceInOrder,
  relu,
  reluBackward,
  scale,
} from '../src/ops/elementwise.js';
import { matmul } from '../src/ops/linalg.js';
import { bceWithLogits, mseLoss, softmaxCrossEntropy } from '../src/ops/losses.js';
import { adamStep, sgdStep } from '../src/ops/optim.js';
import { segmentPool, segmentPoolBackward } from '../src/ops/pooling.js';
import { spmm } from '../src/ops/sparse.js';
import type { Exec } from '../src/runtime/exec.js';
import { Runtime, type RuntimeOptions } from '../src/runtime/runtime.js';
import { Tensor } from '../src/memory/tensor.js';
import { randomGraph, randomMatrix } from './fixtures.js';
import { availableBackends, bitsEqual, randn } from './helpers.js';
import { engineSupports } from '../src/kernels/wasm.js';

const open: Runtime[] = [];
async function runtime(options: RuntimeOptions): Promise<Runtime> {
  const rt = await Runtime.create(options);
  open.push(rt);
  return rt;
}
afterAll(async () => {
  await Promise.all(open.map((rt) => rt.close()));
});

/** Every op once on data big enough to be split into several parts; returns copies of all outputs. */
async function everyOp(rt: Runtime, exec: Exec = rt.exec): Promise<Float32Array[]> {
  const h = rt.heap;
  const outs: Float32Array[] = [];
  const keep = (t: Tensor): void => {
    outs.push(new Float32Array(t.data().slice().buffer));
  };
  const adj = randomGraph(h, 3000, 8, 1);
  const x = randomMatrix(h, 3000, 67, 2);
  const w = randomMatrix(h, 67, 40, 3);
  const ax = await spmm(exec, adj, x);
  keep(ax);
  const axBlocked = await spmm(exec, adj, x, undefined, { colBlock: 32 });
  keep(axBlocked);
  const hw = await matmul(exec, ax, w);
  keep(hw);
  const gw = await matmul(exec, ax, hw, undefined, { transA: true });
  keep(gw);
  const gx = await matmul(exec, hw, w, undefined, { transB: true });
  keep(gx);
  const bias = randomMatrix(h, 1, 40, 4);
  const b1 = Tensor.from(h, 'float32', [40], bias.data());
  await biasAdd(exec, hw, b1);
  keep(hw);
  keep(await colSum(exec, hw));
  const r = await relu(exec, hw);
  keep(r);
  keep(await reluBackward(exec, r, hw));
  keep(await scale(exec, hw, 0.37));
  const y = await copy(exec, hw, Tensor.empty(h, 'float32', hw.shape));
  await axpy(exec, -0.5, r, y);
  keep(y);
  await addInto(exec, r, y);
  keep(y);
  const d = await dropout(exec, x, 0.5, dropoutKey(42, 3));
  keep(d.y);
  outs.push(
    new Float32Array(
      d.mask
        .data()
        .slice()
        .buffer.slice(0, d.mask.size - (d.mask.size % 4)),
    ),
  );
  keep(await dropoutBackward(exec, d.y, d.mask, 0.5));
  const logits = await matmul(exec, ax, randomMatrix(h, 67, 7, 5));
  const labels = Tensor.from(
    h,
    'int32',
    [3000],
    Array.from({ length: 3000 }, (_, i) => (i * 13) % 7),
  );
  const mask = Tensor.from(
    h,
    'uint8',
    [3000],
    Array.from({ length: 3000 }, (_, i) => (i % 3 ? 1 : 0)),
  );
  const ce = await softmaxCrossEntropy(exec, logits, labels, { mask });
  keep(ce.grad);
  outs.push(Float32Array.of(ce.loss));
  const tgt = randomMatrix(h, 3000, 7, 6);
  const mse = await mseLoss(exec, logits, tgt, { mask });
  keep(mse.grad);
  outs.push(Float32Array.of(mse.loss));
  const bin = Tensor.from(
    h,
    'float32',
    [3000, 7],
    Array.from({ length: 21000 }, (_, i) => (i % 5 === 0 ? 1 : 0)),
  );
  const bce = await bceWithLogits(exec, logits, bin);
  keep(bce.grad);
  outs.push(Float32Array.of(bce.loss));
  const mw = Tensor.zeros(h, 'float32', w.shape),
    vw = Tensor.zeros(h, 'float32', w.shape);
  const hyper = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 5e-4, decoupled: false };
  const wa = await copy(exec, w, Tensor.empty(h, 'float32', w.shape));
  for (let s = 1; s <= 3; s++) await adamStep(exec, wa, gw, mw, vw, s, hyper);
  keep(wa);
  const ws = await copy(exec, w, Tensor.empty(h, 'float32', w.shape)),
    buf = Tensor.zeros(h, 'float32', w.shape);
  for (let s = 0; s < 3; s++)
    await sgdStep(exec, ws, gw, buf, s === 0, {
      lr: 0.1,
      momentum: 0.9,
      dampening: 0,
      weightDecay: 1e-4,
      nesterov: true,
    });
  keep(ws);
  const offsets = Tensor.from(
    h,
    'int32',
    [121],
    Array.from({ length: 121 }, (_, g) => Math.round((g * 3000) / 120)),
  );
  for (const mode of ['sum', 'mean', 'max'] as const) {
    const p = await segmentPool(exec, x, offsets, mode);
    keep(p.out);
    keep(await segmentPoolBackward(exec, p.out, offsets, mode, 3000, p.argmax ? { argmax: p.argmax } : {}));
  }
  return outs;
}

describe('determinism', () => {
  // Both WASM builds: the relaxed build's fused multiply-adds give other bits than SIMD128,
  // but they too must not depend on the thread count.
  for (const backend of availableBackends().filter((b) => b !== 'js')) {
    it(`every op gives bitwise-identical results with 1, 2, 3 and 4 threads (${backend} build)`, async () => {
      const results: Float32Array[][] = [];
      for (const threads of [1, 2, 3, 4]) {
        const rt = await runtime({ threads, backend });
        expect(rt.backendKind).toBe(backend);
        results.push(await everyOp(rt));
        await rt.close();
      }
      for (let t = 1; t < results.length; t++) {
        results[t]!.forEach((out, i) => {
          if (!bitsEqual(out, results[0]![i]!)) throw new Error(`output ${i} differs between 1 and ${t + 1} threads`);
        });
      }
    });
  }

  it('the relaxed build is on by default wherever the engine can accept it (Node 20 needs no flag from the user)', async () => {
    const rt = await runtime({ threads: 2 });
    const want = engineSupports().relaxed ? 'relaxed' : 'simd';
    expect(rt.backendKind).toBe(want);
    for (const pong of await rt.ping()) expect(pong.backend).toBe(want);
    const major = Number(process.versions.node.split('.')[0]);
    if (major === 20) expect(want).toBe('relaxed');
  });

  it('the plain-TypeScript backend is deterministic across threads too', async () => {
    const a = await runtime({ threads: 1, backend: 'js' });
    const b = await runtime({ threads: 3, backend: 'js' });
    const ra = await everyOp(a),
      rb = await everyOp(b);
    ra.forEach((out, i) => {
      expect(bitsEqual(out, rb[i]!)).toBe(true);
    });
  });

  it('forked branches and batch splitting give the results of a serial run', async () => {
    const serialRt = await runtime({ threads: 1 });
    const serial = await everyOp(serialRt);
    const rt = await runtime({ threads: 4 });
    // Two branches at once, each on its own group of workers, while the caller runs a third.
    const f1 = rt.fork((exec) => everyOp(rt, exec), { threads: 1 });
    const f2 = rt.fork((exec) => everyOp(rt, exec), { threads: 1 });
    const here = await everyOp(rt);
    for (const res of [await f1.join(), await f2.join(), here])
      res.forEach((out, i) => {
        expect(bitsEqual(out, serial[i]!)).toBe(true);
      });
    expect(rt.mainHelpers).toBe(3);
  });

  it('forks inside withForkGroups use the groups formed ahead and give the results of a serial run', async () => {
    const serial = await everyOp(await runtime({ threads: 1 }));
    for (const threads of [2, 4]) {
      const rt = await runtime({ threads });
      await rt.withForkGroups(2, async () => {
        for (let round = 0; round < 2; round++) {
          const f1 = rt.fork((exec) => everyOp(rt, exec)),
            f2 = rt.fork((exec) => everyOp(rt, exec));
          for (const res of [await f1.join(), await f2.join()])
            res.forEach((out, i) => {
              expect(bitsEqual(out, serial[i]!)).toBe(true);
            });
        }
        expect(rt.mainHelpers).toBe(0); // every worker is in a held group
      });
      expect(rt.mainHelpers).toBe(threads - 1);
    }
  });

  it('a body that fails while a fork still runs: withForkGroups waits for that fork before the groups go back; the runtime keeps working', async () => {
    const rt = await runtime({ threads: 3 });
    let slowDone = false;
    const body = rt.withForkGroups(2, async () => {
      rt.fork(async (exec) => {
        await everyOp(rt, exec);
        slowDone = true;
      });
      const bad = rt.fork(async () => {
        throw new Error('branch failed');
      });
      await bad.join(); // rejects while the slow branch still runs on its held group
    });
    await expect(body).rejects.toThrow('branch failed');
    expect(slowDone).toBe(true);
    expect(rt.mainHelpers).toBe(2);
    const serial = await everyOp(await runtime({ threads: 1 }));
    (await everyOp(rt)).forEach((out, i) => {
      expect(bitsEqual(out, serial[i]!)).toBe(true);
    });
  });

  it('onOneThread: every op and fork on the calling thread (no helper serves the main team), the bits of every thread count; the helpers come back after, also after a throw', async () => {
    const serial = await everyOp(await runtime({ threads: 1 }));
    const rt = await runtime({ threads: 3 });
    const inside = await rt.onOneThread(async () => {
      expect(rt.mainHelpers).toBe(0);
      // No worker to spare: the fork runs on this thread, interleaved with the ops here.
      const f = rt.fork((exec) => everyOp(rt, exec));
      const here = await everyOp(rt);
      return [here, await f.join()];
    });
    for (const res of inside)
      res.forEach((out, i) => {
        expect(bitsEqual(out, serial[i]!)).toBe(true);
      });
    expect(rt.mainHelpers).toBe(2);
    const failing = rt.onOneThread(async () => {
      expect(rt.mainHelpers).toBe(0);
      throw new Error('body failed');
    });
    await expect(failing).rejects.toThrow('body failed');
    expect(rt.mainHelpers).toBe(2);
    // The helpers serve again: the ops split over 3 threads give the same bits.
    (await everyOp(rt)).forEach((out, i) => {
      expect(bitsEqual(out, serial[i]!)).toBe(true);
    });
    const one = await runtime({ threads: 1 });
    expect(await one.onOneThread(async () => one.mainHelpers)).toBe(0);
    expect(one.mainHelpers).toBe(0);
  });

  it('batch splitting reduces shard gradients in shard order: same bits for 1, 2 and 4 threads', async () => {
    const run = async (threads: number): Promise<Float32Array> => {
      const rt = await runtime({ threads });
      const h = rt.heap;
      const x = randomMatrix(h, 4096, 64, 9),
        g = randomMatrix(h, 4096, 32, 10);
      const shards = 6;
      const grads = Array.from({ length: shards }, () => Tensor.empty(h, 'float32', [64, 32]));
      const rowsPer = Math.ceil(4096 / shards);
      const xs = Array.from({ length: shards }, (_, s) => {
        const r0 = s * rowsPer,
          r1 = Math.min(4096, r0 + rowsPer);
        return [
          Tensor.from(h, 'float32', [r1 - r0, 64], x.data().subarray(r0 * 64, r1 * 64)),
          Tensor.from(h, 'float32', [r1 - r0, 32], g.data().subarray(r0 * 32, r1 * 32)),
        ] as const;
      });
      await rt.dataParallel(shards, async (exec, s) => {
        await matmul(exec, xs[s]![0], xs[s]![1], grads[s], { transA: true });
      });
      const total = await reduceInOrder(rt.exec, grads, Tensor.empty(h, 'float32', [64, 32]));
      const out = (total.data() as Float32Array).slice();
      await rt.close();
      return out;
    };
    const one = await run(1);
    expect(bitsEqual(await run(2), one)).toBe(true);
    expect(bitsEqual(await run(4), one)).toBe(true);
  });
});

describe('the fault-injection test hook', () => {
  it('is off without GRAFT_TEST_FAULT: faultInject refuses to run', async () => {
    const saved = process.env['GRAFT_TEST_FAULT'];
    delete process.env['GRAFT_TEST_FAULT'];
    reloadFaultPlan();
    try {
      const rt = await runtime({ threads: 1 });
      await expect(rt.exec.run('faultInject', [FAULT_THROW, 0], [0, 1])).rejects.toThrow(
        'faultInject is a test hook: it runs only with GRAFT_TEST_FAULT set',
      );
    } finally {
      if (saved !== undefined) process.env['GRAFT_TEST_FAULT'] = saved;
      reloadFaultPlan();
    }
  });

  it('GRAFT_TEST_FAULT=throw:gemmNN:2 fails the second GEMM alone, on its last part', async () => {
    const saved = process.env['GRAFT_TEST_FAULT'];
    process.env['GRAFT_TEST_FAULT'] = 'throw:gemmNN:2';
    reloadFaultPlan();
    try {
      const rt = await runtime({ threads: 2 });
      const a = Tensor.from(rt.heap, 'float32', [64, 64], randn(64 * 64, 1));
      const first = await matmul(rt.exec, a, a);
      await expect(matmul(rt.exec, a, a)).rejects.toThrow(/injected fault in part 1/);
      const third = await matmul(rt.exec, a, a);
      expect(bitsEqual(third.data() as Float32Array, first.data() as Float32Array)).toBe(true);
      process.env['GRAFT_TEST_FAULT'] = 'explode';
      reloadFaultPlan();
      await expect(matmul(rt.exec, a, a)).rejects.toThrow(
        /^GRAFT_TEST_FAULT: expected 1, or throw\|exit\|kill:KERNEL:N\[xR\]\[:PART\]\[@main\|@worker\|@helper\], got "explode"$/,
      );
    } finally {
      if (saved === undefined) delete process.env['GRAFT_TEST_FAULT'];
      else process.env['GRAFT_TEST_FAULT'] = saved;
      reloadFaultPlan();
    }
  });
});

describe('faults', () => {
  beforeAll(() => {
    process.env['GRAFT_TEST_FAULT'] = '1';
    reloadFaultPlan();
  });
  afterAll(() => {
    delete process.env['GRAFT_TEST_FAULT'];
    reloadFaultPlan();
  });

  it("a kernel that throws on a worker rejects the op with that worker's error; the next op works", async () => {
    const rt = await runtime({ threads: 3 });
    const err = await rt.exec.run('faultInject', [FAULT_THROW, 2], [0, 1, 2, 3]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerError);
    expect((err as WorkerError).message).toBe('faultInject failed on worker 1: Error: injected fault in part 2');
    expect((err as WorkerError).rank).toBe(1);
    const out = await everyOp(rt);
    expect(out.length).toBeGreaterThan(10);
  });

  it('a worker that dies mid-op rejects the op; the pool replaces it and the next op works', async () => {
    const rt = await runtime({ threads: 3 });
    const before = await rt.ping();
    const err = await rt.exec.run('faultInject', [FAULT_EXIT, 1], [0, 1, 2, 3]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerError);
    expect((err as Error).message).toMatch(
      /faultInject failed on worker 0: worker exited with code 70 while running faultInject/,
    );
    const serial = await everyOp(await runtime({ threads: 1 }));
    const again = await everyOp(rt);
    again.forEach((out, i) => {
      expect(bitsEqual(out, serial[i]!)).toBe(true);
    });
    const after = await rt.ping();
    expect(after).toHaveLength(2);
    expect(new Set(after.map((p) => p.threadId))).not.toEqual(new Set(before.map((p) => p.threadId)));
  });

  it('a thrown error on the leader waits for the helpers, then rejects', async () => {
    const rt = await runtime({ threads: 2 });
    await expect(rt.exec.run('faultInject', [FAULT_THROW, 0], [0, 1, 2])).rejects.toThrow('injected fault in part 0');
    await expect(rt.exec.run('noop', [], [0, 1, 2])).resolves.toBeUndefined();
  });

  it('an error inside a forked branch surfaces at join and the threads come back', async () => {
    const rt = await runtime({ threads: 3 });
    const f = rt.fork(async (exec) => {
      await exec.run('faultInject', [FAULT_THROW, 0], [0, 1]);
    });
    await expect(f.join()).rejects.toThrow(/injected fault in part 0/);
    expect(rt.mainHelpers).toBe(2);
  });
});

describe('runtime options', () => {
  it('validates its options with exact messages', async () => {
    await expect(Runtime.create({ threads: 0 })).rejects.toThrow(
      "Runtime.create: argument 'options.threads' must be a positive integer, got 0",
    );
    await expect(Runtime.create({ threads: 1.5 })).rejects.toThrow(/options.threads/);
    await expect(Runtime.create({ backend: 'gpu' as never })).rejects.toThrow(
      /'relaxed', 'simd', 'js' or 'auto', got "gpu"/,
    );
    const rt = await runtime({ threads: 1 });
    expect(() => rt.fork(42 as never)).toThrow(/Runtime.fork: argument 'fn' must be a function/);
    await rt.close();
    expect(() => rt.fork(async () => 1)).toThrow(/closed/);
  });
});
