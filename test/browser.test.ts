import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadData, loadRawData, type DataChoice } from '../src/cli/train.js';
import type { BackendKind } from '../src/kernels/backend.js';
import { Runtime } from '../src/runtime/runtime.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { predictNodes, type NodeTrainConfig } from '../src/train/node-trainer.js';
import { bitsEqual, runGraftAsync, sharedData, tempDir } from './helpers.js';

// graft/infer in a real browser: Debian's Chromium, headless, driven by puppeteer-core,
// loads a static page (served without cross-origin isolation headers) that imports the
// bundle, fetches a Cora checkpoint and the graph with its raw features, and predicts every
// node's class, the checkpoint's recorded row normalization applied by the bundle. The
// predictions must be the Node runtime's (features normalized by graft train), bit for bit,
// on the same kernels.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const chromium = [process.env['CHROMIUM'], '/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => p && existsSync(p));
const shared = sharedData();
const why = !chromium ? 'no Chromium (apt-get install chromium; .ci/run installs it)' : !shared ? 'no ../shared/data (Cora)' : null;
if (why) console.warn(`test/browser.test.ts skipped: ${why}`);

const PAGE = `<!doctype html><meta charset="utf-8"><title>graft/infer</title>
<script type="module">
import { loadModel, GraftError } from './graft-infer.js';
const get = async (f) => (await fetch(f)).arrayBuffer();
try {
  const [model, x, src, dst, info] = await Promise.all([get('model.safetensors'), get('x.f32'), get('src.i32'), get('dst.i32'), fetch('graph.json').then((r) => r.json())]);
  const m = await loadModel(model);
  const r = await m.predictNodes({ numNodes: info.numNodes, features: new Float32Array(x), src: new Int32Array(src), dst: new Int32Array(dst) });
  let s = ''; const b = new Uint8Array(r.probs.buffer);
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  // An error thrown by the bundle keeps its class name (minified, it used to reach the page as 'I').
  const bad = await loadModel(new Uint8Array(3), { name: 'tiny.bin' }).then(() => null, (e) => e);
  const thrown = { ctor: bad.constructor.name, name: bad.name, isGraftError: bad instanceof GraftError, message: bad.message };
  window.__graft = { backend: m.backend, isolated: self.crossOriginIsolated, probs: btoa(s), pred: Array.from(r.pred), thrown };
} catch (err) {
  window.__graft = { error: String(err && err.stack || err) };
}
</script>`;

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };

function serve(dir: string): Promise<Server> {
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0]!.replace(/^\/+/, '') || 'index.html';
    const file = join(dir, name);
    if (name.includes('..') || !existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe('graft/infer in a headless browser', () => {
  it.skipIf(why !== null)(`predicts Cora's classes in Chromium from a graft train checkpoint, as the Node runtime does${why ? ` (skipped: ${why})` : ''}`, async () => {
    const { default: puppeteer } = await import('puppeteer-core');
    const dir = tempDir('graft-browser-');
    const run = join(dir, 'run');
    const t = await runGraftAsync(['train', '--dataset', 'cora', '--epochs', '60', '--threads', '2', '--out', run, '--quiet']);
    expect(t.status, t.stderr).toBe(0);
    const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as NodeTrainConfig & DataChoice;
    const ds = loadData(config, config.seed);
    const raw = loadRawData(config, config.seed);
    const site = join(dir, 'site');
    const put = (name: string, a: ArrayBufferView | string): void => writeFileSync(join(site, name), typeof a === 'string' ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    (await import('node:fs')).mkdirSync(site);
    put('index.html', PAGE);
    put('graft-infer.js', readFileSync(join(root, 'dist', 'infer', 'graft-infer.js'), 'utf8'));
    put('model.safetensors', readFileSync(join(run, 'checkpoint.safetensors')));
    put('x.f32', raw.features); put('src.i32', ds.src); put('dst.i32', ds.dst);
    put('graph.json', JSON.stringify({ numNodes: ds.numNodes }));
    const server = await serve(site);
    const browser = await puppeteer.launch({
      executablePath: chromium!,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
      userDataDir: join(dir, 'profile'),
    });
    let got: { backend: BackendKind; isolated: boolean; probs: string; pred: number[]; thrown: Record<string, unknown>; error?: string };
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.waitForFunction('window.__graft !== undefined', { timeout: 60_000 });
      got = await page.evaluate('window.__graft') as typeof got;
    } finally {
      await browser.close();
      server.close();
    }
    console.log(`browser: backend ${got.backend}, cross-origin isolated ${String(got.isolated)}`);
    expect(got.error).toBeUndefined();
    expect(got.thrown).toEqual({ ctor: 'GraftError', name: 'GraftError', isGraftError: true, message: expect.stringMatching(/^tiny\.bin: not a valid checkpoint: shorter than its 8-byte header length/) });
    expect(got.isolated).toBe(false); // no COOP/COEP: no SharedArrayBuffer, and it still runs
    expect(['relaxed', 'simd']).toContain(got.backend);
    const cp = loadCheckpoint(join(run, 'checkpoint.safetensors'));
    const weights = new Map([...cp.tensors].filter(([k]) => k.startsWith('best.')).map(([k, v]) => [k.slice(5), v.data as Float32Array]));
    const rt = await Runtime.create({ threads: 2, backend: got.backend });
    let want: Awaited<ReturnType<typeof predictNodes>>;
    try {
      want = await predictNodes(rt, ds, config, weights);
    } finally {
      await rt.close();
    }
    expect(got.pred).toEqual([...want.pred]);
    expect(bitsEqual(new Float32Array(new Uint8Array(Buffer.from(got.probs, 'base64')).buffer), want.probs)).toBe(true);
    // And the classes are Cora's: well above chance on the test nodes.
    const test = [...ds.split.test];
    expect(test.filter((i) => got.pred[i] === ds.labels[i]).length / test.length).toBeGreaterThan(0.7);
  });
});
