// Layer-wise inference over every node of a graph store (issue 29): time, heap peak, RSS.
// Not in CI. Usage (after npm run build):
//   /usr/bin/time -v node bench/layerwise-inference.mjs STORE [--model sage|gcn] [--hidden 256]
//     [--layers 3] [--threads 2] [--nodes N] [--edges E] [--resident false] [--features memory]
import { parseArgs } from 'node:util';
import { Runtime } from '../dist/src/runtime/runtime.js';
import { GraphStore } from '../dist/src/store/format.js';
import { buildSampledModel } from '../dist/src/train/sampled-trainer.js';
import { layerwiseInference } from '../dist/src/train/sampled-inference.js';

const { values: v, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: 'string', default: 'sage' },
    hidden: { type: 'string', default: '256' },
    layers: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    nodes: { type: 'string' },
    edges: { type: 'string' },
    features: { type: 'string', default: 'file' },
    resident: { type: 'string', default: 'true' },
  },
});
const t0 = performance.now();
const store = GraphStore.open(positionals[0], { features: v.features });
const tOpen = performance.now() - t0;
const rt = await Runtime.create({ threads: Number(v.threads) });
const layers = Number(v.layers);
const c = {
  model: v.model,
  layers,
  hidden: Number(v.hidden),
  dropout: 0.5,
  lr: 0.01,
  weightDecay: 0,
  weightDecayScope: 'all',
  epochs: 1,
  patience: 0,
  seed: 1,
  restoreBest: true,
  sampler: { kind: 'neighbor', fanouts: Array(layers).fill(5), batchSize: 1024 },
};
const graph = { prop: null, message: null };
const seq = buildSampledModel(rt, store.numFeatures, store.numClasses, c, graph);
const chunks = {};
if (v.nodes) chunks.nodes = Number(v.nodes);
if (v.edges) chunks.edges = Number(v.edges);
chunks.resident = v.resident !== 'false';
const t1 = performance.now();
const logits = await layerwiseInference(rt, store, seq, graph, chunks);
const ms = performance.now() - t1;
let sum = 0;
for (let i = 0; i < logits.length; i += 997) sum += logits[i];
console.log(
  JSON.stringify({
    store: store.header.name,
    nodes: store.numNodes,
    entries: store.numEdges,
    model: v.model,
    hidden: c.hidden,
    layers,
    threads: rt.threads,
    resident: chunks.resident,
    open_s: +(tOpen / 1000).toFixed(1),
    inference_s: +(ms / 1000).toFixed(2),
    nodes_per_s: Math.round(store.numNodes / (ms / 1000)),
    heap_peak_mib: Math.round(rt.heap.stats().peak / 2 ** 20),
    rss_mib: Math.round(process.memoryUsage().rss / 2 ** 20),
    checksum: sum,
  }),
);
seq.dispose();
await rt.close();
store.close();
