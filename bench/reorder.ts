// npm run bench:reorder [-- --threads 1,2] [--nodes 169343]
// SpMM Â·X on the arxiv-size workload graph in its generated order and in reverse
// Cuthill–McKee order: whether reordering pays on this machine. One JSON line per case:
//   {"kernel":"spmmCsr","order","bandwidth","threads","cols","ms"}
import { availableParallelism } from 'node:os';
import { CsrMatrix } from '../src/graph/csr.js';
import { bandwidth, csrEdges, csrInOrder, reverseCuthillMcKee } from '../src/graph/reorder.js';
import { spmm } from '../src/ops/sparse.js';
import { Runtime } from '../src/runtime/runtime.js';
import { Tensor } from '../src/memory/tensor.js';
import { Rng } from '../src/core/random.js';
import { workloadGraph } from '../src/bench/graph.js';
import { flag, measure, threadList } from './measure.js';

async function main(): Promise<void> {
  const nodes = Number(flag('nodes') ?? 169_343);
  if (!Number.isInteger(nodes) || nodes < 1) throw new Error(`--nodes: ${flag('nodes')} is not a positive integer`);
  const g = workloadGraph(nodes, 7, new Rng(1));
  const { src, dst } = csrEdges(g.rowPtr, g.colIdx);
  const t0 = performance.now();
  const o = reverseCuthillMcKee(nodes, src, dst);
  const rcmMs = performance.now() - t0;
  console.log(JSON.stringify({ step: 'reverseCuthillMcKee', nodes, edges: src.length, ms: +rcmMs.toFixed(1) }));
  const cases = [
    { name: 'generated', m: g, bw: bandwidth(src, dst) },
    { name: 'rcm', m: csrInOrder(g, o), bw: bandwidth(src, dst, o.rank) },
  ];
  for (const threads of threadList(availableParallelism())) {
    const rt = await Runtime.create({ threads });
    for (const cols of [64, 256]) {
      const x = Tensor.empty(rt.heap, 'float32', [nodes, cols]);
      x.data().fill(1);
      const y = Tensor.empty(rt.heap, 'float32', [nodes, cols]);
      for (const { name, m, bw } of cases) {
        const adj = CsrMatrix.fromArrays(rt.heap, nodes, nodes, m.rowPtr, m.colIdx, m.vals);
        const t = await measure('spmm', () => spmm(rt.exec, adj, x, y), 5);
        console.log(
          JSON.stringify({ kernel: 'spmmCsr', order: name, bandwidth: bw, threads, cols, ms: +t.ms.toFixed(3) }),
        );
        adj.free();
      }
      x.free();
      y.free();
    }
    await rt.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
