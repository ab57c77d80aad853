import { describe, expect, it } from 'vitest';
import { Tensor } from '../src/memory/tensor.js';
import type { Parameter } from '../src/nn/layer.js';
import { Runtime } from '../src/runtime/runtime.js';
import { Adam } from '../src/train/adam.js';
import { idleUpdate } from '../src/train/sampled-distributed.js';
import type { StepSync } from '../src/train/step.js';

// A rank with no batch at a step of distributed sampled training (issue 29). Under sync every
// rank applies the ranks' mean gradient, so the idle rank must step Adam like the others; under
// the averaging modes each rank steps on its own gradient, and Adam's momentum alone would move
// an idle rank's weights away from what it had: it must keep them and only join the exchange.

/** A StepSync that records its calls and exchanges nothing. */
function recordingSync(averagesGradients: boolean): StepSync & { calls: string[] } {
  const calls: string[] = [];
  return {
    averagesGradients,
    calls,
    gradients: async () => {
      calls.push('gradients');
    },
    afterStep: async () => {
      calls.push('afterStep');
    },
    beforeValidation: async () => {
      calls.push('beforeValidation');
    },
  };
}

describe('idleUpdate: a rank without a batch', () => {
  for (const averagesGradients of [true, false])
    it(`${averagesGradients ? 'sync: steps Adam on the zero gradient (momentum moves it)' : 'averaging modes: keeps weights and Adam state, joins the exchange'}`, async () => {
      const rt = await Runtime.create({ threads: 1 });
      try {
        const h = rt.heap;
        const p: Parameter = {
          name: 'w',
          value: Tensor.from(h, 'float32', [4], [0.5, -0.25, 1, 2]),
          grad: Tensor.from(h, 'float32', [4], [0.1, -0.2, 0.3, -0.4]),
          weightDecay: 0,
        };
        const adam = new Adam([p], { lr: 0.01 });
        await adam.update(rt.exec); // a first step with a gradient: Adam now holds momentum
        const before = (p.value.data() as Float32Array).slice(),
          m = (adam.m[0]!.data() as Float32Array).slice(),
          v = (adam.v[0]!.data() as Float32Array).slice();
        const sync = recordingSync(averagesGradients);
        await idleUpdate(rt, [p], adam, sync);
        const after = p.value.data() as Float32Array;
        expect(sync.calls).toEqual(['gradients', 'afterStep']);
        expect([...(p.grad.data() as Float32Array)]).toEqual([0, 0, 0, 0]);
        if (averagesGradients) {
          // Adam with g = 0: m ← β₁m, v ← β₂v, w ← w − lr·m̂/(√v̂ + ε): each weight moves against its first gradient's sign.
          for (let i = 0; i < 4; i++)
            expect(Math.sign(before[i]! - after[i]!)).toBe(Math.sign([0.1, -0.2, 0.3, -0.4][i]!));
        } else {
          expect([...after]).toEqual([...before]);
          // Adam's state untouched: its moments and step count are the first step's.
          expect(adam.step).toBe(1);
          expect([...(adam.m[0]!.data() as Float32Array)]).toEqual([...m]);
          expect([...(adam.v[0]!.data() as Float32Array)]).toEqual([...v]);
        }
      } finally {
        await rt.close();
      }
    });
});
