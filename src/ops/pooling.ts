import { argRangeError, shapeError } from '../core/errors.js';
import type { Exec } from '../runtime/exec.js';
import { partsFor, splitByPrefix } from '../runtime/partition.js';
import { Tensor } from '../memory/tensor.js';
import { matrixArg, outArg, tensorArg, sameMemory } from './check.js';

export const POOL_MODES = ['sum', 'mean', 'max'] as const;
/** How segmentPool reduces a graph's node rows: 'sum', 'mean' or 'max'. */
export type PoolMode = (typeof POOL_MODES)[number];
const MODES: Record<PoolMode, number> = { sum: 0, mean: 1, max: 2 };

/** What segmentPool returns: one row per graph, and for 'max' the node that won each output. */
export interface PoolResult {
  out: Tensor;
  /** For 'max': int32 [graphs, cols], the winning node per output (-1 for an empty graph). */
  argmax?: Tensor<'int32'>;
}

function offsetsArg(fn: string, offsets: Tensor, nodes: number): Int32Array {
  tensorArg(fn, 'offsets', offsets, 'int32', 1);
  const o = offsets.data() as Int32Array;
  if (o.length < 1 || o[0] !== 0 || o[o.length - 1] !== nodes) {
    throw argRangeError(
      fn,
      'offsets',
      `graph offsets from 0 to ${nodes} (the node count)`,
      `[${o[0]} … ${o[o.length - 1]}]`,
    );
  }
  for (let g = 1; g < o.length; g++)
    if (o[g]! < o[g - 1]!) throw argRangeError(fn, `offsets[${g}]`, `>= offsets[${g - 1}] = ${o[g - 1]}`, o[g]);
  return o;
}

/**
 * Pools node rows per graph of a batch (nodes stored graph by graph; graph g owns rows
 * offsets[g] .. offsets[g+1]). Shapes: x [nodes, f], offsets int32 [graphs + 1] → [graphs, f].
 */
export async function segmentPool(exec: Exec, x: Tensor, offsets: Tensor, mode: PoolMode): Promise<PoolResult> {
  sameMemory('segmentPool', exec, { x, offsets });
  const fn = 'segmentPool';
  matrixArg(fn, 'x', x);
  if (!Object.hasOwn(MODES, mode)) throw argRangeError(fn, 'mode', "'sum', 'mean' or 'max'", mode);
  const [nodes, f] = x.shape as [number, number];
  const o = offsetsArg(fn, offsets, nodes);
  const graphs = o.length - 1;
  const out = Tensor.empty(x.heap, 'float32', [graphs, f], 'pooled');
  const argmax = mode === 'max' ? Tensor.empty(x.heap, 'int32', [graphs, f], 'pool argmax') : undefined;
  const bounds = splitByPrefix(o, graphs, partsFor(exec, nodes * f, 1 << 15), 1);
  await exec.run(fn, [x.ptr, f, offsets.ptr, out.ptr, f, argmax?.ptr ?? 0, f, MODES[mode]], bounds);
  return argmax ? { out, argmax } : { out };
}

/**
 * The gradient of segmentPool: each graph's output gradient goes back to its nodes (copied for
 * 'sum', divided by the node count for 'mean', to the argmax node for 'max'). Shapes: gOut
 * [graphs, cols] → [nodes, cols].
 */
export async function segmentPoolBackward(
  exec: Exec,
  gOut: Tensor,
  offsets: Tensor,
  mode: PoolMode,
  nodes: number,
  options: { argmax?: Tensor<'int32'>; out?: Tensor } = {},
): Promise<Tensor> {
  sameMemory('segmentPoolBackward', exec, {
    gOut,
    offsets,
    'options.argmax': options.argmax,
    'options.out': options.out,
  });
  const fn = 'segmentPoolBackward';
  const { argmax, out } = options;
  matrixArg(fn, 'gOut', gOut);
  if (!Object.hasOwn(MODES, mode)) throw argRangeError(fn, 'mode', "'sum', 'mean' or 'max'", mode);
  const [graphs, f] = gOut.shape as [number, number];
  const o = offsetsArg(fn, offsets, nodes);
  if (o.length - 1 !== graphs) throw argRangeError(fn, 'offsets', `${graphs + 1} entries`, o.length);
  if (mode === 'max') {
    if (argmax === undefined)
      throw argRangeError(fn, 'options.argmax', "the argmax from segmentPool for mode 'max'", argmax);
    tensorArg(fn, 'options.argmax', argmax, 'int32', 2);
    if (argmax.shape[0] !== graphs || argmax.shape[1] !== f)
      throw shapeError(fn, 'options.argmax', [graphs, f], argmax.shape);
  }
  const gx = outArg(fn, out, gOut, 'float32', [nodes, f], 'options.out');
  const bounds = splitByPrefix(o, graphs, partsFor(exec, nodes * f, 1 << 15), 1);
  await exec.run(fn, [gOut.ptr, f, offsets.ptr, gx.ptr, f, argmax?.ptr ?? 0, f, MODES[mode]], bounds);
  return gx;
}
