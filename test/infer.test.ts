import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors, utf8Decode, utf8Encode } from '../src/core/safetensors.js';
import { sha256Hex } from '../src/core/sha256.js';
import { plantedPartition, syntheticMolecules } from '../src/data/synthetic.js';
import { saveGenomicModels } from '../src/explain/genomic-models.js';
import type { StudyData } from '../src/genomics/study-data.js';
import type { GraphSample } from '../src/graph/batch.js';
import { loadModel, type KernelBinaries } from '../src/infer/index.js';
import { modelWeights, parseModelFile } from '../src/infer/model-file.js';
import { reportedPrefix, reportedWeights } from '../src/nn/load-weights.js';
import type { BackendKind } from '../src/kernels/backend.js';
import { Runtime } from '../src/runtime/runtime.js';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { GCN_GP_DEFAULTS, trainGcnRegressor } from '../src/train/gcn-regressor.js';
import { GraphTrainer } from '../src/train/graph-trainer.js';
import { KIPF_DEFAULTS, predictNodes, trainNodeClassifier, type NodeTrainConfig } from '../src/train/node-trainer.js';
import { MOLECULE_DEFAULTS } from '../src/chem/train-molecules.js';
import { availableBackends, bitsEqual, closeness, rng, tempDir } from './helpers.js';
import { SMILES } from './fixtures.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundleFile = join(root, 'dist', 'infer', 'graft-infer.js');
const kernels: KernelBinaries = {
  relaxed: readFileSync(join(root, 'build', 'graft-relaxed-local.wasm')),
  simd: readFileSync(join(root, 'build', 'graft-simd-local.wasm')),
};
const nodeSha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('graft/infer: what it reads files with', () => {
  it('SHA-256 in plain TypeScript equals node:crypto at every padding boundary', () => {
    const r = rng(5);
    for (const n of [0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 65_537]) {
      const b = Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
      expect(sha256Hex(b), `${n} bytes`).toBe(nodeSha(b));
    }
    expect(sha256Hex(utf8Encode('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'); // FIPS 180-2 example
  });

  it('UTF-8 in plain TypeScript equals Buffer both ways, and refuses malformed bytes', () => {
    for (const s of ['', 'gcn0.weight', 'é—λ', '分子', '𝔾 emoji 🧬', 'a\u0000b']) {
      expect(Buffer.from(utf8Encode(s)).equals(Buffer.from(s, 'utf8')), s).toBe(true);
      expect(utf8Decode(Buffer.from(s, 'utf8'))).toBe(s);
    }
    expect(() => utf8Decode(Uint8Array.of(0x61, 0xc3))).toThrow(/invalid UTF-8/);
    expect(() => utf8Decode(Uint8Array.of(0xff))).toThrow(/invalid UTF-8/);
  });

  it('reads a Graft checkpoint as the Node runtime does, a checksum-less (PyTorch) file as written, and refuses a damaged one by name', () => {
    const cp = {
      tensors: new Map([
        ['w', { shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6) }],
        ['i', { shape: [2], data: Int32Array.of(-1, 7) }],
      ]),
      metadata: { task: 'node', é: 'ü' },
    };
    const bytes = encodeCheckpoint(cp);
    const a = decodeSafetensors(bytes, 'm.safetensors', sha256Hex),
      b = decodeCheckpoint(bytes);
    expect(a).toEqual(b);
    expect([...a.tensors.get('w')!.data]).toEqual([1, 2, 3, 4, 5, 6]);
    // A file as PyTorch's safetensors writes it: a header without Graft's metadata.
    const header = Buffer.from(JSON.stringify({ 'conv1.bias': { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(header.length));
    const plain = Buffer.concat([len, header, Buffer.from(Float32Array.of(0.5, -2).buffer)]);
    expect([...decodeSafetensors(plain, 'pyg.safetensors', sha256Hex).tensors.get('conv1.bias')!.data]).toEqual([
      0.5, -2,
    ]);
    expect(() => decodeSafetensors(plain, 'pyg.safetensors', sha256Hex, { requireChecksums: true })).toThrow(
      /pyg\.safetensors: not a valid checkpoint: checksum mismatch \(stored none/,
    );
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => decodeSafetensors(flipped, 'm.safetensors', sha256Hex)).toThrow(
      /m\.safetensors: not a valid checkpoint: checksum mismatch/,
    );
  });
});

describe('graft/infer bundle', () => {
  const code = readFileSync(bundleFile, 'utf8');

  it('is one ES module with no imports, no Node built-in, no require and no process', () => {
    expect(code).not.toMatch(/\bimport\s*[{*\w][^;]*\sfrom\s*["']/);
    expect(code).not.toMatch(/\bimport\s*\(/);
    expect(code).not.toMatch(/node:|require\(|process\.|Buffer\.|TextDecoder|worker_threads|piscina/);
    expect(code).toMatch(/export\s*\{/);
    const size = JSON.parse(readFileSync(join(root, 'dist', 'infer', 'size.json'), 'utf8')) as { bytes: number };
    expect(size.bytes).toBe(code.length);
    expect(size.bytes).toBeLessThan(400 * 1024);
  });

  it('throws errors that keep their class names (GraftError, exported for instanceof), not minified ones', async () => {
    const b = (await import(bundleFile)) as typeof import('../src/infer/index.js');
    const err = (await b.loadModel(Uint8Array.of(1, 2, 3), { name: 'tiny.bin' }).then(
      () => null,
      (e: unknown) => e,
    )) as Error;
    expect(err.constructor.name).toBe('GraftError');
    expect(err.name).toBe('GraftError');
    expect(err).toBeInstanceOf(b.GraftError);
    expect(String(err)).toMatch(/^GraftError: tiny\.bin: not a valid checkpoint/);
  });

  it('predicts a node model in a bare V8 context (no require, process or TextDecoder), bit for bit as the Node runtime on the same backend', async () => {
    const dir = tempDir('graft-infer-vm-');
    const { data, file, config } = await nodeRun(dir);
    const inputs = {
      numNodes: data.numNodes,
      features: raw(dir, 'x.f32', data.features),
      src: raw(dir, 'src.i32', data.src),
      dst: raw(dir, 'dst.i32', data.dst),
    };
    writeFileSync(join(dir, 'inputs.json'), JSON.stringify(inputs));
    const cases: { flags: string[]; backend: BackendKind }[] = [{ flags: [], backend: 'simd' }];
    if (availableBackends().includes('relaxed') && Number(process.versions.node.split('.')[0]) < 22)
      cases.push({ flags: ['--experimental-wasm-relaxed-simd'], backend: 'relaxed' });
    if (Number(process.versions.node.split('.')[0]) >= 22) cases[0]!.backend = 'relaxed';
    for (const c of cases) {
      const out = join(dir, `out-${c.backend}.json`);
      const r = spawnSync(
        process.execPath,
        [
          '--experimental-vm-modules',
          '--no-warnings',
          ...c.flags,
          join(root, 'test', 'infer', 'vm-run.mjs'),
          bundleFile,
          file,
          join(dir, 'inputs.json'),
          out,
        ],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      const got = JSON.parse(readFileSync(out, 'utf8')) as {
        backend: string;
        globals: Record<string, string>;
        probs: string;
        pred: number[];
      };
      expect(got.backend).toBe(c.backend);
      expect(got.globals).toEqual({
        process: 'undefined',
        require: 'undefined',
        TextDecoder: 'undefined',
        fetch: 'undefined',
        Worker: 'undefined',
      });
      const want = await runtimeNodePredictions(c.backend, data, config, file);
      expect(bitsEqual(new Float32Array(new Uint8Array(Buffer.from(got.probs, 'base64')).buffer), want.probs)).toBe(
        true,
      );
      expect(got.pred).toEqual([...want.pred]);
    }
  });
});

function raw(dir: string, name: string, a: Float32Array | Int32Array): string {
  const f = join(dir, name);
  writeFileSync(f, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return f;
}

const nodeConfig: NodeTrainConfig = { ...KIPF_DEFAULTS, epochs: 15, patience: 0 };

async function nodeRun(
  dir: string,
  config = nodeConfig,
): Promise<{ data: ReturnType<typeof plantedPartition>; file: string; config: NodeTrainConfig }> {
  const data = plantedPartition({ nodes: 300, features: 40, seed: 4 });
  const file = join(dir, 'checkpoint.safetensors');
  const rt = await Runtime.create({ threads: 2 });
  try {
    await trainNodeClassifier(rt, data, config, { checkpointPath: file });
  } finally {
    await rt.close();
  }
  return { data, file, config };
}

async function runtimeNodePredictions(
  backend: BackendKind,
  data: ReturnType<typeof plantedPartition>,
  config: NodeTrainConfig,
  file: string,
): Promise<{ probs: Float32Array; pred: Int32Array }> {
  const cp = loadCheckpoint(file);
  const weights = new Map(
    [...cp.tensors].filter(([k]) => k.startsWith('best.')).map(([k, t]) => [k.slice(5), t.data as Float32Array]),
  );
  const rt = await Runtime.create({ threads: 2, backend });
  try {
    return await predictNodes(rt, data, config, weights);
  } finally {
    await rt.close();
  }
}

describe.each(availableBackends())("graft/infer on the %s kernels gives the Node runtime's bits", (backend) => {
  it('node model (a graft train checkpoint): logits, probabilities and classes', async () => {
    const dir = tempDir('graft-infer-node-');
    const { data, file, config } = await nodeRun(dir);
    const model = await loadModel(readFileSync(file), { kernels, backend });
    expect(model.task).toBe('node');
    const got = await model.predictNodes({
      numNodes: data.numNodes,
      features: data.features,
      src: data.src,
      dst: data.dst,
    });
    const want = await runtimeNodePredictions(backend, data, config, file);
    expect(bitsEqual(got.probs, want.probs)).toBe(true);
    expect([...got.pred]).toEqual([...want.pred]);
    await expect(
      model.predictNodes({
        numNodes: data.numNodes,
        features: data.features.subarray(1),
        src: data.src,
        dst: data.dst,
      }),
    ).rejects.toThrow(/predictNodes: g\.features must be a Float32Array of 300 × 40 values/);
    await expect(model.predictGraphs([])).rejects.toThrow(/is a node model: predictGraphs needs a graph model/);
  });

  it("node model trained in RCM order: the runtime's bits, rows in the user's order", async () => {
    const { data, file, config } = await nodeRun(tempDir('graft-infer-rcm-'), { ...nodeConfig, nodeOrder: 'rcm' });
    const model = await loadModel(readFileSync(file), { kernels, backend });
    const got = await model.predictNodes({
      numNodes: data.numNodes,
      features: data.features,
      src: Array.from(data.src),
      dst: data.dst,
    });
    const want = await runtimeNodePredictions(backend, data, config, file);
    expect(bitsEqual(got.probs, want.probs)).toBe(true);
    // Not the user's-order scores of the same weights bit for bit, but the same classes.
    const plain = await runtimeNodePredictions(backend, data, { ...config, nodeOrder: 'input' }, file);
    expect(bitsEqual(got.probs, plain.probs)).toBe(false);
    expect(closeness(got.probs, plain.probs, 1e-6, 1e-4)).toBeLessThanOrEqual(1);
  });

  it.each([false, true])('graph model (hybrid: %s): outputs over batches of any size', async (hybrid) => {
    const r = rng(9);
    const samples: GraphSample[] = syntheticMolecules({
      graphs: backend === 'js' ? 50 : 150,
      types: 8,
      targets: 3,
      task: 'multilabel',
      seed: 3,
    }).map((g) => (hybrid ? { ...g, descriptors: Float32Array.from({ length: 6 }, () => (r() < 0.3 ? 1 : 0)) } : g));
    const config = {
      ...MOLECULE_DEFAULTS,
      task: 'multilabel' as const,
      epochs: 3,
      batchSize: 16,
      shardSize: 8,
      ...(hybrid ? { hybrid: { descriptors: 6, denseHidden: 8 } } : {}),
    };
    const rt = await Runtime.create({ threads: 2, backend });
    let cp: Parameters<typeof encodeCheckpoint>[0] | null = null;
    let want: Float32Array;
    try {
      const tr = new GraphTrainer(rt, 8, 3, config);
      await tr.fit(samples.slice(0, 30), samples.slice(30, 40), {
        restoreBest: true,
        checkpoint: {
          every: 100,
          write: (c) => {
            cp = c;
          },
        },
      });
      want = await tr.predict(samples);
      tr.dispose();
    } finally {
      await rt.close();
    }
    const model = await loadModel(encodeCheckpoint(cp!), { kernels, backend });
    const got = await model.predictGraphs(samples.map(({ y: _y, ...g }) => g));
    expect(got.targets).toBe(3);
    expect(bitsEqual(got.outputs, want)).toBe(true);
    expect(got.probs![0]).toBeCloseTo(1 / (1 + Math.exp(-want[0]!)), 6);
  });

  it.each([[null], [[10, 14]]])(
    "genomic ensemble (marker blocks %j): predictions in the trait's units",
    async (blocks) => {
      const data = plantedPartition({ nodes: 200, features: 24, seed: 8 });
      const y = Float64Array.from({ length: data.numNodes }, (_, i) => data.labels[i]! * 2.5 + 10 + (i % 7) * 0.1);
      const train = Int32Array.from({ length: 150 }, (_, i) => i);
      const c = { ...GCN_GP_DEFAULTS, epochs: 20, patience: 0, hidden: 16, ensemble: 1 };
      const input = {
        n: data.numNodes,
        features: data.features,
        f: data.numFeatures,
        src: data.src,
        dst: data.dst,
        y,
        train,
        ...(blocks ? { featureBlocks: blocks } : {}),
      };
      const members = [];
      let want = new Float64Array(data.numNodes);
      for (const seed of [c.seed, c.seed + 1]) {
        const rt = await Runtime.create({ threads: 2, backend });
        try {
          const res = await trainGcnRegressor(rt, input, { ...c, seed });
          members.push({ seed, weights: res.weights, scale: res.scale });
          want = want.map((v, i) => v + res.predictions[i]!);
        } finally {
          await rt.close();
        }
      }
      want = want.map((v) => v / members.length);
      const dir = tempDir('graft-infer-gp-');
      const file = join(dir, 'gcn-y.safetensors');
      const study = {
        n: data.numNodes,
        f: data.numFeatures,
        features: data.features,
        src: data.src,
        dst: data.dst,
        ids: [],
        traits: ['y'],
        ...(blocks ? { featureBlocks: blocks } : {}),
      } as unknown as StudyData;
      saveGenomicModels(file, members, 'fp', c, study);
      const model = await loadModel(readFileSync(file), { kernels, backend });
      expect(model.task).toBe('genomic');
      const got = await model.predictGenomic({
        n: data.numNodes,
        features: data.features,
        src: data.src,
        dst: data.dst,
      });
      expect([...got]).toEqual([...want]);
    },
  );
});

describe('the weights a checkpoint reports (nn/load-weights.ts reportedPrefix): oracle, the weights training ends with', () => {
  it.each([
    ['a validation set (a best epoch)', 10],
    ['no improving validation epoch (best.* holds the start)', 0],
  ])("graph trainer, %s: every reader takes the trainer's final weights", async (_what, nVal) => {
    const samples = syntheticMolecules({ graphs: 40, types: 8, targets: 2, task: 'multilabel', seed: 5 });
    const config = {
      ...MOLECULE_DEFAULTS,
      task: 'multilabel' as const,
      epochs: 3,
      hidden: 8,
      batchSize: 8,
      shardSize: 4,
    };
    const rt = await Runtime.create({ threads: 2 });
    let cp: Parameters<typeof encodeCheckpoint>[0] | null = null;
    let final: Map<string, Float32Array>, bestEpoch: number;
    try {
      const tr = new GraphTrainer(rt, 8, 2, config);
      await tr.fit(samples.slice(0, 30), samples.slice(30, 30 + nVal), {
        restoreBest: true,
        checkpoint: {
          every: 100,
          write: (c) => {
            cp = c;
          },
        },
      });
      final = new Map(tr.master.params().map((p) => [p.name, (p.value.data() as Float32Array).slice()]));
      bestEpoch = tr.bestEpoch;
      tr.dispose();
    } finally {
      await rt.close();
    }
    expect(bestEpoch > 0).toBe(nVal > 0);
    const names = [...final.keys()];
    // The checkpoint holds both sets, and with no best epoch they differ: the rule must pick.
    expect(names.every((n) => cp!.tensors.has(`best.${n}`) && cp!.tensors.has(`model.${n}`))).toBe(true);
    if (nVal === 0)
      expect(
        names.some(
          (n) =>
            !bitsEqual(
              cp!.tensors.get(`best.${n}`)!.data as Float32Array,
              cp!.tensors.get(`model.${n}`)!.data as Float32Array,
            ),
        ),
      ).toBe(true);
    expect(reportedPrefix(cp!, 'cp')).toBe(nVal > 0 ? 'best.' : 'model.');
    const read = reportedWeights(cp!, 'cp'); // graft explain's, graft eval's and graft predict's (loadGraphWeights)
    const file = parseModelFile(cp!, 'cp'); // graft/infer's, graft export's and graft quantize's
    const viaFile = modelWeights(file, '');
    for (const n of names) {
      expect(bitsEqual(read.get(n)!, final.get(n)!), n).toBe(true);
      expect(bitsEqual(viaFile.get(n)!, final.get(n)!), n).toBe(true);
    }
  });

  it("node runs: best.* exactly when the config restores the best epoch; a model file's model.*", () => {
    const t = (v: number): { shape: number[]; data: Float32Array } => ({ shape: [1], data: Float32Array.of(v) });
    const cp = (restoreBest: boolean) => ({
      tensors: new Map([
        ['model.w', t(1)],
        ['best.w', t(2)],
      ]),
      metadata: { task: 'node', config: JSON.stringify({ restoreBest }), early_stop: JSON.stringify({ bestEpoch: 0 }) },
    });
    expect(reportedWeights(cp(true), 'a').get('w')![0]).toBe(2);
    expect(reportedWeights(cp(false), 'a').get('w')![0]).toBe(1);
    expect(
      reportedPrefix(
        {
          tensors: new Map([['model.w', t(1)]]),
          metadata: { format: 'graft-model-v1', task: 'node', config: JSON.stringify({ restoreBest: true }) },
        },
        'm',
      ),
    ).toBe('model.');
    expect(() =>
      reportedPrefix(
        { tensors: new Map([['best.w', t(1)]]), metadata: { task: 'graph', early_stop: '{' } },
        'bad.safetensors',
      ),
    ).toThrow(/^bad\.safetensors: its metadata 'early_stop' is not JSON$/);
  });
});

describe('graft/infer refuses what is not a model', () => {
  it('names the file and what it is', async () => {
    const dir = tempDir('graft-infer-bad-');
    const f = join(dir, 'other.safetensors');
    saveCheckpoint(f, {
      tensors: new Map([['x', { shape: [1], data: Float32Array.of(1) }]]),
      metadata: { format: 'something' },
    });
    await expect(loadModel(readFileSync(f), { kernels, name: 'other.safetensors' })).rejects.toThrow(
      /other\.safetensors: not a Graft model \(task none, format something\)/,
    );
    await expect(loadModel(Uint8Array.of(1, 2, 3), { kernels, name: 'tiny.bin' })).rejects.toThrow(
      /tiny\.bin: not a valid checkpoint: shorter than its 8-byte header length/,
    );
  });
});

describe("graft/infer on molecules: featurized with @rdkit/rdkit by moleculeGraph (the docs' recipe)", () => {
  const EXTRA = [
    '[NH4+]',
    'CC(=O)[O-]',
    'C[N+](C)(C)C',
    '[Na+].[Cl-]',
    'OB(O)O',
    'c1ccsc1',
    '[Pt]',
    'C#CC=C=C',
    'OS(=O)(=O)O',
    'F[P-](F)(F)(F)(F)F',
    'C[Se]C',
    'N#N',
    'C1CC',
    '',
    'not a smiles',
  ];

  it("gives the training featurizer's bits (atoms, bonds, bond orders, Morgan bits) and null where it gives null", async () => {
    const { createRequire } = await import('node:module');
    const initRDKitModule = createRequire(import.meta.url)('@rdkit/rdkit') as () => Promise<
      import('../src/infer/molecule.js').RDKitLike
    >;
    const RDKit = await initRDKitModule();
    const b = (await import(bundleFile)) as typeof import('../src/infer/index.js');
    const { smilesToGraph, FEATURIZER_VERSION, ATOM_FEATURES } = await import('../src/chem/featurize.js');
    expect(b.MOLECULE_FEATURIZER).toBe(FEATURIZER_VERSION);
    expect(b.MOLECULE_ATOM_FEATURES).toBe(ATOM_FEATURES);
    let parsed = 0;
    for (const s of [...SMILES, ...EXTRA]) {
      const got = b.moleculeGraph(RDKit, s, { descriptors: true }),
        want = await smilesToGraph(s);
      if (want === null) {
        expect(got, s).toBeNull();
        continue;
      }
      parsed++;
      expect(got!.nodes, s).toBe(want.atoms);
      expect(got!.featurizer).toBe(FEATURIZER_VERSION);
      for (const k of ['x', 'src', 'dst', 'w'] as const) expect(bitsEqual(got![k], want[k]), `${s} ${k}`).toBe(true);
      expect(bitsEqual(got!.descriptors!, want.morgan), `${s} morgan`).toBe(true);
      expect(b.moleculeGraph(RDKit, s)!.descriptors).toBeUndefined();
    }
    expect(parsed).toBe(SMILES.length + EXTRA.length - 3);
    expect(() => b.moleculeGraph({} as never, 'CCO')).toThrow(/first argument must be RDKit's module/);
  });

  it('an exported graph model records its featurizer; graphs featurized otherwise are refused', async () => {
    // A graph run folder as graft train --task graph leaves it (config.json, checkpoint), exported in-process.
    const { smilesToGraph, toSample } = await import('../src/chem/featurize.js');
    const samples = (await Promise.all(SMILES.map((s) => smilesToGraph(s)))).map((g, i) =>
      toSample(g!, Float32Array.of(i % 2, i % 3 ? 1 : 0, 1), false),
    );
    const rt = await Runtime.create({ threads: 2 });
    let cp: Parameters<typeof encodeCheckpoint>[0] | null = null;
    try {
      const tr = new GraphTrainer(rt, 48, 3, {
        ...MOLECULE_DEFAULTS,
        task: 'multilabel',
        epochs: 2,
        hidden: 8,
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
    const dir = tempDir('graft-infer-mol-');
    const run = join(dir, 'run');
    mkdirSync(run);
    writeFileSync(join(run, 'checkpoint.safetensors'), encodeCheckpoint(cp!));
    writeFileSync(
      join(run, 'config.json'),
      JSON.stringify({ kind: 'graph', data: join(dir, 'mols.csv'), type: 'multilabel', targets: ['a', 'b', 'c'] }),
    );
    const { exportModel } = await import('../src/cli/commands/interop.js');
    await exportModel(['--to', 'graft', '--run', run, '--out', join(dir, 'mol.safetensors')]);
    const { createRequire } = await import('node:module');
    const RDKit = await (
      createRequire(import.meta.url)('@rdkit/rdkit') as () => Promise<import('../src/infer/molecule.js').RDKitLike>
    )();
    const b = (await import(bundleFile)) as typeof import('../src/infer/index.js');
    const m = await b.loadModel(readFileSync(join(dir, 'mol.safetensors')), { name: 'mol.safetensors' });
    expect(m.preprocess).toEqual({
      version: 1,
      features: [],
      featurizer: { name: 'graft-atoms-v1', atomFeatures: 48 },
    });
    const graphs = SMILES.slice(0, 5).map((s) => b.moleculeGraph(RDKit, s)!);
    const r = await m.predictGraphs(graphs);
    expect(r.outputs.length).toBe(5 * 3);
    expect([...r.probs!].every((p) => p > 0 && p < 1)).toBe(true);
    await expect(m.predictGraphs([graphs[0]!, { ...graphs[1]!, featurizer: 'other-atoms-v2' }])).rejects.toThrow(
      /^predictGraphs: graph 1 was featurized by other-atoms-v2, but mol\.safetensors was trained on graft-atoms-v1 features \(48 per atom\)$/,
    );
  });
});
