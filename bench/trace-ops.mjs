// node bench/trace-ops.mjs TRACE.json [STEP-NAME-PREFIX]
//
// Counts, per timed step of a `--trace` file (the `main: steps` spans; warm-ups skipped),
// what the runtime did: per kernel, the ops run inline on the leader, the ops published to
// the helpers (with the parts they were cut into), and the time each thread spent computing,
// dispatching, spinning and sleeping. Counts do not depend on the machine's load; times are
// only comparable as shares within one trace. Issue 31.
import { readFileSync } from 'node:fs';

const [file, only] = process.argv.slice(2);
if (!file) {
  console.error('usage: node bench/trace-ops.mjs TRACE.json [STEP-NAME-PREFIX]');
  process.exit(2);
}
const events = JSON.parse(readFileSync(file, 'utf8')).traceEvents;
const names = new Map();
for (const e of events) if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, e.args.name);
const track = (e) => names.get(`${e.pid}:${e.tid}`) ?? `thread ${e.tid}`;
const spans = events.filter((e) => e.ph === 'X').sort((a, b) => a.ts - b.ts);
const steps = spans.filter((e) => track(e) === 'main: steps' && !e.name.includes('warm-up'));
const blocks = new Map();
for (const s of steps) {
  if (only && !s.name.startsWith(only)) continue;
  if (!blocks.has(s.name)) blocks.set(s.name, []);
  blocks.get(s.name).push(s);
}

const inside = (e, s) => e.ts >= s.ts && e.ts < s.ts + s.dur;
for (const [name, list] of blocks) {
  const n = list.length;
  const kernels = new Map();
  const k = (kn) => {
    if (!kernels.has(kn))
      kernels.set(kn, { inline: 0, published: 0, woke: 0, parts: 0, mainUs: 0, workerUs: 0, workerParts: 0, work: [] });
    return kernels.get(kn);
  };
  const cats = new Map();
  let stepUs = 0;
  for (const s of list) {
    stepUs += s.dur;
    let lastPublish = null;
    for (const e of spans) {
      if (e.ts >= s.ts + s.dur) break;
      if (!inside(e, s)) continue;
      const t = track(e);
      if (t.includes(': ')) continue;
      const who = t === 'main' ? 'main' : 'worker';
      const key = `${who} ${e.cat}`;
      const c = cats.get(key) ?? { us: 0, n: 0 };
      c.us += e.dur;
      c.n++;
      cats.set(key, c);
      if (e.cat === 'dispatch' && who === 'main' && e.name.startsWith('publish ')) {
        const r = k(e.name.slice(8));
        r.published++;
        r.parts += e.args?.parts ?? 0;
        if (e.args?.woke) r.woke++;
        lastPublish = e.name.slice(8);
      } else if (e.cat === 'compute' || e.cat === 'copy') {
        const r = k(e.name);
        if (who === 'main') {
          r.mainUs += e.dur;
          if (lastPublish === e.name) lastPublish = null;
          else {
            r.inline++;
            if (e.args?.work !== undefined) r.work.push(e.args.work);
          }
        } else {
          r.workerUs += e.dur;
          r.workerParts++;
        }
      }
    }
  }
  console.log(`\n## ${name}: ${n} steps, ${(stepUs / n / 1000).toFixed(2)} ms per step (traced)`);
  console.log(
    '| kernel | inline / step | published / step | woke helper | main µs / step | worker µs / step | median work inline |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- |');
  const rows = [...kernels.entries()].sort((a, b) => b[1].mainUs + b[1].workerUs - (a[1].mainUs + a[1].workerUs));
  const tot = { inline: 0, published: 0, woke: 0 };
  for (const [kn, r] of rows) {
    tot.inline += r.inline;
    tot.published += r.published;
    tot.woke += r.woke;
    const w = r.work.sort((a, b) => a - b);
    console.log(
      `| ${kn} | ${(r.inline / n).toFixed(1)} | ${(r.published / n).toFixed(1)} | ${(r.woke / n).toFixed(1)} | ${(r.mainUs / n).toFixed(0)} | ${(r.workerUs / n).toFixed(0)} | ${w.length ? w[w.length >> 1] : '-'} |`,
    );
  }
  console.log(
    `| all | ${(tot.inline / n).toFixed(1)} | ${(tot.published / n).toFixed(1)} | ${(tot.woke / n).toFixed(1)} | | | |`,
  );
  const cl = [...cats.entries()].sort().map(([c, v]) => `${c} ${(v.us / n).toFixed(0)} µs (${(v.n / n).toFixed(1)})`);
  console.log(`per step: ${cl.join('; ')}`);
}
