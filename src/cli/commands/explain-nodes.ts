import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { completenessRecord, fidelityByMethod, meanOf } from '../reports/explain-record.js';
import { ensureDir, writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { type DataChoice, loadData } from '../../store/node-task.js';
import type { Baseline } from '../../explain/attribution.js';
import { type NodeMethod, explainNode, fullGraph } from '../../explain/nodes.js';
import { nodeModelKind } from '../../nn/node-models.js';
import { reportedWeights } from '../../nn/load-weights.js';
import type { Runtime } from '../../runtime/runtime.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import type { NodeTrainConfig } from '../../train/node-trainer.js';

// `graft explain` on a `graft train` (node task) run: for each of the first test nodes, the
// edges and features of its neighbourhood that drive its predicted class (or --target's). GAT
// and GATv2 runs also offer their attention (--method attention: attention.csv, per layer).

export interface NodeExplainArgs {
  run: string;
  out: string;
  methods: NodeMethod[];
  steps: number;
  baseline: Baseline;
  keep: number;
  target: string | null;
  count: number;
  top: number;
  log: (s: string) => void;
}

export async function explainNodeRun(rt: Runtime, a: NodeExplainArgs): Promise<Record<string, unknown>> {
  const { writeChart, egoSpec } = await import('../reports/charts/index.js'); // vega, loaded only to draw
  const cfgFile = join(a.run, 'config.json');
  const saved = JSON.parse(readFileSync(cfgFile, 'utf8')) as DataChoice & NodeTrainConfig & { class_names?: string[] };
  const kind = nodeModelKind(saved);
  // GNNExplainer's soft edge masks need layers that weight their edges (the GCN's); attention needs attention.
  if (a.methods.includes('gnnexplainer') && kind !== 'gcn')
    throw new GraftError(
      `--method gnnexplainer explains GCN runs (its soft edge masks weight Â); this run's model is ${kind} (${a.run}): use ig, saliency or gxi${kind === 'gat' || kind === 'gatv2' ? ', or attention' : ''}`,
    );
  if (a.methods.includes('attention') && kind !== 'gat' && kind !== 'gatv2')
    throw new GraftError(
      `--method attention reads a GAT or GATv2 run's attention; this run's model is ${kind} (${a.run})`,
    );
  const cpFile = join(a.run, 'checkpoint.safetensors');
  if (!existsSync(cpFile)) throw new GraftError(`${a.run}: no checkpoint.safetensors: the run did not finish`);
  const config: NodeTrainConfig = {
    layers: saved.layers,
    hidden: saved.hidden,
    dropout: saved.dropout,
    lr: saved.lr,
    weightDecay: saved.weightDecay,
    weightDecayScope: saved.weightDecayScope,
    epochs: saved.epochs,
    patience: saved.patience,
    seed: saved.seed,
    restoreBest: saved.restoreBest,
    featureFormat: saved.featureFormat,
    ...(saved.model ? { model: saved.model } : {}),
    ...(saved.heads ? { heads: saved.heads } : {}),
  };
  const ds = loadData(
    {
      dataset: saved.dataset,
      ...(saved.edges ? { edges: saved.edges, features: saved.features!, labels: saved.labels! } : {}),
      ...(saved.dataDir ? { dataDir: saved.dataDir } : {}),
      normalize: saved.normalize,
    },
    config.seed,
  );
  const spec = { config, weights: reportedWeights(loadCheckpoint(cpFile), cpFile) };
  let target: number | undefined;
  if (a.target !== null) {
    const byName = ds.classNames?.indexOf(a.target) ?? -1;
    target = byName >= 0 ? byName : Number(a.target);
    if (!Number.isInteger(target) || target < 0 || target >= ds.numClasses)
      throw new GraftError(
        `--target ${a.target}: not a class of this run (classes 0..${ds.numClasses - 1}${ds.classNames ? `: ${ds.classNames.join(', ')}` : ''})`,
      );
  }
  const full = fullGraph(ds, kind);
  const nodes = Array.from(ds.split.test.slice(0, a.count));
  ensureDir(join(a.out, 'nodes'));
  const edgeCsv = ['node,method,target,rank,src,dst,score'],
    featCsv = ['node,method,target,rank,feature,score'],
    attentionCsv = ['node,layer,src,dst,alpha'];
  const results: Record<string, unknown>[] = [];
  const F = ds.numFeatures;
  const times: Record<string, number[]> = {};
  for (const v of nodes) {
    for (const method of a.methods) {
      const t0 = performance.now();
      const { explanation: ex, nb } = await explainNode(rt, ds, spec, full, v, method, {
        ...(target !== undefined ? { target } : {}),
        steps: a.steps,
        baseline: a.baseline,
        keep: a.keep,
      });
      times[method] ??= [];
      times[method].push(performance.now() - t0);
      const id = ds.ids[v]!;
      const E = nb.src.length;
      const eOrder = Array.from({ length: E }, (_, e) => e).sort(
        (x, y) => Math.abs(ex.edges[y]!) - Math.abs(ex.edges[x]!) || x - y,
      );
      const topEdges = eOrder.slice(0, a.top).map((e) => ({
        src: ds.ids[nb.nodes[nb.src[e]!]!]!,
        dst: ds.ids[nb.nodes[nb.dst[e]!]!]!,
        score: ex.edges[e]!,
      }));
      // A feature's score: its attributions summed over the neighbourhood's nodes.
      const perFeature = new Float64Array(F);
      for (let i = 0; i < nb.nodes.length; i++) for (let j = 0; j < F; j++) perFeature[j]! += ex.features[i * F + j]!;
      const fOrder = Array.from({ length: F }, (_, j) => j)
        .filter((j) => perFeature[j] !== 0)
        .sort((x, y) => Math.abs(perFeature[y]!) - Math.abs(perFeature[x]!) || x - y);
      const topFeatures = fOrder.slice(0, a.top).map((j) => ({ feature: j, score: perFeature[j]! }));
      topEdges.forEach((e, r) => {
        edgeCsv.push(
          [
            JSON.stringify(id),
            method,
            ex.target,
            r + 1,
            JSON.stringify(e.src),
            JSON.stringify(e.dst),
            e.score.toPrecision(4),
          ].join(','),
        );
      });
      topFeatures.forEach((f, r) => {
        featCsv.push([JSON.stringify(id), method, ex.target, r + 1, f.feature, f.score.toPrecision(4)].join(','));
      });
      for (const w of ex.attention ?? [])
        attentionCsv.push(
          [
            JSON.stringify(id),
            w.layer,
            JSON.stringify(ds.ids[nb.nodes[w.src]!]!),
            JSON.stringify(ds.ids[nb.nodes[w.dst]!]!),
            w.alpha.toPrecision(6),
          ].join(','),
        );
      const file = `nodes/${id.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${method}.svg`;
      writeChart(
        join(a.out, file),
        egoSpec({
          title: `node ${id}: class ${ds.classNames?.[ex.target] ?? ex.target} (${method})`,
          hops: nb.hops,
          classes: Array.from(nb.nodes, (u) => ds.labels[u]!),
          names: Array.from(nb.nodes, (u) => ds.ids[u]!),
          src: nb.src,
          dst: nb.dst,
          edgeScores: ex.edges,
          top: a.top,
          ...(method === 'gnnexplainer' ? { scoreNote: 'GNNExplainer edge mask, 0 to 1' } : {}),
          ...(method === 'attention' ? { scoreNote: 'attention (head mean) summed over layers and directions' } : {}),
        }),
      );
      results.push({
        target: ex.target,
        ...(ds.classNames ? { target_name: ds.classNames[ex.target] } : {}),
        node: id,
        method,
        value: ex.value,
        neighbourhood: { nodes: nb.nodes.length, edges: E },
        ...completenessRecord(ex.completeness),
        ...(ex.steps ? { steps: ex.steps } : {}),
        fidelity: ex.fidelity,
        passes: ex.passes,
        top_edges: topEdges,
        top_features: topFeatures,
        file,
      });
    }
  }
  writeFileAtomic(join(a.out, 'edges.csv'), `${edgeCsv.join('\n')}\n`);
  writeFileAtomic(join(a.out, 'features.csv'), `${featCsv.join('\n')}\n`);
  if (a.methods.includes('attention')) writeFileAtomic(join(a.out, 'attention.csv'), `${attentionCsv.join('\n')}\n`);
  return {
    kind: 'node',
    dataset: ds.name,
    nodes: nodes.length,
    explanations: results,
    auroc: null,
    fidelity: fidelityByMethod(results, a.methods, a.keep),
    ms_per_explanation: Object.fromEntries(Object.entries(times).map(([m, v]) => [m, meanOf(v)])),
  };
}
