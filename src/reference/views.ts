// Typed views of the shared memory for the reference kernels. A grow replaces
// memory.buffer (memory only grows), so the views are remade when its size has changed.

/** f32 rounding: a product of two f32 is exact in f64, and rounding an f64 sum of two f32 equals the f32 sum. */
export const f = Math.fround;

export class HeapViews {
  F = new Float32Array(0);
  I = new Int32Array(0);
  U = new Uint8Array(0);

  constructor(private readonly memory: WebAssembly.Memory) {}

  refresh(): this {
    const buf = this.memory.buffer;
    if (buf.byteLength !== this.U.byteLength) {
      this.F = new Float32Array(buf);
      this.I = new Int32Array(buf);
      this.U = new Uint8Array(buf);
    }
    return this;
  }
}
