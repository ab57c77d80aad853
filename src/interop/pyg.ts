import { GraftError } from '../core/errors.js';
import { LAYER_TENSORS, layerPrefix, type ConvKind } from '../core/layer-names.js';
import type { Checkpoint, StoredTensor } from '../core/safetensors.js';

// Weights between a PyTorch Geometric GCN's state_dict and Graft's GCN layers. PyG's GCNConv
// (2.x) keeps a Linear without bias (`lin.weight`, stored [out, in] as every PyTorch Linear)
// and a separate `bias` [out] added after propagation; PyG 1.x stored `weight` as [in, out].
// Graft's GCNConv keeps `weight` [in, out] and `bias` [out], and computes the same
// Â·(X·W) + b (or (Â·X)·W + b when a layer widens, the same value up to rounding). Layers
// are named conv1 … convL (as in PyG's examples) or convs.0 … convs.(L−1) (a ModuleList).

export interface GcnWeights {
  /** Graft's parameters by name: gcn0.weight [in, out], gcn0.bias [out], … */
  tensors: Map<string, StoredTensor>;
  /** Input width, then each layer's output width. */
  widths: number[];
}

const PATTERNS = [(i: number) => `conv${i + 1}.`, (i: number) => `convs.${i}.`];

/** The layer names pattern a PyG state_dict uses (conv1. … or convs.0. …), or null. */
function layerPattern(names: readonly string[]): ((l: number) => string) | null {
  return PATTERNS.find((p) => names.some((n) => n.startsWith(p(0)))) ?? null;
}

/** A state_dict's keys without DataParallel's `module.` prefix. */
function stateDictKeys(sd: Checkpoint): string[] {
  return [...sd.tensors.keys()].map((k) => k.replace(/^module\./, ''));
}

/** A state_dict's tensor by its name, with or without DataParallel's `module.` prefix. */
function pygGetter(sd: Checkpoint): (k: string) => StoredTensor | undefined {
  return (k) => sd.tensors.get(k) ?? sd.tensors.get(`module.${k}`);
}

/**
 * Refuses a state_dict key (`module.` dropped) the import did not read (`read`), but for GIN's
 * and GINE's `eps` buffers (checked 0 by checkEpsZero): a tensor left unread is a part of the
 * model (a deeper head, another layer) the imported model would silently lack.
 */
function refuseUnread(sd: Checkpoint, read: ReadonlySet<string>, file: string, what: string): void {
  const extra = stateDictKeys(sd).find((k) => !read.has(k) && !/(^|\.)eps$/.test(k));
  if (extra !== undefined)
    throw new GraftError(`${file}: ${extra} is not a tensor of ${what}, which the import maps (a part it would drop)`);
}

/** A PyG state_dict's message-passing layers: the keys (a DataParallel `module.` prefix dropped), their pattern, count and first Linear weight. */
interface PygLayers {
  names: string[];
  get: (k: string) => StoredTensor | undefined;
  pattern: (l: number) => string;
  count: number;
  /** The first layer's LAYER_TENSORS input weight [out, in] (GATConv's lin_src before PyG 2.3). */
  first: StoredTensor;
}

/** The `model` layers a state_dict holds; none is one line naming the file, the keys expected and those it holds. */
function pygLayers(sd: Checkpoint, model: ConvKind, file: string): PygLayers {
  const names = stateDictKeys(sd);
  const get = pygGetter(sd);
  const pattern = layerPattern(names);
  const input = model === 'gcn' ? 'lin.weight' : LAYER_TENSORS[model].input;
  const first =
    pattern && (get(`${pattern(0)}${input}`) ?? (model === 'gat' ? get(`${pattern(0)}lin_src.weight`) : undefined));
  if (!pattern || !first)
    throw new GraftError(
      `${file}: no ${model} layers (expected conv1.${input}, … as PyG names them, or convs.0.…); it holds ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', …' : ''}`,
    );
  let count = 0;
  while (names.some((n) => n.startsWith(pattern(count)))) count++;
  return { names, get, pattern, count, first };
}

/** Refuses a GIN or GINE whose `eps` is not 0: Graft's (`who`) fixes ε = 0. */
function checkEpsZero(l: PygLayers, who: string, pygClass: string, file: string): void {
  for (let i = 0; i < l.count; i++) {
    const eps = l.get(`${l.pattern(i)}eps`);
    if (eps && eps.data[0] !== 0)
      throw new GraftError(
        `${file}: ${l.pattern(i)}eps is ${eps.data[0]}; ${who} fixes ε = 0 (a ${pygClass}(train_eps=True) that learned another cannot be imported)`,
      );
  }
}

/** Graft GCN weights from a PyG state_dict; what does not fit is named (file and tensor). */
export function gcnFromPyg(sd: Checkpoint, file: string): GcnWeights {
  const names = stateDictKeys(sd);
  const get = pygGetter(sd);
  const pattern = layerPattern(names);
  if (!pattern)
    throw new GraftError(
      `${file}: no GCN layers (expected conv1.lin.weight, conv1.bias, … as PyG's GCNConv names them, or convs.0.…); it holds ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', …' : ''}`,
    );
  const tensors = new Map<string, StoredTensor>();
  const widths: number[] = [];
  const read = new Set<string>();
  let l = 0;
  for (; names.some((n) => n.startsWith(pattern(l))); l++) {
    const p = pattern(l);
    const lin = get(`${p}lin.weight`),
      old = get(`${p}weight`),
      bias = get(`${p}bias`);
    const f32 = (t: StoredTensor, k: string): Float32Array => {
      if (!(t.data instanceof Float32Array))
        throw new GraftError(`${file}: ${k} is not float32 (save the model with .float() first)`);
      return t.data;
    };
    let w: Float32Array, inW: number, outW: number;
    if (lin) {
      if (lin.shape.length !== 2)
        throw new GraftError(`${file}: ${p}lin.weight has shape [${lin.shape}], expected [out, in]`);
      [outW, inW] = lin.shape as [number, number];
      const src = f32(lin, `${p}lin.weight`);
      w = new Float32Array(inW * outW);
      for (let o = 0; o < outW; o++) for (let i = 0; i < inW; i++) w[i * outW + o] = src[o * inW + i]!;
    } else if (old) {
      if (old.shape.length !== 2)
        throw new GraftError(`${file}: ${p}weight has shape [${old.shape}], expected [in, out]`);
      [inW, outW] = old.shape as [number, number];
      w = f32(old, `${p}weight`).slice();
    } else {
      throw new GraftError(`${file}: layer ${p.slice(0, -1)} has no lin.weight (PyG 2.x) or weight (PyG 1.x)`);
    }
    if (!bias)
      throw new GraftError(
        `${file}: ${p}bias is missing: Graft's GCN layers have a bias (a GCNConv(bias=False) cannot be imported)`,
      );
    if (bias.shape.length !== 1 || bias.shape[0] !== outW)
      throw new GraftError(`${file}: ${p}bias has shape [${bias.shape}], expected [${outW}]`);
    if (l > 0 && widths[l] !== inW)
      throw new GraftError(
        `${file}: ${p.slice(0, -1)} reads ${inW} columns but the layer before it writes ${widths[l]}`,
      );
    if (l === 0) widths.push(inW);
    widths.push(outW);
    tensors.set(`gcn${l}.weight`, { shape: [inW, outW], data: w });
    tensors.set(`gcn${l}.bias`, { shape: [outW], data: f32(bias, `${p}bias`).slice() });
    read.add(`${p}${lin ? 'lin.weight' : 'weight'}`).add(`${p}bias`);
  }
  refuseUnread(sd, read, file, `a ${l}-layer GCN`);
  const hidden = widths.slice(1, -1);
  if (hidden.some((h) => h !== hidden[0]))
    throw new GraftError(
      `${file}: hidden layers of different widths (${hidden.join(', ')}): Graft's GCN has one hidden width`,
    );
  return { tensors, widths };
}

/** A PyG (2.x) state_dict from Graft GCN weights gcn0 … gcn(L−1): convN.lin.weight [out, in], convN.bias [out]. */
export function gcnToPyg(
  weights: ReadonlyMap<string, Float32Array>,
  widths: readonly number[],
): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (let l = 0; l + 1 < widths.length; l++) {
    const inW = widths[l]!,
      outW = widths[l + 1]!;
    const w = weights.get(`gcn${l}.weight`),
      b = weights.get(`gcn${l}.bias`);
    if (!w || w.length !== inW * outW || !b || b.length !== outW)
      throw new GraftError(`the run's gcn${l} is not [${inW}, ${outW}] with a bias`);
    const t = new Float32Array(inW * outW);
    for (let i = 0; i < inW; i++) for (let o = 0; o < outW; o++) t[o * inW + i] = w[i * outW + o]!;
    out.set(`conv${l + 1}.lin.weight`, { shape: [outW, inW], data: t });
    out.set(`conv${l + 1}.bias`, { shape: [outW], data: b.slice() });
  }
  return out;
}

// The message-passing layers (SAGEConv, GINConv/GINEConv, GATConv, GATv2Conv) keep PyG's
// parameter names under the layer's name (`conv1.lin_l.weight`, `conv1.nn.0.weight`,
// `conv1.att_src`, …), and BondMessagePassing Chemprop's (`W_i.weight`, `W_h.weight`,
// `W_o.weight`, `W_o.bias`), so the mapping is per tensor, not per name: a Linear's weight is
// [in, out] in Graft and [out, in] in PyTorch (transposed); an attention vector is [H, C] in
// Graft and [1, H, C] in PyG; everything else (biases, eps) is copied as is.

const ATTENTION = /(^|\.)(att|att_src|att_dst)$/;
// A graph model's head (`head`), a hybrid's dense branch (`dense0`) and D-MPNN's feed-forward head (`ffn0`, `ffn1`) are torch Linears too.
const LINEAR_WEIGHT = /(^|\.)(lin|lin_l|lin_r|lin_src|lin_dst|nn\.\d+|W_i|W_h|W_o|head|dense\d+|ffn\d+)\.weight$/;

/** PyG state_dict entries from Graft parameters (name → [shape, values]) of message-passing layers. */
export function layersToPyg(params: ReadonlyMap<string, StoredTensor>): Map<string, StoredTensor> {
  const out = new Map<string, StoredTensor>();
  for (const [name, t] of params) {
    if (!(t.data instanceof Float32Array)) throw new GraftError(`${name}: a layer parameter must be float32`);
    if (LINEAR_WEIGHT.test(name)) {
      if (t.shape.length !== 2) throw new GraftError(`${name} has shape [${t.shape}], expected [in, out]`);
      out.set(name, { shape: [t.shape[1]!, t.shape[0]!], data: transpose(t.data, t.shape[0]!, t.shape[1]!) });
    } else if (ATTENTION.test(name)) {
      if (t.shape.length !== 2) throw new GraftError(`${name} has shape [${t.shape}], expected [heads, channels]`);
      out.set(name, { shape: [1, t.shape[0]!, t.shape[1]!], data: t.data.slice() });
    } else {
      out.set(name, { shape: [...t.shape], data: t.data.slice() });
    }
  }
  return out;
}

/**
 * Graft parameters for `want` (the names and shapes a freshly built model has) from a PyG
 * state_dict; what is missing or does not fit is named (file and tensor). GATConv's weight
 * may come as `lin.weight` (PyG ≥ 2.3) or `lin_src.weight` (earlier, shared with `lin_dst`).
 */
export function layersFromPyg(
  sd: Checkpoint,
  want: ReadonlyMap<string, readonly number[]>,
  file: string,
): Map<string, Float32Array> {
  const get = pygGetter(sd);
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of want) {
    const t =
      get(name) ?? (name.endsWith('.lin.weight') ? get(name.replace(/\.lin\.weight$/, '.lin_src.weight')) : undefined);
    if (!t) throw new GraftError(`${file}: no ${name} (the model expects it, as PyG names it)`);
    if (!(t.data instanceof Float32Array))
      throw new GraftError(`${file}: ${name} is not float32 (save the model with .float() first)`);
    const expected = LINEAR_WEIGHT.test(name)
      ? [shape[1]!, shape[0]!]
      : ATTENTION.test(name)
        ? [1, ...shape]
        : [...shape];
    if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i])) {
      throw new GraftError(`${file}: ${name} has shape [${t.shape}], expected [${expected}]`);
    }
    out.set(name, LINEAR_WEIGHT.test(name) ? transpose(t.data, expected[0]!, expected[1]!) : t.data.slice());
  }
  return out;
}

/** [r, c] row-major → [c, r]. */
function transpose(a: Float32Array, r: number, c: number): Float32Array {
  const o = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) o[j * r + i] = a[i * c + j]!;
  return o;
}

// A node model of graft train --model sage|gin|gat|gatv2 as a PyG model holds it: its layers
// conv1 … convL (PyG's examples; convs.0 … as a ModuleList is read too), each under PyG's own
// parameter names (layersToPyg above). Graft names the same layers sage0 …, gin0 …, gat0 …,
// gatv2_0 … (nn/node-models.ts).

/** The node models whose layers map to PyG's message-passing layers. */
export type PygNodeModel = 'sage' | 'gin' | 'gat' | 'gatv2';

/** What a node model's PyG state_dict says of its shape. */
export interface PygNodeShape {
  layers: number;
  features: number;
  classes: number;
  /** The hidden layers' width (per head for GAT/GATv2); null for one layer. */
  hidden: number | null;
  /** GAT/GATv2: the hidden layers' heads (null for one layer, or another model). */
  heads: number | null;
}

/** A PyG state_dict of a Graft node model (weights: Graft's parameter names, reported weights). */
export function nodeModelToPyg(
  model: PygNodeModel,
  weights: ReadonlyMap<string, StoredTensor>,
): Map<string, StoredTensor> {
  const re = new RegExp(`^${layerPrefix(model)}(\\d+)\\.(.+)$`);
  const renamed = new Map<string, StoredTensor>();
  const layers = new Set<number>();
  for (const [name, t] of weights) {
    const m = re.exec(name);
    if (!m) throw new GraftError(`${name}: not a parameter of a ${model} node model's layers`);
    layers.add(Number(m[1]));
    renamed.set(`conv${Number(m[1]) + 1}.${m[2]}`, t);
  }
  const out = layersToPyg(renamed);
  // PyG's GINConv(train_eps=False) keeps ε as a buffer, so its state_dict has it: Graft's node GIN fixes ε = 0.
  if (model === 'gin')
    for (const l of layers)
      if (!out.has(`conv${l + 1}.eps`)) out.set(`conv${l + 1}.eps`, { shape: [1], data: new Float32Array(1) });
  return out;
}

/** The shape of a `model` node model a PyG state_dict holds; what does not fit is named (file and tensor). */
export function pygNodeShape(sd: Checkpoint, model: PygNodeModel, file: string): PygNodeShape {
  const l = pygLayers(sd, model, file);
  const { get, pattern, count: layers, first: w0 } = l;
  const outKey = LAYER_TENSORS[model].output;
  const last = get(`${pattern(layers - 1)}${outKey}`);
  if (!last) throw new GraftError(`${file}: no ${pattern(layers - 1)}${outKey} (the last layer's output)`);
  const att = model === 'gat' ? 'att_src' : model === 'gatv2' ? 'att' : null;
  const shape: PygNodeShape = {
    layers,
    features: w0.shape[1]!,
    classes: last.shape[last.shape.length - 1]!,
    hidden: null,
    heads: null,
  };
  if (layers > 1) {
    const h = get(`${pattern(0)}${outKey}`)!;
    if (att) {
      const a = get(`${pattern(0)}${att}`);
      if (a?.shape.length !== 3)
        throw new GraftError(`${file}: ${pattern(0)}${att} missing or not [1, heads, channels]`);
      shape.heads = a.shape[1]!;
      shape.hidden = a.shape[2]!;
      const lastAtt = get(`${pattern(layers - 1)}${att}`);
      if (lastAtt && lastAtt.shape[1] !== 1)
        throw new GraftError(
          `${file}: the last layer has ${lastAtt.shape[1]} heads; Graft's ${model} node model has one at its output`,
        );
    } else {
      shape.hidden = model === 'gin' ? w0.shape[0]! : h.shape[0]!;
    }
  }
  if (model === 'gin') checkEpsZero(l, "Graft's node GIN", 'GINConv', file);
  return shape;
}

/**
 * Graft weights (its parameter names) for a freshly built `model` node model (`want`: its
 * parameter names and shapes) from a PyG state_dict: each looked up under PyG's name.
 */
export function nodeModelFromPyg(
  sd: Checkpoint,
  model: PygNodeModel,
  want: ReadonlyMap<string, readonly number[]>,
  file: string,
): Map<string, Float32Array> {
  const re = new RegExp(`^${layerPrefix(model)}(\\d+)\\.(.+)$`);
  return fromPygByName(sd, want, file, `a ${model} node model of this shape`, (name, pattern) => {
    const m = re.exec(name);
    if (!m) throw new Error(`nodeModelFromPyg: ${name} is not a ${model} layer's parameter`);
    return `${pattern(Number(m[1]))}${m[2]}`;
  });
}

/**
 * Graft weights for `want` (Graft's names and shapes), each read from a state_dict under the
 * name `pygName` gives it (layers following the state_dict's own pattern); any key left unread
 * is refused (refuseUnread, `what` the model).
 */
function fromPygByName(
  sd: Checkpoint,
  want: ReadonlyMap<string, readonly number[]>,
  file: string,
  what: string,
  pygName: (graft: string, pattern: (l: number) => string) => string,
): Map<string, Float32Array> {
  const pattern = layerPattern(stateDictKeys(sd)) ?? PATTERNS[0]!;
  const toPyg = new Map([...want.keys()].map((k) => [k, pygName(k, pattern)] as const));
  const got = layersFromPyg(sd, new Map([...want].map(([k, s]) => [toPyg.get(k)!, s])), file);
  // layersFromPyg reads GATConv's lin_src.weight where lin.weight is absent (PyG < 2.3), whose lin_dst is the same Linear.
  const get = pygGetter(sd);
  const read = new Set<string>();
  for (const pyg of toPyg.values()) {
    if (get(pyg) || !pyg.endsWith('.lin.weight')) read.add(pyg);
    else
      read.add(pyg.replace(/\.lin\.weight$/, '.lin_src.weight')).add(pyg.replace(/\.lin\.weight$/, '.lin_dst.weight'));
  }
  refuseUnread(sd, read, file, what);
  return new Map([...toPyg].map(([graft, pyg]) => [graft, got.get(pyg)!]));
}

// A graph-level model of graft train --task graph --model as a PyG model holds it: its
// message-passing layers conv1 … convL (convs.0 … read too) under PyG's names, the GCN's
// weight as PyG's GCNConv keeps it (convN.lin.weight, convN.bias), then the pooled head
// `head`; a hybrid's dense branch `dense0`. D-MPNN has no PyG twin: its layer keeps
// Chemprop's names (message_passing.W_i, W_h, W_o) and its feed-forward head Graft's (ffn0,
// ffn1). Every Linear weight is [out, in], as torch keeps it.

/** The graph-level models whose weights map to a PyG (or, for D-MPNN, Chemprop-named) state_dict. */
export type PygGraphModel = ConvKind | 'dmpnn';

/** A Graft parameter name of a `model` graph model → its name in a PyG state_dict whose layers follow `pattern`. */
function graphPygName(model: PygGraphModel, name: string, pattern: (l: number) => string): string {
  if (model === 'dmpnn') return name;
  const m = new RegExp(`^${layerPrefix(model)}(\\d+)\\.(.+)$`).exec(name);
  if (!m) return name; // head, dense0: the same name
  const rest = model === 'gcn' && m[2] === 'weight' ? 'lin.weight' : m[2]!;
  return `${pattern(Number(m[1]))}${rest}`;
}

/** A PyG state_dict of a Graft graph model (weights: Graft's parameter names, the reported weights). */
export function graphModelToPyg(
  model: PygGraphModel,
  weights: ReadonlyMap<string, StoredTensor>,
): Map<string, StoredTensor> {
  const renamed = new Map<string, StoredTensor>();
  for (const [name, t] of weights) renamed.set(graphPygName(model, name, PATTERNS[0]!), t);
  const out = layersToPyg(renamed);
  // PyG's GINConv and GINEConv (train_eps=False) keep ε as a buffer: Graft's fixes it at 0.
  if (model === 'gin' || model === 'gine')
    for (const name of renamed.keys()) {
      const m = /^conv(\d+)\./.exec(name);
      if (m && !out.has(`conv${m[1]}.eps`)) out.set(`conv${m[1]}.eps`, { shape: [1], data: new Float32Array(1) });
    }
  return out;
}

/** What a graph model's PyG state_dict says of its shape (what its config cannot be built without). */
export interface PygGraphShape {
  /** Layers with weights as graft train counts them: message-passing layers + the head (D-MPNN: not in the weights). */
  layers: number | null;
  features: number;
  targets: number;
  hidden: number;
  /** GAT, GATv2: heads (hidden / heads channels each). */
  heads: number | null;
  /** GINE, D-MPNN: bond feature columns. */
  edgeFeatures: number | null;
  /** The hybrid's dense branch (dense0): descriptor columns and its width; null without one. */
  dense: { descriptors: number; hidden: number } | null;
}

/** The shape of a `model` graph model a PyG state_dict holds; what does not fit is named (file and tensor). */
export function pygGraphShape(sd: Checkpoint, model: PygGraphModel, file: string): PygGraphShape {
  const names = stateDictKeys(sd);
  const get = pygGetter(sd);
  const need = (k: string, dims: number): StoredTensor => {
    const t = get(k);
    if (!t)
      throw new GraftError(
        `${file}: no ${k} (a ${model} graph model has it); it holds ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', …' : ''}`,
      );
    if (t.shape.length !== dims)
      throw new GraftError(`${file}: ${k} has shape [${t.shape}], expected ${dims} dimensions`);
    return t;
  };
  const dense0 = get('dense0.weight');
  const dense = dense0 ? { descriptors: dense0.shape[1]!, hidden: dense0.shape[0]! } : null;
  if (model === 'dmpnn') {
    const wi = need('message_passing.W_i.weight', 2),
      wo = need('message_passing.W_o.weight', 2);
    const hidden = wo.shape[0]!,
      atoms = wo.shape[1]! - hidden,
      bonds = wi.shape[1]! - atoms;
    if (atoms < 1 || bonds < 1)
      throw new GraftError(
        `${file}: message_passing.W_i.weight [${wi.shape}] and W_o.weight [${wo.shape}] do not split into atom, bond and hidden columns`,
      );
    const out = dense ? need('head.weight', 2) : need('ffn1.weight', 2);
    return { layers: null, features: atoms, targets: out.shape[0]!, hidden, heads: null, edgeFeatures: bonds, dense };
  }
  const l = pygLayers(sd, model, file);
  if (l.first.shape.length !== 2)
    throw new GraftError(`${file}: the first layer's weight has shape [${l.first.shape}], expected [out, in]`);
  const hidden = need(`${l.pattern(0)}${model === 'gcn' ? 'bias' : LAYER_TENSORS[model].output}`, 1).shape[0]!;
  const heads =
    model === 'gat' || model === 'gatv2'
      ? need(`${l.pattern(0)}${model === 'gat' ? 'att_src' : 'att'}`, 3).shape[1]!
      : null;
  const edgeFeatures = model === 'gine' ? need(`${l.pattern(0)}lin.weight`, 2).shape[1]! : null;
  if (model === 'gin' || model === 'gine')
    checkEpsZero(l, `Graft's graph ${model.toUpperCase()}`, model === 'gin' ? 'GINConv' : 'GINEConv', file);
  const targets = need('head.weight', 2).shape[0]!;
  return { layers: l.count + 1, features: l.first.shape[1]!, targets, hidden, heads, edgeFeatures, dense };
}

/**
 * Graft weights (its parameter names) for a freshly built `model` graph model (`want`: its
 * parameter names and shapes) from a PyG state_dict: each looked up under its PyG name.
 */
export function graphModelFromPyg(
  sd: Checkpoint,
  model: PygGraphModel,
  want: ReadonlyMap<string, readonly number[]>,
  file: string,
): Map<string, Float32Array> {
  return fromPygByName(sd, want, file, `a ${model} graph model of this shape`, (name, pattern) =>
    graphPygName(model, name, pattern),
  );
}
