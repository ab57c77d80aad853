import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';

/**
 * A [n] uint8 mask in the heap, 1 at each of `nodes` and 0 elsewhere: which nodes a
 * transductive trainer's loss reads (the training, validation or fitting nodes).
 */
export function nodeMask(heap: Heap, n: number, nodes: Iterable<number>): Tensor<'uint8'> {
  const m = new Uint8Array(n);
  for (const i of nodes) m[i] = 1;
  return Tensor.from(heap, 'uint8', [n], m);
}
