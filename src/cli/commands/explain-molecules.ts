import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import { moleculeSvg } from '../../chem/draw.js';
import { MORGAN_BITS, elementSymbol, featurizerName } from '../../chem/featurize.js';
import { motifAtoms, readMotifTask } from '../../chem/motif.js';
import { moleculeSplit } from '../../chem/train-molecules.js';
import { completenessRecord, fidelityByMethod, meanOf } from '../reports/explain-record.js';
import { ensureDir, writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import type { Baseline } from '../../explain/attribution.js';
import {
  type GraphModelSpec,
  type MoleculeMethod,
  explainMolecule,
  moleculeAttention,
  moleculeProbe,
} from '../../explain/molecules.js';
import { graphModelKind } from '../../nn/task-models.js';
import { reportedWeights } from '../../nn/load-weights.js';
import type { Runtime } from '../../runtime/runtime.js';
import type { GraphSample } from '../../graph/batch.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import type { GraphTrainConfig } from '../../train/graph-trainer.js';
import { rocAuc } from '../../train/multilabel-metrics.js';
import { graphRunTrainer, refuseDescriptorHybrid } from '../../chem/graph-run.js';
import { moleculeOutputs } from '../../chem/train-molecules.js';
import { Rng } from '../../core/random.js';
import { moleculeDescriptorShap } from '../../explain/molecule-shap.js';

// `graft explain` on a `graft train --task graph` run: atom and bond attributions for every
// label of the first test molecules, an SVG per molecule and label with atoms coloured by
// attribution (drawn by RDKit), the atom scores in a CSV; for a motif task (graft motif-task),
// how well each molecule's atom scores find the motif's atoms (ROC-AUC, as Sanchez-Lengeling
// et al. 2020 score attributions).

export interface MoleculeExplainArgs {
  run: string;
  out: string;
  methods: MoleculeMethod[];
  steps: number;
  baseline: Baseline;
  keep: number;
  labels: string[] | null;
  /** GAT and GATv2 runs: write each molecule's attention coefficients (--method attention). */
  attention: boolean;
  count: number;
  truth: string | null;
  /** KernelSHAP of the descriptors (hybrid runs): molecules, background molecules, coalitions, seed. */
  shap: { count: number; background: number; budget: number; seed: number } | null;
  log: (s: string) => void;
}

export async function explainMoleculeRun(rt: Runtime, a: MoleculeExplainArgs): Promise<Record<string, unknown>> {
  const cfgFile = join(a.run, 'config.json');
  const saved = JSON.parse(readFileSync(cfgFile, 'utf8')) as Record<string, unknown> &
    GraphTrainConfig & {
      data: string;
      smiles: string | null;
      type: 'multilabel' | 'regression';
      targets: string[];
      split: 'random' | 'scaffold';
      hybrid: boolean;
    };
  // The run's own model and features: the molecules are featurized as the run featurized them.
  const model = graphModelKind(saved),
    features = saved['atom_features'] ?? 'default';
  if (features !== 'default' && features !== 'chemprop')
    throw new GraftError(`${cfgFile}: atom_features ${JSON.stringify(features)} is not one graft knows`);
  // As graft eval, quantize and soup: a run featurized by another version would be explained on other features.
  const featurizer = featurizerName(features === 'chemprop' ? 'chemprop' : 'graft');
  if (typeof saved['featurizer'] === 'string' && saved['featurizer'] !== featurizer)
    throw new GraftError(
      `${cfgFile}: the run's molecules were featurized by ${saved['featurizer']}; this version of graft featurizes by ${featurizer}, so graft explain would feed its model other features: train the run again`,
    );
  if (a.attention && model !== 'gat' && model !== 'gatv2')
    throw new GraftError(
      `--method attention reads a GAT or GATv2 run's attention coefficients; this run's model is ${model} (${a.run})`,
    );
  if (a.methods.includes('gnnexplainer') && model !== 'gcn')
    throw new GraftError(
      `--method gnnexplainer learns soft bond masks, which only a GCN weights its bonds by; this run's model is ${model}: use --method ig, saliency or gxi${model === 'gat' || model === 'gatv2' ? ', or attention' : ''} (${a.run})`,
    );
  // Its explainers rebuild the dense branch's input from the Morgan bits: a descriptor hybrid is refused.
  refuseDescriptorHybrid(saved, cfgFile, 'graft explain');
  const cpFile = join(a.run, 'checkpoint.safetensors');
  if (!existsSync(cpFile)) throw new GraftError(`${a.run}: no checkpoint.safetensors: the run did not finish`);
  if (!existsSync(saved.data)) throw new GraftError(`${cfgFile}: the run's data file ${saved.data} is gone`);
  const ds = await loadMoleculeCsv(saved.data, {
    targets: saved.targets,
    task: saved.type,
    atomFeatures: features === 'chemprop' ? 'chemprop' : 'graft',
    ...(saved.smiles ? { smiles: saved.smiles } : {}),
  });
  const config: GraphTrainConfig = {
    task: saved.type,
    ...(saved.model !== undefined ? { model: saved.model } : {}),
    ...(saved.heads !== undefined ? { heads: saved.heads } : {}),
    ...(saved.edgeFeatures !== undefined ? { edgeFeatures: saved.edgeFeatures } : {}),
    layers: saved.layers,
    hidden: saved.hidden,
    dropout: saved.dropout,
    pool: saved.pool,
    lr: saved.lr,
    weightDecay: saved.weightDecay,
    epochs: saved.epochs,
    batchSize: saved.batchSize,
    shardSize: saved.shardSize,
    patience: saved.patience,
    seed: saved.seed,
    ...(saved.hybrid ? { hybrid: { descriptors: MORGAN_BITS, denseHidden: 64 } } : {}),
  };
  const spec = {
    config,
    features: ds.graphs[0]!.x.length / ds.graphs[0]!.atoms,
    targets: ds.targets.length,
    weights: reportedWeights(loadCheckpoint(cpFile), cpFile),
  };
  const { split, test } = moleculeSplit(ds, {
    split: saved.split,
    hybrid: saved.hybrid,
    config: { seed: config.seed },
  });
  const labels = (a.labels ?? ds.targets).map((l) => {
    const t = ds.targets.indexOf(l);
    if (t < 0) throw new GraftError(`--target ${l}: not a label of this run (its labels: ${ds.targets.join(', ')})`);
    return t;
  });
  if (a.shap && !saved.hybrid)
    throw new GraftError(
      `--method kernelshap explains the descriptors of a hybrid graph run (graft train --task graph --hybrid); ${a.run} has no descriptor branch`,
    );
  const shapResults = a.shap
    ? await descriptorShap(rt, a, a.shap, {
        ds,
        task: saved.type,
        cpFile,
        test: test.slice(0, a.shap.count),
        testIds: split.test.slice(0, a.shap.count),
        train: split.train,
        labels: a.labels ? labels : [0],
      })
    : [];
  const motif = a.truth ? (JSON.parse(readFileSync(a.truth, 'utf8')) as { smarts: string }) : readMotifTask(saved.data);
  if (motif) a.log(`ground truth: the motif ${motif.smarts} (atoms matched by RDKit)`);
  const picked = a.methods.length > 0 || a.attention ? test.slice(0, a.count) : [];
  const ids = split.test.slice(0, a.count);
  if (picked.length > 0) ensureDir(join(a.out, 'molecules'));
  const csv = ['molecule,line,smiles,label,method,atom,element,score,in_motif'];
  // A GCN's bond scores are through the bond's weight in Â; a GINE's or D-MPNN's through its features.
  const bondsBy = model === 'gcn' ? 'weight' : 'features';
  const bondCsv = ['molecule,line,smiles,label,method,bond,begin,end,begin_element,end_element,attributed,score'];
  const attentionCsv = ['molecule,line,smiles,layer,src,dst,bond,alpha'];
  const results: Record<string, unknown>[] = [...shapResults];
  const aurocs = new Map<string, number[]>();
  const times: Record<string, number[]> = {};
  for (let k = 0; k < picked.length; k++) {
    const g = picked[k]!,
      i = ids[k]!,
      smiles = ds.smiles[i]!;
    const truthAtoms = motif ? await motifAtoms(smiles, motif.smarts) : null;
    const element = (atom: number): string => elementSymbol(ds.graphs[i]!.z[atom]!);
    if (a.attention) results.push(await attentionOfMolecule(rt, a, spec, g, k + 1, ds.lines[i]!, smiles, attentionCsv));
    const probe = moleculeProbe(rt, spec, g);
    try {
      for (const t of labels) {
        for (const method of a.methods) {
          const t0 = performance.now();
          const ex = await explainMolecule(probe, spec, g, t, method, {
            steps: a.steps,
            baseline: a.baseline,
            keep: a.keep,
          });
          times[method] ??= [];
          times[method].push(performance.now() - t0);
          const label = ds.targets[t]!;
          let auroc: number | undefined;
          if (truthAtoms?.some((x) => x === 1) && truthAtoms.some((x) => x === 0)) {
            auroc = rocAuc(truthAtoms, ex.atoms);
            if (!aurocs.has(method)) aurocs.set(method, []);
            aurocs.get(method)!.push(auroc);
          }
          const file = `molecules/${k + 1}-${label.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${method}.svg`;
          writeFileAtomic(
            join(a.out, file),
            await moleculeSvg(smiles, ex.atoms, {
              title: `${label} (${method}): output ${ex.value.toFixed(3)}`,
              ...(ex.bonds ? { bondScores: ex.bonds } : {}),
            }),
          );
          ex.bonds?.forEach((s, b) => {
            const u = g.src[b]!,
              v = g.dst[b]!;
            bondCsv.push(
              [
                k + 1,
                ds.lines[i],
                JSON.stringify(smiles),
                JSON.stringify(label),
                method,
                b,
                u,
                v,
                element(u),
                element(v),
                bondsBy,
                s.toPrecision(4),
              ].join(','),
            );
          });
          ex.atoms.forEach((s, atom) => {
            csv.push(
              [
                k + 1,
                ds.lines[i],
                JSON.stringify(smiles),
                JSON.stringify(label),
                method,
                atom,
                element(atom),
                s.toPrecision(4),
                truthAtoms ? truthAtoms[atom] : '',
              ].join(','),
            );
          });
          results.push({
            target: label,
            molecule: k + 1,
            line: ds.lines[i],
            smiles,
            method,
            value: ex.value,
            ...completenessRecord(ex.completeness),
            ...(ex.steps ? { steps: ex.steps } : {}),
            fidelity: ex.fidelity,
            passes: ex.passes,
            ...(auroc !== undefined ? { auroc } : {}),
            file,
          });
        }
      }
    } finally {
      probe.dispose();
    }
  }
  if (picked.length > 0 && a.methods.length > 0) writeFileAtomic(join(a.out, 'atoms.csv'), `${csv.join('\n')}\n`);
  if (bondCsv.length > 1) writeFileAtomic(join(a.out, 'bonds.csv'), `${bondCsv.join('\n')}\n`);
  if (a.attention && picked.length > 0) writeFileAtomic(join(a.out, 'attention.csv'), `${attentionCsv.join('\n')}\n`);
  const auroc = motif
    ? Object.fromEntries([...aurocs].map(([m, v]) => [m, { mean: meanOf(v), molecules: v.length }]))
    : null;
  if (auroc)
    for (const [m, v] of Object.entries(auroc))
      a.log(
        `motif atoms found by ${m}: mean ROC-AUC ${v.mean.toFixed(3)} over ${v.molecules} molecule/label explanations with the motif`,
      );
  return {
    kind: 'graph',
    molecules: picked.length,
    labels: labels.map((t) => ds.targets[t]),
    motif: motif?.smarts ?? null,
    explanations: results,
    auroc,
    fidelity: fidelityByMethod(results, a.methods, a.keep),
    ms_per_explanation: Object.fromEntries(Object.entries(times).map(([m, v]) => [m, meanOf(v)])),
  };
}

/**
 * A GAT or GATv2 run's attention on one molecule: its rows in attention.csv (per layer, every
 * directed edge with the head-mean α, self loops as bond −1) and a drawing with each bond
 * coloured by the α it carries (both directions, every layer).
 */
async function attentionOfMolecule(
  rt: Runtime,
  a: MoleculeExplainArgs,
  spec: GraphModelSpec,
  g: GraphSample,
  molecule: number,
  line: number,
  smiles: string,
  rows: string[],
): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const att = await moleculeAttention(rt, spec, g);
  att.layers.forEach((l, layer) => {
    for (let k = 0; k < l.alpha.length; k++)
      rows.push(
        [molecule, line, JSON.stringify(smiles), layer, l.src[k], l.dst[k], l.bond[k], l.alpha[k]!.toPrecision(6)].join(
          ',',
        ),
      );
  });
  const file = `molecules/${molecule}-attention.svg`;
  writeFileAtomic(
    join(a.out, file),
    await moleculeSvg(smiles, new Float32Array(g.nodes), {
      title: `attention over ${att.layers.length} layers (head mean, both directions)`,
      bondScores: att.bonds,
    }),
  );
  return {
    molecule,
    line,
    smiles,
    method: 'attention',
    layers: att.layers.length,
    bonds: Array.from(att.bonds),
    ms: performance.now() - t0,
    file,
  };
}

/**
 * KernelSHAP of a hybrid run's descriptors (Morgan bits) for the first test molecules, each
 * molecule's graph held fixed and its descriptors masked toward background training molecules'
 * (molecule-shap.ts); the output is the label's probability (multi-label) or value, as in
 * predictions.csv. Writes shap.csv (or shap-LABEL.csv) and a beeswarm of the top descriptors.
 */
async function descriptorShap(
  rt: Runtime,
  a: MoleculeExplainArgs,
  o: NonNullable<MoleculeExplainArgs['shap']>,
  r: {
    ds: Awaited<ReturnType<typeof loadMoleculeCsv>>;
    task: GraphTrainConfig['task'];
    cpFile: string;
    test: GraphSample[];
    testIds: number[];
    train: number[];
    labels: number[];
  },
): Promise<Record<string, unknown>[]> {
  const { ds } = r;
  const T = ds.targets.length;
  const bgIds = new Rng(o.seed)
    .shuffle([...r.train])
    .slice(0, Math.min(r.train.length, o.background))
    .sort((x, y) => x - y);
  const background = bgIds.map((i) => ds.graphs[i]!.morgan);
  const trainer = graphRunTrainer(rt, loadCheckpoint(r.cpFile), r.cpFile, T);
  const results: Record<string, unknown>[] = [];
  try {
    const score = (gs: readonly GraphSample[]): Promise<Float32Array> => moleculeOutputs(trainer, r.task, gs);
    const d = MORGAN_BITS;
    for (const t of r.labels) {
      const label = ds.targets[t]!;
      const safe = label.replace(/[^A-Za-z0-9_.-]+/g, '_');
      a.log(
        `${label}: KernelSHAP of the ${d} descriptor bits (graph held fixed) for ${r.test.length} test molecules: ${background.length} background molecules, up to ${o.budget} coalitions (${o.budget * background.length} graph copies per molecule)`,
      );
      const t0 = performance.now();
      const rows: {
        values: Float64Array;
        base: number;
        prediction: number;
        active: number;
        coalitions: number;
        exact: boolean;
      }[] = [];
      for (let k = 0; k < r.test.length; k++) {
        const g = r.test[k]!;
        const s = await moleculeDescriptorShap(score, g, {
          background,
          output: t,
          outputs: T,
          budget: o.budget,
          seed: o.seed,
        }).catch((err: unknown) => {
          if (err instanceof Error && /budget/.test(err.message))
            throw new GraftError(
              `--budget ${o.budget}: too few coalitions for molecule ${k + 1} (line ${ds.lines[r.testIds[k]!]}), whose descriptors differ from the background in more bits than that pins down: raise --budget`,
            );
          throw err;
        });
        rows.push({ ...s, active: s.active.length });
      }
      const seconds = (performance.now() - t0) / 1000;
      const worst = Math.max(...rows.map((s) => Math.abs(s.base + s.values.reduce((p, v) => p + v, 0) - s.prediction)));
      const n = rows.length;
      const meanAbs = Float64Array.from(
        { length: d },
        (_, j) => rows.reduce((p, s) => p + Math.abs(s.values[j]!), 0) / n,
      );
      const order = [...meanAbs.keys()].sort((x, y) => meanAbs[y]! - meanAbs[x]! || x - y);
      const name = (j: number): string => `morgan_${j}`;
      const lines = [['id', ...Array.from({ length: d }, (_, j) => name(j)), 'base_value', 'prediction'].join(',')];
      rows.forEach((s, k) => {
        lines.push(
          [ds.lines[r.testIds[k]!], ...Array.from(s.values, String), String(s.base), String(s.prediction)].join(','),
        );
      });
      const one = r.labels.length === 1;
      const csv = one ? 'shap.csv' : `shap-${safe}.csv`,
        svg = one ? 'shap-summary.svg' : `shap-summary-${safe}.svg`;
      writeFileAtomic(join(a.out, csv), `${lines.join('\n')}\n`);
      const shown = order.filter((j) => meanAbs[j]! > 0).slice(0, 20);
      const { writeChart, beeswarmSpec } = await import('../reports/charts/index.js'); // vega, loaded only to draw
      writeChart(
        join(a.out, svg),
        beeswarmSpec(
          `${label}: KernelSHAP of the descriptor bits, top ${shown.length}`,
          `SHAP value (effect on the ${r.task === 'multilabel' ? 'probability' : 'predicted value'} of ${label})`,
          shown.map((j) => ({
            name: name(j),
            phi: Float64Array.from(rows, (s) => s.values[j]!),
            value: Float64Array.from(r.test, (g) => g.descriptors![j]!),
          })),
        ),
      );
      results.push({
        target: label,
        method: 'kernelshap',
        output: r.task === 'multilabel' ? 'probability' : 'value',
        features: 'descriptors',
        molecules: n,
        lines: r.testIds.map((i) => ds.lines[i]),
        background: bgIds.map((i) => ds.lines[i]),
        budget: o.budget,
        coalitions: rows.map((s) => s.coalitions),
        active_descriptors: rows.map((s) => s.active),
        exact: rows.every((s) => s.exact),
        seed: o.seed,
        additivity_max_error: worst,
        top_features: shown.slice(0, 10).map((j) => ({ feature: name(j), mean_abs_shap: meanAbs[j] })),
        explain_s: seconds,
        files: { shap: csv, summary: svg },
      });
    }
  } finally {
    trainer.dispose();
  }
  return results;
}
