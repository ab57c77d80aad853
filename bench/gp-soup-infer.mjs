// graft gp --gcn-soup --keep-models: the kept soup (one GCN) against the kept gcn ensemble it
// replaces, in graft/infer (the built bundle): file size, and the time of predictGenomic over
// the study's sample graph, the two alternating so that load on a shared machine hits both.
//
//   node bench/gp-soup-infer.mjs RUN/models TRAIT [rounds]
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadavg } from 'node:os';
import { decodeCheckpoint } from '../dist/src/train/checkpoint.js';

const [dir, trait, roundsArg] = process.argv.slice(2);
if (!dir || !trait) throw new Error('usage: node bench/gp-soup-infer.mjs RUN/models TRAIT [rounds]');
const rounds = Number(roundsArg ?? 10);
const { loadModel } = await import('../dist/infer/graft-infer.js');
const inputs = decodeCheckpoint(readFileSync(join(dir, 'inputs.safetensors')));
const f = inputs.tensors.get('features');
const input = {
  n: f.shape[0],
  features: f.data,
  src: inputs.tensors.get('src').data,
  dst: inputs.tensors.get('dst').data,
};
const files = { ensemble: join(dir, `gcn-${trait}.safetensors`), soup: join(dir, `gcn-soup-${trait}.safetensors`) };
const models = {};
for (const [k, file] of Object.entries(files)) models[k] = await loadModel(readFileSync(file));
const times = { ensemble: [], soup: [] };
for (const k of Object.keys(models)) await models[k].predictGenomic(input); // warm-up
for (let r = 0; r < rounds; r++)
  for (const k of r % 2 ? ['soup', 'ensemble'] : ['ensemble', 'soup']) {
    const t0 = performance.now();
    await models[k].predictGenomic(input);
    times[k].push(performance.now() - t0);
  }
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const out = Object.fromEntries(
  Object.keys(files).map((k) => [k, { file_bytes: statSync(files[k]).size, median_ms: +median(times[k]).toFixed(2) }]),
);
console.log(
  JSON.stringify({
    nodes: input.n,
    rounds,
    load_avg: loadavg().map((v) => +v.toFixed(2)),
    ...out,
    time_ratio: +(out.ensemble.median_ms / out.soup.median_ms).toFixed(2),
  }),
);
