import { GraftError } from '../core/errors.js';
import { decodeSafetensors } from '../core/safetensors.js';
import { sha256Hex } from '../core/sha256.js';
import { collate, type GraphSample } from '../graph/batch.js';
import { gcnNorm } from '../graph/gcn-norm.js';
import { renumbered, rowsInOrder, rowsInUserOrder, spmmNodeOrder, type NodeOrderChoice } from '../graph/reorder.js';
import type { BackendKind, KernelBackend } from '../kernels/backend.js';
import { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { joinForward, type JoinParts } from '../nn/join-parts.js';
import type { Layer, Parameter, PassContext } from '../nn/layer.js';
import { GATConv, GATv2Conv } from '../nn/gat-conv.js';
import { GINConv } from '../nn/gin-conv.js';
import { BondMessagePassing } from '../nn/dmpnn.js';
import type { MessageGraph } from '../graph/message-graph.js';
import { type MessageNodeModelConfig, nodeMessageGraph, nodeMessageModel, nodeModelKind } from '../nn/node-models.js';
import { SAGEConv } from '../nn/sage-conv.js';
import { linearMaps, type Linear, type Propagation } from '../nn/layers.js';
import { Int8Weight } from '../ops/int8.js';
import { int8Values } from '../quant/int8.js';
import { loadWeights } from '../nn/load-weights.js';
import { Sequential } from '../nn/sequential.js';
import { gcnStack } from '../nn/gcn-stack.js';
import { Rng } from '../core/random.js';
import {
  genomicBranchParts,
  genomicStackShape,
  graphGcnLayers,
  graphHybridParts,
  graphMessageLayers,
  graphMessageSpec,
  graphModelKind,
  nodeGcn,
  type GenomicModelConfig,
  type GraphModelConfig,
} from '../nn/task-models.js';
import { chooseLocalBackend, localKernels, type KernelBinaries } from './kernels.js';
import { LocalExec } from './local-exec.js';
import { modelWeights, parseModelFile, type ModelFile } from './model-file.js';
import { checkInferGraphModel } from './molecule.js';
import { checkInferDenseInputs } from './dense-inputs.js';
import {
  MB_MODEL_FORMAT,
  MicrobiomeModel,
  parseMicrobiomeFile,
  type CountsInput,
  type CountsPrediction,
} from './microbiome.js';
import { classScores } from '../nn/class-scores.js';
import { applyPreprocess, type Preprocessing } from '../graph/preprocess.js';

// graft/infer: a trained model run from its file's bytes, on one thread, with no Node
// built-ins (no fs, worker_threads, Piscina or top-level process), so the same code runs in
// Node, in a browser page without cross-origin isolation, and in a bare JavaScript context.
// It rebuilds the task's model from the file's config (nn/task-models.ts, the trainers'
// own builders), loads the weights and runs the forward pass over the same WASM kernels,
// so its outputs are the Node runtime's bits for the same backend.

export type { KernelBinaries } from './kernels.js';
export { GraftError } from '../core/errors.js';
export { MODEL_FORMAT, parseModelFile, type ModelFile } from './model-file.js';
export { MB_MODEL_FORMAT, type CountsInput, type CountsPrediction } from './microbiome.js';
export {
  CHEMPROP_FEATURIZER,
  moleculeGraph,
  MOLECULE_ATOM_FEATURES,
  MOLECULE_CHEMPROP_ATOM_FEATURES,
  MOLECULE_CHEMPROP_BOND_FEATURES,
  MOLECULE_FEATURIZER,
  MOLECULE_MORGAN_BITS,
  type MoleculeGraph,
  type MoleculeGraphOptions,
  type RDKitLike,
  type RDKitMolLike,
} from './molecule.js';
export {
  applyPreprocess,
  describePreprocess,
  PREPROCESS_KEY,
  type Featurizer,
  type Preprocessing,
  type PreprocessStep,
} from '../graph/preprocess.js';
export {
  loadGenomicModel,
  type GenomicKernelModel,
  type GenotypeInput,
  type GenotypePredictOptions,
  type GenotypePredictions,
} from './genomic.js';
export type { AlignmentReport } from '../graph/gp-scoring.js';

/** Options of loadModel: the kernel binaries and backend, a name for error messages, and a hook on the linear maps. */
export interface LoadOptions {
  /** The kernel binaries (the bundle passes its own). Absent: the plain-TypeScript reference kernels. */
  kernels?: KernelBinaries;
  /** 'relaxed' | 'simd' | 'js'; default: the best the engine accepts among the kernels given. */
  backend?: BackendKind;
  /** A name for the file in error messages (default 'model'). */
  name?: string;
  /**
   * Called with a model's linear maps (every GCN layer's and Linear's X·W) once its weights
   * are in, before each forward pass: graft quantize watches their inputs through it.
   */
  onLinears?: (linears: Linear[], member: string) => void;
}

/** A node task's graph: features [nodes, features] row-major and undirected edges (each once or both ways). */
export interface NodeGraph {
  numNodes: number;
  features: Float32Array;
  src: Int32Array | number[];
  dst: Int32Array | number[];
}

/**
 * One graph of a graph-level task: featurized as at training (graft's molecule featurizer for
 * molecules: moleculeGraph). `featurizer` names the featurization; a model that records its
 * own refuses graphs that name another.
 */
export interface GraphInput {
  nodes: number;
  x: Float32Array;
  src: Int32Array;
  dst: Int32Array;
  w?: Float32Array;
  /** Bond (edge) features [edges, width] row-major, edge e joining src[e] and dst[e]: models of kind gine and dmpnn read them. */
  edgeAttr?: Float32Array;
  descriptors?: Float32Array;
  featurizer?: string;
}

/**
 * How the inputs' features come: 'raw' (the default: as in the user's files; the model applies
 * the preprocessing its file records, as graft predict does) or 'preprocessed' (already as at
 * training; nothing is applied).
 */
export interface PredictOptions {
  features?: 'raw' | 'preprocessed';
}

/** The samples of a genomic study: model features [n, f] (graft gp --keep-models writes them) and the sample graph's edges. */
export interface GenomicInput {
  n: number;
  features: Float32Array;
  src: Int32Array;
  dst: Int32Array;
}

/** A model loaded by loadModel: its task, backend and stored config, and the predict method of its task. */
export interface GraftModel {
  readonly task: 'node' | 'graph' | 'genomic' | 'microbiome';
  readonly backend: BackendKind;
  /** The config the model was trained with, as stored in its file. */
  readonly config: Readonly<Record<string, unknown>>;
  /** The preprocessing its file records for raw inputs (null: the file does not say; raw inputs are then refused). */
  readonly preprocess: Readonly<Preprocessing> | null;
  /** Node models: logits, class probabilities and the predicted class of every node (features raw unless options say otherwise). */
  predictNodes(
    g: NodeGraph,
    options?: PredictOptions,
  ): Promise<{ logits: Float32Array; probs: Float32Array; pred: Int32Array; classes: number }>;
  /** Graph models: outputs [graphs, targets] (logits for multi-label, with their sigmoid as `probs`). */
  predictGraphs(
    graphs: readonly GraphInput[],
    options?: PredictOptions,
  ): Promise<{ outputs: Float32Array; probs: Float32Array | null; targets: number }>;
  /** Genomic models: the ensemble's prediction for every sample, in the trait's units. */
  predictGenomic(input: GenomicInput, options?: PredictOptions): Promise<Float64Array>;
  /** Microbiome models (graft mb --keep-model, rf or logistic): raw counts aligned by taxon name, preprocessed as stored, scored as graft predict scores them. */
  predictCounts(input: CountsInput): Promise<CountsPrediction>;
  /** Frees the model's memory. */
  dispose(): void;
}

/**
 * Loads a model from the bytes of a checkpoint or model file (graft train, graft train --task graph, graft gp --keep-models, graft export, graft import).
 *
 * @example
 *   import { loadModel } from 'graft-gnn/infer';
 *   const model = await loadModel(await (await fetch('model.safetensors')).arrayBuffer());
 *   const { pred, probs } = await model.predictNodes({ numNodes, features, src, dst });
 *   model.dispose();
 */
export async function loadModel(bytes: ArrayBuffer | Uint8Array, options: LoadOptions = {}): Promise<GraftModel> {
  const name = options.name ?? 'model';
  const buf = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  const cp = decodeSafetensors(buf, name, sha256Hex);
  // A kept microbiome model needs no kernels: its forest or linear model is scored in plain JavaScript.
  if (cp.metadata['format'] === MB_MODEL_FORMAT) return new MicrobiomeModel(parseMicrobiomeFile(cp, name), name);
  const file = parseModelFile(cp, name);
  if (file.task === 'graph') checkInferGraphModel(file.config, name);
  if (file.task === 'graph') checkInferDenseInputs(file.preprocess?.featurizer, name);
  const kind = chooseLocalBackend(options.kernels ?? {}, options.backend);
  const heap = new Heap({ shared: false, initialBytes: 1 << 20 });
  const backend = await localKernels(kind, options.kernels ?? {}, heap.memory);
  return new LocalModel(file, heap, backend, name, options.onLinears);
}

class LocalModel implements GraftModel {
  readonly exec: LocalExec;
  readonly task: GraftModel['task'];
  readonly config: Readonly<Record<string, unknown>>;
  readonly preprocess: Readonly<Preprocessing> | null;
  private disposed = false;

  constructor(
    private readonly file: ModelFile,
    readonly heap: Heap,
    backend: KernelBackend,
    private readonly name: string,
    private readonly onLinears?: LoadOptions['onLinears'],
  ) {
    this.exec = new LocalExec(heap, backend);
    this.task = file.task;
    this.config = file.config;
    this.preprocess = file.preprocess;
  }

  /**
   * Raw features as the model was trained on them: a copy with the file's steps applied (the
   * same applyPreprocess graft train and graft predict run, so the same bits). A file that does
   * not record its preprocessing is refused rather than fed unpreprocessed features silently.
   */
  private features(
    fn: string,
    x: Float32Array,
    rows: number,
    cols: number,
    options: PredictOptions | undefined,
  ): Float32Array {
    const mode = options?.features ?? 'raw';
    if (mode !== 'raw' && mode !== 'preprocessed')
      throw new GraftError(`${fn}: options.features must be 'raw' or 'preprocessed', got ${JSON.stringify(mode)}`);
    if (mode === 'preprocessed') return x;
    const p = this.file.preprocess;
    if (!p) {
      throw new GraftError(
        `${this.name}: the file does not record the preprocessing its inputs need (written before graft recorded it); export the run again with this version of graft (graft export), or pass { features: 'preprocessed' } with features preprocessed as at training`,
      );
    }
    return p.features.length ? applyPreprocess(p.features, x.slice(), rows, cols) : x;
  }

  get backend(): BackendKind {
    return this.exec.backend.kind;
  }

  private ctx(seed: number): PassContext {
    return { exec: this.exec, training: false, seed, step: 0 };
  }

  private check(task: GraftModel['task'], what: string): void {
    if (this.disposed) throw new GraftError(`${this.name}: the model was disposed`);
    if (this.task !== task) throw new GraftError(`${this.name} is a ${this.task} model: ${what} needs a ${task} model`);
  }

  async predictNodes(
    g: NodeGraph,
    options?: PredictOptions,
  ): Promise<{ logits: Float32Array; probs: Float32Array; pred: Int32Array; classes: number }> {
    this.check('node', 'predictNodes');
    const c = this.file.config as unknown as MessageNodeModelConfig & { nodeOrder?: NodeOrderChoice };
    const { features: f, classes } = this.file.shape;
    const n = checkRows('predictNodes', 'g.features', g.numNodes, f, g.features);
    const features = this.features('predictNodes', g.features, n, f, options);
    // The node order training ran in (large graphs renumbered for SpMM), so the bits are training's.
    const order = spmmNodeOrder(n, g.src, g.dst, c.nodeOrder);
    const src = order ? renumbered(g.src, order.rank) : g.src,
      dst = order ? renumbered(g.dst, order.rank) : g.dst;
    // The graph as training built it for the model: Â for a GCN, the message graph for the others.
    const kind = nodeModelKind(c);
    const adj = kind === 'gcn' ? gcnNorm(this.heap, n, src, dst) : null;
    const message = kind === 'gcn' ? null : nodeMessageGraph(this.heap, n, src, dst, kind);
    const model =
      kind === 'gcn'
        ? nodeGcn(this.heap, f, classes, c, () => ({ adj: adj! }))
        : nodeMessageModel(this.heap, f, classes, c, () => message!);
    let x: Tensor | null = null;
    try {
      this.prepare(model.params(), modelLinears(model.layers), '');
      x = Tensor.from(this.heap, 'float32', [n, f], order ? rowsInOrder(features, f, order.order) : features);
      const out = await model.forward(this.ctx(c.seed), x);
      const computed = (out.data() as Float32Array).slice();
      const logits = order ? rowsInUserOrder(computed, classes, order.order) : computed;
      return { logits, ...classScores(logits, n, classes), classes };
    } finally {
      model.dispose();
      x?.free();
      adj?.free();
      message?.free();
    }
  }

  async predictGraphs(
    graphs: readonly GraphInput[],
    options?: PredictOptions,
  ): Promise<{ outputs: Float32Array; probs: Float32Array | null; targets: number }> {
    this.check('graph', 'predictGraphs');
    const c = this.file.config as unknown as GraphModelConfig & { task: string };
    const { features, targets } = this.file.shape;
    const featurizer = this.file.preprocess?.featurizer;
    graphs.forEach((g, i) => {
      if (featurizer && g?.featurizer !== undefined && g.featurizer !== featurizer.name) {
        throw new GraftError(
          `predictGraphs: graph ${i} was featurized by ${g.featurizer}, but ${this.name} was trained on ${featurizer.name} features (${featurizer.atomFeatures} per atom)`,
        );
      }
    });
    // Graph models record no feature steps today; any they record apply to each graph's atom rows.
    const steps = this.file.preprocess?.features ?? [];
    if (steps.length && (options?.features ?? 'raw') === 'raw')
      graphs = graphs.map((g) =>
        g.x instanceof Float32Array && g.x.length === g.nodes * features
          ? { ...g, x: applyPreprocess(steps, g.x.slice(), g.nodes, features) }
          : g,
      );
    const outputs = new Float32Array(graphs.length * targets);
    type Batch = ReturnType<typeof collate>;
    let batch: Batch | null = null;
    const prop = (): Propagation => ({ adj: batch!.adj });
    const offsets = (): Tensor => batch!.offsets;
    const messages = (): MessageGraph => batch!.messages!;
    // The batches as training collated them: with the message graph (and bond features) for a model other than the GCN.
    const spec = graphMessageSpec(c);
    const gcn = graphModelKind(c) === 'gcn';
    const model: Runner<Batch> = c.hybrid
      ? joined<Batch>(
          this.heap,
          graphHybridParts(this.heap, features, targets, c, prop, offsets, messages),
          (b) => [b.x, b.descriptors!],
          this.ctx(c.seed),
        )
      : sequential<Batch>(
          new Sequential(
            gcn
              ? graphGcnLayers(this.heap, features, targets, c, new Rng(c.seed), prop, offsets)
              : graphMessageLayers(this.heap, features, targets, c, new Rng(c.seed), messages, offsets),
          ),
          (b) => b.x,
          this.ctx(c.seed),
        );
    try {
      this.prepare(model.params(), model.linears, '');
      const BATCH = 128;
      for (let at = 0; at < graphs.length; at += BATCH) {
        const part = graphs
          .slice(at, at + BATCH)
          .map((g, i) =>
            graphSample(g, at + i, features, c.hybrid?.descriptors ?? 0, spec?.edgeFeatures ?? 0, targets),
          );
        batch = collate(this.heap, part, features, targets, spec ? { messages: spec } : {});
        try {
          outputs.set(await model.run(batch), at * targets);
        } finally {
          batch.free();
          batch = null;
        }
      }
    } finally {
      model.dispose();
    }
    const probs = c.task === 'multilabel' ? outputs.map((v) => 1 / (1 + Math.exp(-v))) : null;
    return { outputs, probs, targets };
  }

  async predictGenomic(input: GenomicInput, options?: PredictOptions): Promise<Float64Array> {
    this.check('genomic', 'predictGenomic');
    const c = this.file.config as unknown as GenomicModelConfig;
    const { features: f, blocks } = this.file.shape;
    const n = checkRows('predictGenomic', 'input.features', input.n, f, input.features);
    // gp's kept models from before the record feed their features as given (as they always did).
    const x = this.file.preprocess ? this.features('predictGenomic', input.features, n, f, options) : input.features;
    const adj = gcnNorm(this.heap, n, input.src, input.dst);
    const prop = (): Propagation => ({ adj });
    const inputs: Tensor[] = [];
    const sum = new Float64Array(n);
    try {
      if (blocks.length > 1) {
        let col = 0;
        for (const w of blocks) {
          const part = new Float32Array(n * w);
          for (let i = 0; i < n; i++) part.set(x.subarray(i * f + col, i * f + col + w), i * w);
          inputs.push(Tensor.from(this.heap, 'float32', [n, w], part));
          col += w;
        }
      } else {
        inputs.push(Tensor.from(this.heap, 'float32', [n, f], x));
      }
      const members = this.file.members;
      for (const [e, m] of members.entries()) {
        const cm = { ...c, seed: m.seed };
        const model =
          blocks.length > 1
            ? joined(this.heap, genomicBranchParts(this.heap, cm, blocks, prop), () => inputs, this.ctx(m.seed))
            : sequential(
                new Sequential(gcnStack(this.heap, new Rng(m.seed), prop, genomicStackShape(cm, f, 1))),
                () => inputs[0]!,
                this.ctx(m.seed),
              );
        try {
          this.prepare(model.params(), model.linears, `m${e}.`);
          const raw = await model.run(null);
          for (let i = 0; i < n; i++) sum[i]! += raw[i]! * m.scale.sd + m.scale.mean;
        } finally {
          model.dispose();
        }
      }
      for (let i = 0; i < n; i++) sum[i]! /= members.length;
      return sum;
    } finally {
      for (const t of inputs) t.free();
      adj.free();
    }
  }

  /**
   * Puts the file's weights into a freshly built model: float weights as they are; for an
   * int8 file, each linear map's quantized weight (its float weight stays unread).
   */
  private prepare(params: readonly Parameter[], linears: readonly Linear[], member: string): void {
    const int8 = this.file.checkpoint.metadata['precision'] === 'int8';
    const skip = new Set<Parameter>();
    if (int8) {
      for (const lin of linears) {
        const v = int8Values(this.file.checkpoint.tensors, this.file.prefix + member, lin.name);
        if (!v)
          throw new GraftError(`${this.name}: an int8 model file without the int8 weights of ${member}${lin.name}`);
        lin.quantized = Int8Weight.create(this.heap, v);
        skip.add(lin.weight);
      }
    }
    loadWeights(
      params.filter((p) => !skip.has(p)),
      modelWeights(this.file, member),
      this.name,
    );
    this.onLinears?.([...linears], member);
  }

  async predictCounts(): Promise<CountsPrediction> {
    this.check('microbiome', 'predictCounts');
    throw new GraftError(`${this.name}: unreachable`);
  }

  dispose(): void {
    this.disposed = true;
  }
}

/**
 * Every linear map of a model's layers (the GCN's and the Linears', those inside SAGE, GIN,
 * GINE and GAT layers, and D-MPNN's W_h), each one X·W that graft quantize calibrates and
 * replaces by its int8 form.
 */
function modelLinears(layers: readonly Layer[]): Linear[] {
  const out: Linear[] = [];
  for (const l of layers) {
    if (l instanceof SAGEConv) out.push(l.linL, l.linR);
    // D-MPNN: W_h, the one taken as a whole (W_i and W_o run as blocks on their atom and bond or message rows).
    else if (l instanceof BondMessagePassing) out.push(l.wh);
    else if (l instanceof GINConv) out.push(...linearMaps(l.nn.layers), ...(l.lin ? [l.lin] : []));
    else if (l instanceof GATConv) out.push(l.lin);
    else if (l instanceof GATv2Conv) out.push(l.linL, l.linR);
    else out.push(...linearMaps([l]));
  }
  return out;
}

function checkRows(fn: string, what: string, n: number, f: number, data: Float32Array): number {
  if (!Number.isInteger(n) || n <= 0)
    throw new GraftError(`${fn}: the number of rows must be a positive integer (got ${String(n)})`);
  if (!(data instanceof Float32Array) || data.length !== n * f) {
    throw new GraftError(
      `${fn}: ${what} must be a Float32Array of ${n} × ${f} values (the model reads ${f} features), got ${data instanceof Float32Array ? data.length : typeof data}`,
    );
  }
  return n;
}

function graphSample(
  g: GraphInput,
  i: number,
  features: number,
  descriptors: number,
  edgeFeatures: number,
  targets: number,
): GraphSample {
  if (!(g.x instanceof Float32Array) || g.x.length !== g.nodes * features) {
    throw new GraftError(
      `predictGraphs: graph ${i} must have x of ${g.nodes} × ${features} values (the model reads ${features} atom features), got ${g.x?.length}`,
    );
  }
  if (descriptors > 0 && g.descriptors?.length !== descriptors) {
    throw new GraftError(
      `predictGraphs: graph ${i} needs ${descriptors} descriptors for the hybrid's dense branch, got ${g.descriptors?.length ?? 'none'}`,
    );
  }
  const edges = g.src?.length ?? 0;
  if (edgeFeatures > 0 && (!(g.edgeAttr instanceof Float32Array) || g.edgeAttr.length !== edges * edgeFeatures)) {
    throw new GraftError(
      `predictGraphs: graph ${i} needs edgeAttr of ${edges} × ${edgeFeatures} values (the model reads ${edgeFeatures} bond features per edge), got ${g.edgeAttr instanceof Float32Array ? g.edgeAttr.length : 'none'}`,
    );
  }
  return {
    nodes: g.nodes,
    x: g.x,
    src: g.src,
    dst: g.dst,
    ...(g.w ? { w: g.w } : {}),
    ...(edgeFeatures > 0 ? { edgeAttr: g.edgeAttr! } : {}),
    ...(g.descriptors ? { descriptors: g.descriptors } : {}),
    y: new Float32Array(targets).fill(NaN),
  };
}

type Runner<B> = { params(): Parameter[]; linears: Linear[]; dispose(): void; run(b: B): Promise<Float32Array> };

function sequential<B>(seq: Sequential, input: (b: B) => Tensor, ctx: PassContext): Runner<B> {
  return {
    params: () => seq.params(),
    linears: modelLinears(seq.layers),
    dispose: () => seq.dispose(),
    run: async (b) => {
      try {
        return ((await seq.forward(ctx, input(b))).data() as Float32Array).slice();
      } finally {
        seq.release();
      }
    },
  };
}

function joined<B>(heap: Heap, parts: JoinParts, inputs: (b: B) => Tensor[], ctx: PassContext): Runner<B> {
  const all = [...parts.branches, parts.head];
  return {
    params: () => all.flatMap((l) => l.params()),
    linears: [...parts.branches.flatMap((b) => modelLinears(b.layers)), parts.head],
    dispose: () => {
      for (const l of all) l.dispose();
    },
    run: async (b) => {
      const r = await joinForward(heap, ctx, parts, inputs(b));
      try {
        return (r.out.data() as Float32Array).slice();
      } finally {
        r.release();
      }
    },
  };
}
