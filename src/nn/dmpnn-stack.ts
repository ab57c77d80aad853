import type { Rng } from '../core/random.js';
import { argRangeError } from '../core/errors.js';
import { MessageGraph } from '../graph/message-graph.js';
import type { Heap } from '../memory/heap.js';
import { Tensor } from '../memory/tensor.js';
import type { PoolMode } from '../ops/pooling.js';
import { BondMessagePassing } from './dmpnn.js';
import type { Layer } from './layer.js';
import { Dropout, GraphPool, Linear, ReLU } from './layers.js';

/** A Chemprop-style molecule model: D-MPNN encoder on atom and bond features, readout, feed-forward head. */
export interface DmpnnStackShape {
  /** Atom feature columns (133 for Chemprop's features). */
  atomFeatures: number;
  /** Bond feature columns (14 for Chemprop's). */
  bondFeatures: number;
  /** Bond-state width (Chemprop's hidden_size, 300). */
  hidden: number;
  /** Message-passing depth (Chemprop's depth, 3). */
  depth: number;
  /** Atoms to molecule: 'mean' (Chemprop's default aggregation) or 'sum'. */
  pool: Extract<PoolMode, 'sum' | 'mean'>;
  /** Linear layers of the head (Chemprop's ffn_num_layers, 2), the output layer included. */
  ffnLayers: number;
  /** Width of the head's hidden layers (Chemprop's ffn_hidden_size, default the encoder's hidden). */
  ffnHidden?: number;
  /** Dropout before each head layer (Chemprop's dropout, 0). */
  dropout: number;
  /** Output columns (tasks). */
  out: number;
  weightDecay?: number;
}

/**
 * The layers of a D-MPNN molecule model (Yang et al. 2019, Chemprop's MPNN): BondMessagePassing
 * over the batch's directed bonds → pooling of each molecule's atom rows → [dropout → Linear →
 * ReLU] × (ffnLayers − 1) → dropout → Linear to `out` (logits). Run it as a Sequential on the
 * batch's atom features; `graph` and `offsets` give the current batch's message graph (with bond
 * features, as moleculeBatchGraph builds it) and molecule offsets. Names: `message_passing.*`
 * (Chemprop's), then `ffn0`, `ffn1`, ….
 * @example const layers = dmpnnStack(rt.heap, rng, () => batch.graph, () => batch.offsets, { atomFeatures: 133, bondFeatures: 14, hidden: 300, depth: 3, pool: 'mean', ffnLayers: 2, dropout: 0, out: 12 });
 */
export function dmpnnStack(
  heap: Heap,
  rng: Rng,
  graph: () => MessageGraph,
  offsets: () => Tensor,
  s: DmpnnStackShape,
): Layer[] {
  const fn = 'dmpnnStack';
  if (!Number.isInteger(s.ffnLayers) || s.ffnLayers < 1)
    throw argRangeError(fn, 'shape.ffnLayers', 'a positive integer', s.ffnLayers);
  if (s.pool !== 'sum' && s.pool !== 'mean') throw argRangeError(fn, 'shape.pool', "'sum' or 'mean'", s.pool);
  if (!(s.dropout >= 0 && s.dropout < 1)) throw argRangeError(fn, 'shape.dropout', 'in [0, 1)', s.dropout);
  const wd = s.weightDecay ?? 0,
    ffnHidden = s.ffnHidden ?? s.hidden;
  const layers: Layer[] = [
    new BondMessagePassing(heap, 'message_passing', s.atomFeatures, s.bondFeatures, s.hidden, rng, graph, {
      depth: s.depth,
      weightDecay: wd,
    }),
    new GraphPool(s.pool, offsets),
  ];
  let width = s.hidden;
  for (let l = 0; l < s.ffnLayers; l++) {
    const last = l === s.ffnLayers - 1,
      out = last ? s.out : ffnHidden;
    if (s.dropout > 0) layers.push(new Dropout(s.dropout, l));
    layers.push(new Linear(heap, `ffn${l}`, width, out, rng, { weightDecay: wd }));
    if (!last) layers.push(new ReLU());
    width = out;
  }
  return layers;
}

/** A batch of molecules for a D-MPNN: atom features stacked, directed bonds with features, molecule offsets. */
export interface MoleculeBatchGraph {
  /** Atom features [atoms, atomFeatures], molecules one after another. */
  x: Tensor;
  /** Every bond in both directions (Chemprop's order: 2b, 2b + 1), with its features. */
  graph: MessageGraph;
  /** int32 [molecules + 1]: molecule m's atoms are rows offsets[m] … offsets[m + 1] − 1. */
  offsets: Tensor<'int32'>;
  /** Frees the three. */
  free(): void;
}

/** One molecule as moleculeBatchGraph reads it (chem/featurize.ts's MolGraph with bond features fits). */
export interface BondedMolecule {
  atoms: number;
  x: Float32Array;
  src: ArrayLike<number>;
  dst: ArrayLike<number>;
  bondAttr?: Float32Array;
}

/**
 * Stacks molecules into one batch for dmpnnStack: block-diagonal directed bonds, bond
 * features per direction, atom rows in molecule order. Errors name the molecule whose
 * features do not have the expected widths.
 * @example const b = moleculeBatchGraph(rt.heap, graphs, 133, 14); // … b.free();
 */
export function moleculeBatchGraph(
  heap: Heap,
  molecules: readonly BondedMolecule[],
  atomFeatures: number,
  bondFeatures: number,
): MoleculeBatchGraph {
  const fn = 'moleculeBatchGraph';
  let atoms = 0,
    bonds = 0;
  molecules.forEach((m, i) => {
    if (m.x.length !== m.atoms * atomFeatures)
      throw argRangeError(
        fn,
        `molecules[${i}].x`,
        `${m.atoms * atomFeatures} values (atoms × ${atomFeatures})`,
        m.x.length,
      );
    if (!m.bondAttr || m.bondAttr.length !== m.src.length * bondFeatures)
      throw argRangeError(
        fn,
        `molecules[${i}].bondAttr`,
        `${m.src.length * bondFeatures} values (bonds × ${bondFeatures})`,
        m.bondAttr ? m.bondAttr.length : 'none',
      );
    atoms += m.atoms;
    bonds += m.src.length;
  });
  const x = new Float32Array(atoms * atomFeatures),
    src = new Int32Array(2 * bonds),
    dst = new Int32Array(2 * bonds),
    attr = new Float32Array(2 * bonds * bondFeatures),
    off = new Int32Array(molecules.length + 1);
  let a0 = 0,
    b0 = 0;
  molecules.forEach((m, i) => {
    x.set(m.x, a0 * atomFeatures);
    for (let b = 0; b < m.src.length; b++) {
      const e = 2 * (b0 + b);
      src[e] = dst[e + 1] = a0 + m.src[b]!;
      dst[e] = src[e + 1] = a0 + m.dst[b]!;
      const row = m.bondAttr!.subarray(b * bondFeatures, (b + 1) * bondFeatures);
      attr.set(row, e * bondFeatures);
      attr.set(row, (e + 1) * bondFeatures);
    }
    a0 += m.atoms;
    b0 += m.src.length;
    off[i + 1] = a0;
  });
  const xt = Tensor.from(heap, 'float32', [atoms, atomFeatures], x);
  const offsets = Tensor.from(heap, 'int32', [molecules.length + 1], off);
  const graph = MessageGraph.fromEdges(heap, atoms, src, dst, { edgeAttr: { data: attr, dim: bondFeatures } });
  return {
    x: xt,
    graph,
    offsets,
    free: () => {
      xt.free();
      offsets.free();
      graph.free();
    },
  };
}
