import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadMoleculeCsv } from '../../chem/dataset.js';
import { moleculeSvg } from '../../chem/draw.js';
import { MORGAN_BITS, elementSymbol } from '../../chem/featurize.js';
import { motifAtoms, readMotifTask } from '../../chem/motif.js';
import { moleculeSplit } from '../../chem/train-molecules.js';
import { completenessRecord, fidelityByMethod, meanOf } from '../reports/explain-record.js';
import { ensureDir, writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import type { Baseline } from '../../explain/attribution.js';
import { type MoleculeMethod, explainMolecule, moleculeProbe } from '../../explain/molecules.js';
import { reportedWeights } from '../../nn/load-weights.js';
import type { Runtime } from '../../runtime/runtime.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import type { GraphTrainConfig } from '../../train/graph-trainer.js';
import { rocAuc } from '../../train/multilabel-metrics.js';

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
  count: number;
  truth: string | null;
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
  const cpFile = join(a.run, 'checkpoint.safetensors');
  if (!existsSync(cpFile)) throw new GraftError(`${a.run}: no checkpoint.safetensors: the run did not finish`);
  if (!existsSync(saved.data)) throw new GraftError(`${cfgFile}: the run's data file ${saved.data} is gone`);
  const ds = await loadMoleculeCsv(saved.data, {
    targets: saved.targets,
    task: saved.type,
    ...(saved.smiles ? { smiles: saved.smiles } : {}),
  });
  const config: GraphTrainConfig = {
    task: saved.type,
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
  const motif = a.truth ? (JSON.parse(readFileSync(a.truth, 'utf8')) as { smarts: string }) : readMotifTask(saved.data);
  if (motif) a.log(`ground truth: the motif ${motif.smarts} (atoms matched by RDKit)`);
  const picked = test.slice(0, a.count);
  const ids = split.test.slice(0, a.count);
  ensureDir(join(a.out, 'molecules'));
  const csv = ['molecule,line,smiles,label,method,atom,element,score,in_motif'];
  const results: Record<string, unknown>[] = [];
  const aurocs = new Map<string, number[]>();
  const times: Record<string, number[]> = {};
  for (let k = 0; k < picked.length; k++) {
    const g = picked[k]!,
      i = ids[k]!,
      smiles = ds.smiles[i]!;
    const truthAtoms = motif ? await motifAtoms(smiles, motif.smarts) : null;
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
            await moleculeSvg(smiles, ex.atoms, { title: `${label} (${method}): output ${ex.value.toFixed(3)}` }),
          );
          ex.atoms.forEach((s, atom) => {
            csv.push(
              [
                k + 1,
                ds.lines[i],
                JSON.stringify(smiles),
                JSON.stringify(label),
                method,
                atom,
                elementSymbol(ds.graphs[i]!.z[atom]!),
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
  writeFileAtomic(join(a.out, 'atoms.csv'), `${csv.join('\n')}\n`);
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
