import { growTree, type GrowParams, type TrainSet, type TreeArrays } from './forest-split.js';

/**
 * One task: trees [from, to) of one forest. The set's arrays live in SharedArrayBuffers, so
 * sending it with every task shares them rather than copying, and one pool can serve many fits.
 */
export interface ForestWorkerTask {
  set: TrainSet;
  params: GrowParams;
  from: number;
  to: number;
}

/**
 * Builds trees [from, to). A tree's randomness comes from its index alone (treeSeed), so
 * these are the same bits the one-thread build makes for those indices.
 */
export default function buildTrees(task: ForestWorkerTask): TreeArrays[] {
  const out: TreeArrays[] = [];
  for (let t = task.from; t < task.to; t++) out.push(growTree(task.set, task.params, t));
  return out;
}
