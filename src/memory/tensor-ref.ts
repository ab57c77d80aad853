import { Tensor, type DType } from './tensor.js';

// Tensors cross to worker threads by address: the memory is shared, so a pointer and a shape
// are the whole tensor. One shape for both worker protocols (a branch's passes, a shard's step).

/** A tensor passed by address: where it is in the shared heap and its shape. */
export interface TensorRef {
  ptr: number;
  shape: number[];
}

/** The address and shape of `t`, to send to a worker. */
export function tensorRef(t: Tensor): TensorRef {
  return { ptr: t.ptr, shape: [...t.shape] };
}

/** A view of the tensor `r` names in `heap` (the worker's side of tensorRef); the view owns nothing. */
export function tensorAt<D extends DType = 'float32'>(heap: Tensor['heap'], r: TensorRef, dtype?: D): Tensor<D> {
  return Tensor.view(heap, (dtype ?? 'float32') as D, r.shape, r.ptr);
}
