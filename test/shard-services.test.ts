import { describe, expect, it } from 'vitest';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { COLLATE_OVERHEAD, collate, collatedBytesBound } from '../src/graph/batch.js';
import { packSamples } from '../src/graph/sample-store.js';
import { GraftError, WorkerError } from '../src/core/errors.js';
import { Tensor } from '../src/memory/tensor.js';
import { Runtime, type WorkerCall } from '../src/runtime/runtime.js';
import { graphBatchOptions, type GraphTrainConfig } from '../src/train/graph-model.js';
import { GraphShards } from '../src/train/graph-shards.js';
import type { ShardRequest } from '../src/train/shard-protocol.js';
import { requestBytes, ShardServices } from '../src/train/shard-services.js';
import { bitsEqual } from './helpers.js';

// Batch splitting on worker threads asks each worker once per step for all its shards
// (ShardServices), and the result has the bits of the same shards run one after another on
// one thread: the oracle is a one-thread GraphShards on the same batches.

const config: GraphTrainConfig = {
  task: 'regression',
  layers: 3,
  hidden: 16,
  dropout: 0.1,
  pool: 'mean',
  lr: 0.01,
  weightDecay: 0,
  epochs: 1,
  batchSize: 64,
  shardSize: 16,
  patience: 0,
  seed: 3,
};

/**
 * Three steps of 4 shards each; per step the shards' losses and the master's summed gradients.
 * `stored`: the shards go as indices into a packed copy of the samples (as GraphTrainer.fit
 * sends them), each collated by the thread that runs it; else collated here, by address.
 */
async function steps(threads: number, onWorkers: boolean, stored = false) {
  const rt = await Runtime.create({ threads });
  const shards = new GraphShards(rt, 8, 4, config);
  const graphs = syntheticMolecules({ graphs: 3 * 64, seed: 9 });
  const store = stored ? packSamples(graphs) : null;
  shards.samples = store;
  const out: { losses: Float64Array; grads: Float32Array[] }[] = [];
  try {
    const maxShard = {
      nodes: graphs.reduce((a, g) => a + g.nodes, 0),
      graphs: 16,
      collatedBytes: graphs.reduce((a, g) => a + collatedBytesBound(g), COLLATE_OVERHEAD),
    };
    const body = async (): Promise<void> => {
      for (let k = 0; k < 3; k++) {
        const indices = [0, 1, 2, 3].map((s) => Array.from({ length: 16 }, (_, i) => k * 64 + s * 16 + i));
        const batches = store
          ? indices.map((part) => ({ store, indices: part }))
          : indices.map((part) =>
              collate(
                rt.heap,
                part.map((i) => graphs[i]!),
                8,
                4,
                graphBatchOptions(config),
              ),
            );
        try {
          const losses = await shards.run(batches, 64 * 4, k);
          out.push({ losses, grads: shards.master.params().map((p) => (p.grad.data() as Float32Array).slice()) });
        } finally {
          for (const b of batches) if ('free' in b) b.free();
        }
      }
    };
    await (onWorkers ? shards.holdingWorkers(maxShard, body) : shards.inline(body));
    return { out, requests: shards.serviceRequests };
  } finally {
    shards.dispose();
    await rt.close();
  }
}

describe('shard services (batch splitting on worker threads)', () => {
  it('asks the worker once per step for its two shards, with the bits of one thread', async () => {
    const serial = await steps(1, false);
    const split = await steps(2, true);
    // 4 shards at 2 threads: this thread runs shards 0 and 2, the worker 1 and 3, in one request per step.
    expect(split.requests).toBe(3);
    expect(serial.requests).toBe(0);
    split.out.forEach((step, k) => {
      expect(Array.from(step.losses)).toEqual(Array.from(serial.out[k]!.losses));
      step.grads.forEach((g, i) => {
        expect(bitsEqual(g, serial.out[k]!.grads[i]!)).toBe(true);
      });
    });
  });
});

describe('shard services collating their own shards from a packed sample set', () => {
  it('at 2 and 3 threads (the workers collate theirs in their arenas), with the bits of one thread collating every shard', async () => {
    const serial = await steps(1, false);
    for (const threads of [2, 3]) {
      const split = await steps(threads, true, true);
      expect(split.requests).toBe(3 * (threads - 1));
      split.out.forEach((step, k) => {
        expect(Array.from(step.losses)).toEqual(Array.from(serial.out[k]!.losses));
        step.grads.forEach((g, i) => {
          expect(bitsEqual(g, serial.out[k]!.grads[i]!)).toBe(true);
        });
      });
    }
  });
});

describe('shard services at three threads', () => {
  it('asks two workers once per step each, maps their losses back by index, with the bits of one thread', async () => {
    const serial = await steps(1, false);
    const split = await steps(3, true);
    // 4 shards in 3 groups: this thread runs shards 0 and 3, worker 1 shard 1, worker 2 shard 2.
    expect(split.requests).toBe(2 * 3);
    split.out.forEach((step, k) => {
      expect(Array.from(step.losses)).toEqual(Array.from(serial.out[k]!.losses));
      step.grads.forEach((g, i) => {
        expect(bitsEqual(g, serial.out[k]!.grads[i]!)).toBe(true);
      });
    });
  });
});

/** Runs `body` with `services` over `workers` lent worker threads, each with a small arena. */
async function withServices(
  workers: number,
  body: (services: ShardServices, rt: Runtime) => Promise<void>,
  call?: WorkerCall,
  slots = 1,
): Promise<void> {
  const rt = await Runtime.create({ threads: workers + 1 });
  try {
    await rt.withWorkerCalls(workers, async (lent, n) => {
      expect(n).toBe(workers);
      const arenas = Array.from({ length: n }, () => Tensor.empty(rt.heap, 'uint8', [1 << 16], 'test arena'));
      const trainer = { trainer: `test:${workers}`, config, features: 8, targets: 4, store: null };
      const services = new ShardServices(rt.heap, call ?? lent, arenas, trainer, slots, 40);
      try {
        await body(services, rt);
      } finally {
        for (const a of arenas) a.free();
      }
    });
  } finally {
    await rt.close();
  }
}

/** A request of `n` made-up shards (never run: every test that builds one expects it refused before it is handed over). */
function bigRequest(n: number): ShardRequest {
  const ref = { ptr: 2 ** 31, shape: [1_000_000, 1_000_000] };
  const shard = {
    index: 0,
    params: [{ value: ref, grad: ref }],
    input: {
      batch: {
        graphs: 1,
        nodes: 1,
        labels: 1,
        rowPtr: ref,
        colIdx: ref,
        vals: ref,
        x: ref,
        offsets: ref,
        y: ref,
        labelMask: ref,
        descriptors: null,
      },
    },
    ctx: { seed: 0, step: 0 },
  };
  return { normalizer: 1, shards: Array.from({ length: n }, () => shard) };
}

describe('shard services: failures and close', () => {
  it('a request too large for the second worker refuses the step before any worker is asked, and close() returns', async () => {
    await withServices(2, async (services) => {
      await services.start();
      const empty: ShardRequest = { normalizer: 1, shards: [] };
      const big = bigRequest(Math.ceil(services.capacity / 100));
      expect(new TextEncoder().encode(JSON.stringify(big)).length).toBeGreaterThan(services.capacity);
      expect(() => services.askAll([empty, big])).toThrow(GraftError);
      expect(() => services.askAll([empty, big])).toThrow(/worker thread 2 .*batchSize 64, shardSize 16/);
      expect(services.requests).toBe(0);
      // The services still serve: an empty step on both, answered, then close.
      services.askAll([empty, empty]);
      const losses = new Float64Array(0);
      await services.answer(1, losses);
      await services.answer(2, losses);
      expect(services.requests).toBe(2);
      await services.close();
    });
  });

  it('close() while workers parse a request (a step that failed on this thread) returns: the worker leaves STOP', async () => {
    await withServices(
      2,
      async (services) => {
        // A request the worker takes a while to parse (padding it ignores), so STOP often comes mid-request.
        const slow = { normalizer: 1, shards: [], pad: 'x'.repeat(services.capacity - 200) } as ShardRequest;
        // No answer awaited: close() stores STOP over REQUEST or DONE and must not hang; the next askAll starts new services.
        for (let k = 0; k < 12; k++) {
          await services.start();
          services.askAll([slow, slow]);
          const until = performance.now() + (k % 4) * 0.5;
          while (performance.now() < until);
          await services.close();
        }
        expect(services.requests).toBe(24);
      },
      undefined,
      64,
    );
  });

  it('a service that fails to start rejects start() with a WorkerError naming its worker thread', async () => {
    const failing: WorkerCall = () => Promise.reject(new Error('no such module'));
    await withServices(
      1,
      async (services) => {
        const err = await services.start().catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WorkerError);
        expect((err as WorkerError).rank).toBe(1);
        expect((err as Error).message).toMatch(/worker thread 1 failed to start: no such module/);
        await services.close();
      },
      failing,
    );
  });

  it('sizes the request area for every shard a step can have: a large hybrid step fits', () => {
    // 2048/8 = 256 shards of a model with 40 parameters, every ref at its widest.
    const req = bigRequest(256);
    req.shards.forEach((s) => {
      s.params = Array.from({ length: 40 }, () => s.params[0]!);
    });
    expect(new TextEncoder().encode(JSON.stringify(req)).length).toBeLessThanOrEqual(requestBytes(256, 40));
  });
});

describe('shard services: a large share per worker', () => {
  it('a step of 256 shards of 8 graphs at 2 threads (128 for the worker) fits its request area, with the bits of one thread', async () => {
    // 16 layers: the worker's request (about 358 KB of JSON) overflowed the fixed 256 KiB area services had before.
    const big: GraphTrainConfig = { ...config, batchSize: 2048, shardSize: 8, layers: 16 };
    const graphs = syntheticMolecules({ graphs: 2048, seed: 5 });
    const once = async (threads: number) => {
      const rt = await Runtime.create({ threads });
      const shards = new GraphShards(rt, 8, 4, big);
      try {
        const maxShard = { nodes: Math.max(...graphs.map((g) => g.nodes)) * 8, graphs: 8 };
        const body = async () => {
          const batches = Array.from({ length: 256 }, (_, s) =>
            collate(rt.heap, graphs.slice(s * 8, (s + 1) * 8), 8, 4, graphBatchOptions(big)),
          );
          try {
            const losses = await shards.run(batches, 2048 * 4, 0);
            return { losses, grads: shards.master.params().map((p) => (p.grad.data() as Float32Array).slice()) };
          } finally {
            for (const b of batches) b.free();
          }
        };
        const out = await (threads > 1 ? shards.holdingWorkers(maxShard, body) : shards.inline(body));
        return { ...out, requests: shards.serviceRequests };
      } finally {
        shards.dispose();
        await rt.close();
      }
    };
    const serial = await once(1);
    const split = await once(2);
    expect(split.requests).toBe(1);
    expect(Array.from(split.losses)).toEqual(Array.from(serial.losses));
    split.grads.forEach((g, i) => {
      expect(bitsEqual(g, serial.grads[i]!)).toBe(true);
    });
  });
});
