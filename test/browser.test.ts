import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadData, loadRawData, type DataChoice } from '../src/store/node-task.js';
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
const chromium = [process.env['CHROMIUM'], '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (p) => p && existsSync(p),
);
const shared = sharedData();
const why = !chromium
  ? 'no Chromium (apt-get install chromium; .ci/run installs it)'
  : !shared
    ? 'no ../shared/data (Cora)'
    : null;
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
    if (name.includes('..') || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Serves `site`, opens its index.html in headless Chromium and returns what the page left in window.__graft. */
async function inChromium(site: string, dir: string): Promise<unknown> {
  const { default: puppeteer } = await import('puppeteer-core');
  const server = await serve(site);
  const browser = await puppeteer.launch({
    executablePath: chromium!,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    userDataDir: join(dir, 'profile'),
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
    await page.waitForFunction('window.__graft !== undefined', { timeout: 60_000 });
    return await page.evaluate('window.__graft');
  } finally {
    await browser.close();
    server.close();
  }
}

describe('graft/infer in a headless browser', () => {
  it.skipIf(why !== null)(
    `predicts Cora's classes in Chromium from a graft train checkpoint, as the Node runtime does${why ? ` (skipped: ${why})` : ''}`,
    async () => {
      const dir = tempDir('graft-browser-');
      const run = join(dir, 'run');
      const t = await runGraftAsync([
        'train',
        '--dataset',
        'cora',
        '--epochs',
        '60',
        '--threads',
        '2',
        '--out',
        run,
        '--quiet',
      ]);
      expect(t.status, t.stderr).toBe(0);
      const config = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as NodeTrainConfig & DataChoice;
      const ds = loadData(config, config.seed);
      const raw = loadRawData(config, config.seed);
      const site = join(dir, 'site');
      const put = (name: string, a: ArrayBufferView | string): void =>
        writeFileSync(
          join(site, name),
          typeof a === 'string' ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength),
        );
      (await import('node:fs')).mkdirSync(site);
      put('index.html', PAGE);
      put('graft-infer.js', readFileSync(join(root, 'dist', 'infer', 'graft-infer.js'), 'utf8'));
      put('model.safetensors', readFileSync(join(run, 'checkpoint.safetensors')));
      put('x.f32', raw.features);
      put('src.i32', ds.src);
      put('dst.i32', ds.dst);
      put('graph.json', JSON.stringify({ numNodes: ds.numNodes }));
      const got = (await inChromium(site, dir)) as {
        backend: BackendKind;
        isolated: boolean;
        probs: string;
        pred: number[];
        thrown: Record<string, unknown>;
        error?: string;
      };
      console.log(`browser: backend ${got.backend}, cross-origin isolated ${String(got.isolated)}`);
      expect(got.error).toBeUndefined();
      expect(got.thrown).toEqual({
        ctor: 'GraftError',
        name: 'GraftError',
        isGraftError: true,
        message: expect.stringMatching(/^tiny\.bin: not a valid checkpoint: shorter than its 8-byte header length/),
      });
      expect(got.isolated).toBe(false); // no COOP/COEP: no SharedArrayBuffer, and it still runs
      expect(['relaxed', 'simd']).toContain(got.backend);
      const cp = loadCheckpoint(join(run, 'checkpoint.safetensors'));
      const weights = new Map(
        [...cp.tensors].filter(([k]) => k.startsWith('best.')).map(([k, v]) => [k.slice(5), v.data as Float32Array]),
      );
      const rt = await Runtime.create({ threads: 2, backend: got.backend });
      let want: Awaited<ReturnType<typeof predictNodes>>;
      try {
        want = await predictNodes(rt, ds, config, weights);
      } finally {
        await rt.close();
      }
      expect(got.pred).toEqual([...want.pred]);
      expect(bitsEqual(new Float32Array(new Uint8Array(Buffer.from(got.probs, 'base64')).buffer), want.probs)).toBe(
        true,
      );
      // And the classes are Cora's: well above chance on the test nodes.
      const test = [...ds.split.test];
      expect(test.filter((i) => got.pred[i] === ds.labels[i]).length / test.length).toBeGreaterThan(0.7);
    },
  );
});

const MOLECULE_PAGE = `<!doctype html><meta charset="utf-8"><title>graft/infer molecules</title>
<script src="RDKit_minimal.js"></script>
<script type="module">
import { loadModel, moleculeGraph } from './graft-infer.js';
const b64 = (a) => { let s = ''; const b = new Uint8Array(a.buffer, a.byteOffset, a.byteLength); for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]); return btoa(s); };
try {
  // The recipe of the docs: RDKit's MinimalLib beside the bundle, each SMILES featurized, then predicted.
  const RDKit = await window.initRDKitModule({ locateFile: () => 'RDKit_minimal.wasm' });
  const smiles = await (await fetch('smiles.json')).json();
  const model = await loadModel(await (await fetch('model.safetensors')).arrayBuffer());
  const graphs = smiles.map((s) => moleculeGraph(RDKit, s));
  const r = await model.predictGraphs(graphs);
  window.__graft = { backend: model.backend, outputs: b64(r.outputs), x: graphs.map((g) => b64(g.x)), featurizer: graphs[0].featurizer };
} catch (err) {
  window.__graft = { error: String(err && err.stack || err) };
}
</script>`;

describe('molecules in a headless browser', () => {
  const noChromium = chromium ? null : 'no Chromium (apt-get install chromium; .ci/run installs it)';
  it.skipIf(noChromium !== null)(
    `featurizes SMILES with @rdkit/rdkit in the page (the docs' recipe) and predicts them: training's featurization and graft/infer's bits${noChromium ? ` (skipped: ${noChromium})` : ''}`,
    async () => {
      const { smilesToGraph, toSample } = await import('../src/chem/featurize.js');
      const { GraphTrainer } = await import('../src/train/graph-trainer.js');
      const { MOLECULE_DEFAULTS } = await import('../src/chem/train-molecules.js');
      const { encodeCheckpoint } = await import('../src/train/checkpoint.js');
      const { loadModel } = await import('../src/infer/index.js');
      const { SMILES } = await import('./fixtures.js');
      const mols = await Promise.all(SMILES.map((s) => smilesToGraph(s)));
      const samples = mols.map((g, i) => toSample(g!, Float32Array.of(i % 2, i % 3 === 0 ? 1 : 0), false));
      const rt = await Runtime.create({ threads: 2 });
      let cp: Parameters<typeof encodeCheckpoint>[0] | null = null;
      try {
        const tr = new GraphTrainer(rt, 48, 2, {
          ...MOLECULE_DEFAULTS,
          task: 'multilabel',
          epochs: 2,
          batchSize: 8,
          shardSize: 4,
        });
        await tr.fit(samples.slice(0, 16), samples.slice(16), {
          checkpoint: {
            every: 100,
            write: (c) => {
              cp = c;
            },
          },
        });
        tr.dispose();
      } finally {
        await rt.close();
      }
      const dir = tempDir('graft-browser-mol-');
      const site = join(dir, 'site');
      (await import('node:fs')).mkdirSync(site);
      const rdkitDist = join(root, 'node_modules', '@rdkit', 'rdkit', 'dist');
      writeFileSync(join(site, 'index.html'), MOLECULE_PAGE);
      writeFileSync(join(site, 'graft-infer.js'), readFileSync(join(root, 'dist', 'infer', 'graft-infer.js')));
      writeFileSync(join(site, 'RDKit_minimal.js'), readFileSync(join(rdkitDist, 'RDKit_minimal.js')));
      writeFileSync(join(site, 'RDKit_minimal.wasm'), readFileSync(join(rdkitDist, 'RDKit_minimal.wasm')));
      writeFileSync(join(site, 'smiles.json'), JSON.stringify(SMILES));
      const modelBytes = encodeCheckpoint(cp!);
      writeFileSync(join(site, 'model.safetensors'), modelBytes);
      const got = (await inChromium(site, dir)) as {
        backend: BackendKind;
        outputs: string;
        x: string[];
        featurizer: string;
        error?: string;
      };
      expect(got.error).toBeUndefined();
      expect(got.featurizer).toBe('graft-atoms-v1');
      const f32 = (b: string): Float32Array => new Float32Array(new Uint8Array(Buffer.from(b, 'base64')).buffer);
      got.x.forEach((x, i) => {
        expect(bitsEqual(f32(x), mols[i]!.x), SMILES[i]).toBe(true);
      });
      // The same model in Node on the training featurizer's graphs, on the page's kernels.
      const m = await loadModel(modelBytes, {
        backend: got.backend,
        kernels: {
          relaxed: readFileSync(join(root, 'build', 'graft-relaxed-local.wasm')),
          simd: readFileSync(join(root, 'build', 'graft-simd-local.wasm')),
        },
      });
      const want = await m.predictGraphs(
        mols.map((g) => ({ nodes: g!.atoms, x: g!.x, src: g!.src, dst: g!.dst, w: g!.w })),
      );
      expect(bitsEqual(f32(got.outputs), want.outputs)).toBe(true);
    },
  );
});
