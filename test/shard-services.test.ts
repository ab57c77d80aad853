import { describe, expect, it } from 'vitest';
import { syntheticMolecules } from '../src/data/synthetic.js';
import { collate } from '../src/graph/batch.js';
import { Runtime } from '../src/runtime/runtime.js';
import { graphBatchOptions, type GraphTrainConfig } from '../src/train/graph-model.js';
import { GraphShards } from '../src/train/graph-shards.js';
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

/** Three steps of 4 shards each; per step the shards' losses and the master's summed gradients. */
async function steps(threads: number, onWorkers: boolean) {
  const rt = await Runtime.create({ threads });
  const shards = new GraphShards(rt, 8, 4, config);
  const graphs = syntheticMolecules({ graphs: 3 * 64, seed: 9 });
  const out: { losses: Float64Array; grads: Float32Array[] }[] = [];
  try {
    const maxShard = { nodes: graphs.reduce((a, g) => a + g.nodes, 0), graphs: 16 };
    const body = async (): Promise<void> => {
      for (let k = 0; k < 3; k++) {
        const batches = [0, 1, 2, 3].map((s) =>
          collate(rt.heap, graphs.slice(k * 64 + s * 16, k * 64 + (s + 1) * 16), 8, 4, graphBatchOptions(config)),
        );
        try {
          const losses = await shards.run(batches, 64 * 4, k);
          out.push({ losses, grads: shards.master.params().map((p) => (p.grad.data() as Float32Array).slice()) });
        } finally {
          for (const b of batches) b.free();
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
