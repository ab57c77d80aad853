import { GraftError } from '../core/errors.js';
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

/** Graft GCN weights from a PyG state_dict; what does not fit is named (file and tensor). */
export function gcnFromPyg(sd: Checkpoint, file: string): GcnWeights {
  const names = [...sd.tensors.keys()].map((k) => k.replace(/^module\./, '')); // DataParallel's prefix
  const get = (k: string): StoredTensor | undefined => sd.tensors.get(k) ?? sd.tensors.get(`module.${k}`);
  const pattern = PATTERNS.find((p) => names.some((n) => n.startsWith(p(0))));
  if (!pattern)
    throw new GraftError(
      `${file}: no GCN layers (expected conv1.lin.weight, conv1.bias, … as PyG's GCNConv names them, or convs.0.…); it holds ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', …' : ''}`,
    );
  const tensors = new Map<string, StoredTensor>();
  const widths: number[] = [];
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
  }
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
const LINEAR_WEIGHT = /(^|\.)(lin|lin_l|lin_r|lin_src|lin_dst|nn\.\d+|W_i|W_h|W_o)\.weight$/;

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
  const get = (k: string): StoredTensor | undefined => sd.tensors.get(k) ?? sd.tensors.get(`module.${k}`);
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

/** The prefix of Graft's layer names for `model` (nodeMessageModel's: gatv2's layers are gatv2_0 …). */
export const graftLayerPrefix = (model: PygNodeModel): string => (model === 'gatv2' ? 'gatv2_' : model);

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
  const re = new RegExp(`^${graftLayerPrefix(model)}(\\d+)\\.(.+)$`);
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

/** The layer names pattern a PyG state_dict uses (conv1. … or convs.0. …), or null. */
function layerPattern(names: readonly string[]): ((l: number) => string) | null {
  return PATTERNS.find((p) => names.some((n) => n.startsWith(p(0)))) ?? null;
}

/** The shape of a `model` node model a PyG state_dict holds; what does not fit is named (file and tensor). */
export function pygNodeShape(sd: Checkpoint, model: PygNodeModel, file: string): PygNodeShape {
  const names = [...sd.tensors.keys()].map((k) => k.replace(/^module\./, ''));
  const get = (k: string): StoredTensor | undefined => sd.tensors.get(k) ?? sd.tensors.get(`module.${k}`);
  const pattern = layerPattern(names);
  // [the first layer's Linear weight [out, in], the tensor whose last dimension is a layer's output]
  const keys: Record<PygNodeModel, [string, string]> = {
    sage: ['lin_l.weight', 'lin_l.bias'],
    gin: ['nn.0.weight', 'nn.2.bias'],
    gat: ['lin.weight', 'bias'],
    gatv2: ['lin_l.weight', 'bias'],
  };
  const [first, outKey] = keys[model];
  if (!pattern || !get(`${pattern(0)}${first}`)) {
    const alt = model === 'gat' && pattern ? get(`${pattern(0)}lin_src.weight`) : undefined;
    if (!alt)
      throw new GraftError(
        `${file}: no ${model} layers (expected conv1.${first}, … as PyG names them, or convs.0.…); it holds ${names.slice(0, 6).join(', ')}${names.length > 6 ? ', …' : ''}`,
      );
  }
  let layers = 0;
  while (names.some((n) => n.startsWith(pattern!(layers)))) layers++;
  const w0 = get(`${pattern!(0)}${first}`) ?? get(`${pattern!(0)}lin_src.weight`)!;
  const last = get(`${pattern!(layers - 1)}${outKey}`);
  if (!last) throw new GraftError(`${file}: no ${pattern!(layers - 1)}${outKey} (the last layer's output)`);
  const att = model === 'gat' ? 'att_src' : model === 'gatv2' ? 'att' : null;
  const shape: PygNodeShape = {
    layers,
    features: w0.shape[1]!,
    classes: last.shape[last.shape.length - 1]!,
    hidden: null,
    heads: null,
  };
  if (layers > 1) {
    const h = get(`${pattern!(0)}${outKey}`)!;
    if (att) {
      const a = get(`${pattern!(0)}${att}`);
      if (a?.shape.length !== 3)
        throw new GraftError(`${file}: ${pattern!(0)}${att} missing or not [1, heads, channels]`);
      shape.heads = a.shape[1]!;
      shape.hidden = a.shape[2]!;
      const lastAtt = get(`${pattern!(layers - 1)}${att}`);
      if (lastAtt && lastAtt.shape[1] !== 1)
        throw new GraftError(
          `${file}: the last layer has ${lastAtt.shape[1]} heads; Graft's ${model} node model has one at its output`,
        );
    } else {
      shape.hidden = model === 'gin' ? w0.shape[0]! : h.shape[0]!;
    }
  }
  if (model === 'gin')
    for (let l = 0; l < layers; l++) {
      const eps = get(`${pattern!(l)}eps`);
      if (eps && eps.data[0] !== 0)
        throw new GraftError(
          `${file}: ${pattern!(l)}eps is ${eps.data[0]}; Graft's node GIN fixes ε = 0 (a GINConv(train_eps=True) that learned another cannot be imported)`,
        );
    }
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
  const names = [...sd.tensors.keys()].map((k) => k.replace(/^module\./, ''));
  const pattern = layerPattern(names) ?? PATTERNS[0]!;
  const re = new RegExp(`^${graftLayerPrefix(model)}(\\d+)\\.(.+)$`);
  const toPyg = new Map<string, string>();
  for (const name of want.keys()) {
    const m = re.exec(name);
    if (!m) throw new Error(`nodeModelFromPyg: ${name} is not a ${model} layer's parameter`);
    toPyg.set(name, `${pattern(Number(m[1]))}${m[2]}`);
  }
  const got = layersFromPyg(sd, new Map([...want].map(([k, s]) => [toPyg.get(k)!, s])), file);
  return new Map([...toPyg].map(([graft, pyg]) => [graft, got.get(pyg)!]));
}
