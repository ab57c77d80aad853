// Runs graft/infer's bundle in a bare V8 context, as an embedder with no Node would: no
// require, no process, no TextDecoder, no fetch; only JavaScript's own globals (WebAssembly
// among them). Started by test/infer.test.ts with --experimental-vm-modules.
//   node --experimental-vm-modules vm-run.mjs BUNDLE MODEL INPUTS OUT
// INPUTS is a JSON file {numNodes, features, src, dst: file paths of raw little-endian arrays};
// OUT receives {backend, globals, probs: raw Float32 bytes as base64 in a JSON file}.
import { readFileSync, writeFileSync } from 'node:fs';
import vm from 'node:vm';

const [bundleFile, modelFile, inputsFile, outFile] = process.argv.slice(2);
const inputs = JSON.parse(readFileSync(inputsFile, 'utf8'));
const buf = (f) => {
  const b = readFileSync(f);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
};
const context = vm.createContext({
  __host: {
    model: buf(modelFile),
    numNodes: inputs.numNodes,
    features: buf(inputs.features),
    src: buf(inputs.src),
    dst: buf(inputs.dst),
  },
});
const bundle = new vm.SourceTextModule(readFileSync(bundleFile, 'utf8'), { context, identifier: 'graft-infer.js' });
const driver = new vm.SourceTextModule(
  `
  import { loadModel } from 'graft-infer';
  const h = globalThis.__host;
  const globals = { process: typeof process, require: typeof require, TextDecoder: typeof TextDecoder, fetch: typeof fetch, Worker: typeof Worker };
  const model = await loadModel(h.model);
  const r = await model.predictNodes({ numNodes: h.numNodes, features: new Float32Array(h.features), src: new Int32Array(h.src), dst: new Int32Array(h.dst) });
  globalThis.__result = { backend: model.backend, globals, probs: r.probs.buffer, pred: Array.from(r.pred) };
`,
  { context, identifier: 'driver.js' },
);
await driver.link(async (specifier) => {
  if (specifier !== 'graft-infer') throw new Error(`the bare context has no module ${specifier}`);
  return bundle;
});
await driver.evaluate();
const r = context.__result;
writeFileSync(
  outFile,
  JSON.stringify({
    backend: r.backend,
    globals: r.globals,
    pred: r.pred,
    probs: Buffer.from(new Uint8Array(r.probs)).toString('base64'),
  }),
);
