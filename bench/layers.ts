// npm run bench:layers [-- --threads 1,2] [--shape cora|molecules] [--layer sage,gat,…]
// One training step (forward, then backward with the input gradient) of each message-passing
// layer alone, on the cora and molecules shapes, with GCNConv on the same graph as the
// yardstick. Synthetic graphs of those sizes (seeded), so the line is the same on any machine
// with or without the data sets. One JSON line per case:
//   {"layer","shape","threads","nodes","edges","in","out","forward_ms","step_ms","step_cpu_ms"}
// forward_ms: an evaluation forward; step_ms: a training forward + backward (median of runs);
// step_cpu_ms: the process's CPU time (user + system) per training step, mean over the runs.
// On a loaded machine wall time includes waiting for a core and CPU time does not: at 1 thread
// step_cpu_ms is the step's own work (at more, helpers' spin-waits add to it).
import { availableParallelism } from 'node:os';
import { Rng } from '../src/core/random.js';
import type { CsrMatrix } from '../src/graph/csr.js';
import { gcnNorm } from '../src/graph/gcn-norm.js';
import { MessageGraph } from '../src/graph/message-graph.js';
import { Tensor } from '../src/memory/tensor.js';
import { BondMessagePassing } from '../src/nn/dmpnn.js';
import { GATConv, GATv2Conv } from '../src/nn/gat-conv.js';
import { GINConv, GINEConv, ginMlp } from '../src/nn/gin-conv.js';
import type { Layer, PassContext } from '../src/nn/layer.js';
import { GCNConv } from '../src/nn/layers.js';
import { SAGEConv } from '../src/nn/sage-conv.js';
import type { Heap } from '../src/memory/heap.js';
import { Runtime } from '../src/runtime/runtime.js';
import { flag, measure, threadList } from './measure.js';

interface Shape {
  name: 'cora' | 'molecules';
  nodes: number;
  src: number[];
  dst: number[];
  inF: number;
  hidden: number;
  /** Edge features: bond features (molecules), random ones (cora). */
  edgeDim: number;
}

/**
 * Cora's size: 2708 nodes, 5278 undirected edges (10556 directed), 1433 features → 16. Cora has
 * no edge features: 8 random binary ones, so GINE and D-MPNN have a cora line as well.
 */
function coraShape(): Shape {
  const r = new Rng(1),
    n = 2708,
    src: number[] = [],
    dst: number[] = [];
  for (let e = 0; e < 5278; e++) {
    const a = Math.floor(r.next() * n),
      b = Math.floor(r.next() * n);
    src.push(a, b);
    dst.push(b, a);
  }
  return { name: 'cora', nodes: n, src, dst, inF: 1433, hidden: 16, edgeDim: 8 };
}

/**
 * A batch of 128 drug-like molecules: 24 heavy atoms each, a 6-ring, a 5-ring and chains
 * (26 bonds, both directions), Chemprop's 133 atom and 14 bond features, hidden 64 (300 for D-MPNN).
 */
function moleculeShape(): Shape {
  const src: number[] = [],
    dst: number[] = [],
    atoms = 24;
  const bond = (a: number, b: number): void => {
    src.push(a, b);
    dst.push(b, a);
  };
  for (let m = 0; m < 128; m++) {
    const o = m * atoms;
    for (let i = 0; i < 6; i++) bond(o + i, o + ((i + 1) % 6));
    for (let i = 0; i < 5; i++) bond(o + 6 + i, o + 6 + ((i + 1) % 5));
    bond(o + 2, o + 6);
    for (let i = 11; i < atoms; i++) bond(o + i - 1 - (i % 3 === 0 ? 3 : 0), o + i);
  }
  return { name: 'molecules', nodes: 128 * atoms, src, dst, inF: 133, hidden: 64, edgeDim: 14 };
}

type Maker = (heap: Heap, s: Shape, graphs: { msg: MessageGraph; loops: MessageGraph; gcn: CsrMatrix }) => Layer | null;

const LAYERS: Record<string, Maker> = {
  gcn: (h, s, g) => new GCNConv(h, 'gcn', s.inF, s.hidden, new Rng(1), () => ({ adj: g.gcn })),
  sage: (h, s, g) => new SAGEConv(h, 'sage', s.inF, s.hidden, new Rng(1), () => g.msg),
  gin: (h, s, g) => {
    const r = new Rng(1);
    return new GINConv(h, 'gin', ginMlp(h, 'gin', s.inF, s.hidden, s.hidden, r), () => g.msg, r, { trainEps: true });
  },
  gine: (h, s, g) => {
    if (!s.edgeDim) return null;
    const r = new Rng(1);
    return new GINEConv(h, 'gine', ginMlp(h, 'gine', s.inF, s.hidden, s.hidden, r), () => g.msg, r, {
      trainEps: true,
      edgeDim: s.edgeDim,
    });
  },
  gat: (h, s, g) => new GATConv(h, 'gat', s.inF, 8, new Rng(1), () => g.loops, { heads: 8, dropout: 0.6 }),
  gatv2: (h, s, g) => new GATv2Conv(h, 'gatv2', s.inF, 8, new Rng(1), () => g.loops, { heads: 8, dropout: 0.6 }),
  dmpnn: (h, s, g) =>
    s.edgeDim ? new BondMessagePassing(h, 'dmpnn', s.inF, s.edgeDim, 300, new Rng(1), () => g.msg) : null,
};

async function main(): Promise<void> {
  const shapes = [coraShape(), moleculeShape()].filter(
    (s) => !flag('shape') || flag('shape')!.split(',').includes(s.name),
  );
  const wanted = flag('layer')?.split(',') ?? Object.keys(LAYERS);
  for (const w of wanted)
    if (!(w in LAYERS))
      throw new Error(`--layer: ${JSON.stringify(w)} is not one of ${Object.keys(LAYERS).join(', ')}`);
  for (const threads of threadList(availableParallelism())) {
    const rt = await Runtime.create({ threads });
    for (const s of shapes) {
      const r = new Rng(2);
      const attr = s.edgeDim
        ? Float32Array.from({ length: s.src.length * s.edgeDim }, () => (r.next() < 0.2 ? 1 : 0))
        : undefined;
      const graphs = {
        msg: MessageGraph.fromEdges(
          rt.heap,
          s.nodes,
          s.src,
          s.dst,
          attr ? { edgeAttr: { data: attr, dim: s.edgeDim } } : {},
        ),
        loops: MessageGraph.fromEdges(rt.heap, s.nodes, s.src, s.dst, { selfLoops: 'replace' }),
        gcn: gcnNorm(rt.heap, s.nodes, s.src, s.dst),
      };
      // Sparse binary features, as bag-of-words (cora) and one-hot atom features are.
      const x = Tensor.from(
        rt.heap,
        'float32',
        [s.nodes, s.inF],
        Float32Array.from({ length: s.nodes * s.inF }, () => (r.next() < 0.02 ? 1 : 0)),
      );
      for (const name of wanted) {
        const layer = LAYERS[name]!(rt.heap, s, graphs);
        if (!layer) continue;
        const evalCtx: PassContext = { exec: rt.exec, training: false, seed: 1, step: 0 };
        let step = 0;
        const fwd = await measure(
          `${name} forward`,
          async () => {
            const y = await layer.forward(evalCtx, x);
            layer.release();
            y.free();
          },
          10,
        );
        let cpuUs = 0;
        const train = await measure(
          `${name} step`,
          async () => {
            const c0 = process.cpuUsage();
            const ctx: PassContext = { exec: rt.exec, training: true, seed: 1, step: step++ };
            const y = await layer.forward(ctx, x);
            const gx = await layer.backward(ctx, y, true); // y as its own gradient: any tensor of its shape will do
            gx?.free();
            y.free();
            const c = process.cpuUsage(c0);
            cpuUs += c.user + c.system;
          },
          10,
        );
        const out = (layer as { outFeatures?: number }).outFeatures ?? s.hidden;
        console.log(
          JSON.stringify({
            layer: name,
            shape: s.name,
            threads,
            nodes: s.nodes,
            edges: s.src.length,
            in: s.inF,
            out,
            forward_ms: +fwd.ms.toFixed(3),
            step_ms: +train.ms.toFixed(3),
            step_cpu_ms: +(cpuUs / 1000 / step).toFixed(3),
          }),
        );
        layer.dispose();
      }
      x.free();
      graphs.msg.free();
      graphs.loops.free();
      graphs.gcn.free();
    }
    await rt.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
