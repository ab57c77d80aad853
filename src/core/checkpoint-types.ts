// What a safetensors file holds once read (core/safetensors.ts), apart from the codec, so the
// sparse tensor encoding (core/sparse-tensors.ts) and the codec share the types without an import cycle.

/** The typed arrays a safetensors file can hold here (F32, I32, U8, U32, I8). */
export type StoredArray = Float32Array | Int32Array | Uint8Array | Uint32Array | Int8Array;

/** One tensor of a safetensors file: its shape and its values, row-major. */
export interface StoredTensor {
  shape: number[];
  data: StoredArray;
}
/**
 * A checkpoint or model file's contents: named tensors (weights, optimizer moments) and string
 * metadata (the config, the format and the training data's description).
 */
export interface Checkpoint {
  tensors: Map<string, StoredTensor>;
  metadata: Record<string, string>;
}
