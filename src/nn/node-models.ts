import { argRangeError } from '../core/errors.js';
import { layerPrefix } from '../core/layer-names.js';
import { Rng } from '../core/random.js';
import { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import { GATConv, GATv2Conv } from './gat-conv.js';
import { GINConv, ginMlp } from './gin-conv.js';
import type { Layer, Parameter, PassContext } from './layer.js';
import { Dropout, ReLU } from './layers.js';
import { SAGEConv } from './sage-conv.js';
import { Sequential } from './sequential.js';

// Node classifiers on the message-passing layers besides GCN (graft train --model): the same
// stack shape as Kipf & Welling's GCN (dropout before every layer, a nonlinearity between
// layers, the last layer to the classes), the graph as a MessageGraph of the data's edges made
// undirected (as gcnNorm makes them for GCN), so every model sees the same neighbourhoods.

/** The models `graft train --model` builds for node tasks. */
export const NODE_MODEL_CHOICES = ['gcn', 'sage', 'gin', 'gat', 'gatv2'] as const;
/** One of NODE_MODEL_CHOICES ('gcn': Kipf & Welling's, the default). */
export type NodeModelKind = (typeof NODE_MODEL_CHOICES)[number];

/** What a message-passing node model's layers depend on (NodeTrainConfig's part). */
export interface MessageNodeModelConfig {
  model?: NodeModelKind;
  layers: number;
  hidden: number;
  dropout: number;
  weightDecay: number;
  weightDecayScope: 'first' | 'all';
  seed: number;
  /** GAT, GATv2: attention heads of each hidden layer (concatenated; the output layer has one). Default 8. */
  heads?: number;
}

/** Attention heads of a GAT model's hidden layers when the config gives none (Veličković et al. on Cora). */
export const GAT_DEFAULT_HEADS = 8;

/** The config's model, 'gcn' when it names none (configs and checkpoints from before --model). */
export const nodeModelKind = (c: { model?: string }): NodeModelKind => (c.model ?? 'gcn') as NodeModelKind;

/** Refuses a model name that is not one of NODE_MODEL_CHOICES, or heads that are not a positive integer. */
export function checkNodeModel(fn: string, c: { model?: unknown; heads?: unknown }): void {
  if (c.model !== undefined && !(NODE_MODEL_CHOICES as readonly unknown[]).includes(c.model)) {
    throw argRangeError(fn, 'config.model', NODE_MODEL_CHOICES.map((m) => `'${m}'`).join(', '), c.model);
  }
  if (c.heads !== undefined && (!Number.isInteger(c.heads) || (c.heads as number) < 1))
    throw argRangeError(fn, 'config.heads', 'a positive integer', c.heads);
}

/**
 * ELU (α = 1), GAT's nonlinearity between layers: y = x for x > 0, e^x − 1 otherwise.
 * Elementwise on the calling thread (an activation of [nodes, heads·hidden] is small next to
 * the layers' SpMMs), so its bits do not depend on the thread count.
 */
export class ELU implements Layer {
  readonly kind = 'elu';
  private y: Tensor | null = null;
  params(): Parameter[] {
    return [];
  }
  async forward(_ctx: PassContext, x: Tensor): Promise<Tensor> {
    const y = Tensor.empty(x.heap, 'float32', [...x.shape], 'elu');
    const a = x.data() as Float32Array,
      b = y.data() as Float32Array;
    for (let i = 0; i < a.length; i++) {
      const v = a[i]!;
      b[i] = v > 0 ? v : Math.expm1(v);
    }
    this.y = y;
    return y;
  }
  async backward(_ctx: PassContext, gy: Tensor, needInputGrad: boolean): Promise<Tensor | null> {
    const y = this.y;
    this.y = null;
    if (!y) throw new Error('elu: backward without forward');
    if (!needInputGrad) return null;
    // dy/dx = 1 for x > 0, e^x = y + 1 otherwise (y > 0 exactly when x > 0).
    const gx = Tensor.empty(y.heap, 'float32', [...y.shape], 'elu grad');
    const s = y.data() as Float32Array,
      g = gy.data() as Float32Array,
      d = gx.data() as Float32Array;
    for (let i = 0; i < s.length; i++) {
      const v = s[i]!;
      d[i] = v > 0 ? g[i]! : g[i]! * (v + 1);
    }
    return gx;
  }
  release(): void {
    this.y = null;
  } // the Sequential owns y
  dispose(): void {}
}

/**
 * The directed edges a node model of `kind` passes messages along: every edge both ways,
 * duplicates merged (gcnNorm's reading of the edge list, so --model changes the layer, not the
 * graph); given self loops kept for SAGE and GIN (their root term is x_i already) and left out
 * for GAT and GATv2, which get one per node (MessageGraph's selfLoops 'replace', PyG's
 * add_self_loops). Out-of-range ids pass through for MessageGraph to refuse. The one rule
 * training, inference and graft explain build a node model's graph by.
 */
export function nodeMessageEdges(
  nodes: number,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  kind: NodeModelKind,
): { src: number[]; dst: number[] } {
  const attention = kind === 'gat' || kind === 'gatv2';
  const seen = new Set<number>();
  const s: number[] = [],
    d: number[] = [];
  const add = (a: number, b: number): void => {
    const key = a * nodes + b;
    if (seen.has(key)) return;
    seen.add(key);
    s.push(a);
    d.push(b);
  };
  for (let e = 0; e < src.length; e++) {
    const a = src[e]!,
      b = dst[e]!;
    // Out-of-range ids are MessageGraph's to refuse; the key must not collide before that.
    if (!(a >= 0 && a < nodes && b >= 0 && b < nodes)) {
      s.push(a);
      d.push(b);
      continue;
    }
    if (a === b && attention) continue;
    add(a, b);
    add(b, a);
  }
  return { src: s, dst: d };
}

/** The message graph a node model of `kind` propagates on: nodeMessageEdges', with GAT's self loops added. */
export function nodeMessageGraph(
  heap: Heap,
  nodes: number,
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  kind: NodeModelKind,
): MessageGraph {
  const e = nodeMessageEdges(nodes, src, dst, kind);
  return MessageGraph.fromEdges(heap, nodes, e.src, e.dst, {
    selfLoops: kind === 'gat' || kind === 'gatv2' ? 'replace' : 'keep',
  });
}

/**
 * A node classifier of the config's model (not 'gcn': nodeGcn builds that), Kipf & Welling's
 * stack shape with the chosen layer: [dropout → layer → nonlinearity] × (layers − 1), then
 * dropout → layer to the classes. SAGE and GIN: ReLU between layers, GIN's MLP Linear → ReLU
 * → Linear of width `hidden`, ε = 0. GAT and GATv2 (Veličković et al.): `heads` heads of
 * `hidden` channels concatenated in hidden layers, one head at the output, ELU between
 * layers, the same dropout rate on the inputs of every layer and on the attention
 * coefficients. Layers are named sage0, sage1, … (gin0, gat0, gatv2_0 …) and draw their
 * initial weights from the config's seed in order; weight decay on the first layer or all
 * (weightDecayScope), as for the GCN.
 */
export function nodeMessageModel(
  heap: Heap,
  inFeatures: number,
  classes: number,
  c: MessageNodeModelConfig,
  graph: () => MessageGraph,
): Sequential {
  const kind = nodeModelKind(c);
  if (kind === 'gcn') throw new Error("nodeMessageModel: a GCN is nodeGcn's");
  const rng = new Rng(c.seed);
  const heads = c.heads ?? GAT_DEFAULT_HEADS;
  const prefix = layerPrefix(kind);
  const layers: Layer[] = [];
  let width = inFeatures;
  for (let l = 0; l < c.layers; l++) {
    const last = l === c.layers - 1,
      name = `${prefix}${l}`;
    const weightDecay = c.weightDecayScope === 'all' || l === 0 ? c.weightDecay : 0;
    if (c.dropout > 0) layers.push(new Dropout(c.dropout, l));
    const out = last ? classes : c.hidden;
    let layer: Layer;
    if (kind === 'sage') {
      layer = new SAGEConv(heap, name, width, out, rng, graph, { weightDecay });
      width = out;
    } else if (kind === 'gin') {
      layer = new GINConv(heap, name, ginMlp(heap, name, width, c.hidden, out, rng, { weightDecay }), graph, rng);
      width = out;
    } else {
      const h = last ? 1 : heads;
      // Attention dropout keys in slots 32 + l, apart from the input dropouts' l.
      const options = { heads: h, concat: true, dropout: c.dropout, dropoutIndex: 32 + l, weightDecay };
      layer =
        kind === 'gat'
          ? new GATConv(heap, name, width, out, rng, graph, options)
          : new GATv2Conv(heap, name, width, out, rng, graph, options);
      width = out * h;
    }
    layers.push(layer);
    if (!last) layers.push(kind === 'gat' || kind === 'gatv2' ? new ELU() : new ReLU());
  }
  return new Sequential(layers);
}
