import type { Rng } from '../core/random.js';
import type { Heap } from '../memory/heap.js';
import type { Tensor } from '../memory/tensor.js';
import { concatColumns } from '../ops/columns.js';
import type { Layer, PassContext } from './layer.js';
import { Linear, ReLU } from './layers.js';
import { Sequential } from './sequential.js';

// What a branch join is made of (branches, their widths, the head on their joined columns),
// apart from where its branches run: BranchJoin (branch-join.ts) places them on threads for
// training; the inference entry runs them one after another with joinForward. Same layers,
// same weights, same bits.

export interface JoinParts {
  branches: Sequential[];
  head: Linear;
  /** Columns each branch ends with, in branch order. */
  widths: number[];
}

export interface HybridShape {
  /** Columns the graph branch ends with. */
  graphWidth: number;
  /** The dense branch: a Linear + ReLU from `inFeatures` to `hidden` columns. */
  dense: { inFeatures: number; hidden: number };
  /** Columns of the head's output. */
  out: number;
  weightDecay: number;
}

/**
 * The one hybrid layout (node, genomic and graph-level models): the given graph branch, a
 * dense branch (Linear `dense0` + ReLU), and a Linear `head` on their joined columns. The
 * dense branch and the head draw their weights from `rng` after the graph branch did.
 */
export function hybridParts(heap: Heap, rng: Rng, graphBranch: Layer[], s: HybridShape): JoinParts {
  const wd = { weightDecay: s.weightDecay };
  const dense = new Sequential([new Linear(heap, 'dense0', s.dense.inFeatures, s.dense.hidden, rng, wd), new ReLU()]);
  const head = new Linear(heap, 'head', s.graphWidth + s.dense.hidden, s.out, rng, wd);
  return { branches: [new Sequential(graphBranch), dense], head, widths: [s.graphWidth, s.dense.hidden] };
}

/**
 * A join's forward pass on one exec, the branches in order (as BranchJoin runs them off its
 * host's exec): the head's output, owned by the parts until `release`.
 */
export async function joinForward(
  heap: Heap,
  ctx: PassContext,
  parts: JoinParts,
  inputs: readonly Tensor[],
): Promise<{ out: Tensor; release(): void }> {
  const hs: Tensor[] = [];
  let joined: Tensor | null = null;
  const release = (): void => {
    joined?.free();
    for (const b of parts.branches) b.release();
    parts.head.release();
  };
  try {
    for (const [i, b] of parts.branches.entries()) hs.push(await b.forward(ctx, inputs[i]!));
    joined = concatColumns(heap, hs);
    return { out: await parts.head.forward(ctx, joined), release };
  } catch (err) {
    release();
    throw err;
  }
}
