import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { featurizeColumn, loadMoleculeCsv, type MoleculeDataset } from '../../chem/dataset.js';
import type { MolGraph } from '../../chem/featurize.js';
import {
  graphRunTrainer,
  loadTrainFingerprints,
  predictionsCsv,
  runDenseInputs,
  runDenseRows,
  runFeatureSet,
  runThresholds,
  scoreMolecules,
  type GraphRunConfig,
  type PredictionRow,
} from '../../chem/graph-run.js';
import { fingerprintOf, FingerprintSet, packedFingerprints } from '../../chem/similarity.js';
import { moleculeOutputs, moleculeSplit } from '../../chem/train-molecules.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import { checkInputs } from '../../core/input-files.js';
import { DataError, parseTable, readText } from '../../data/csv.js';
import { Runtime } from '../../runtime/runtime.js';
import { stackTargets } from '../../graph/batch.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import type { GraphTrainer } from '../../train/graph-trainer.js';
import { chooseThresholds } from '../../train/multilabel-metrics.js';
import { joinNegativeValues, num } from '../args.js';
import { readRunJson } from '../run-kind.js';

// graft predict on a graph run: the run's model on new molecules (a CSV with a SMILES
// column), one output row per input row in input order, as Chemprop's predict; or, without
// --data, on the run's own test split (what its predictions.csv holds, to the bit).

export const PREDICT_GRAPH_USAGE = `  graft predict --run GRAPH_RUN [--data FILE.csv] [--smiles COLUMN] [--out FILE] [--threads N] [--no-cache]
              [--atom-features default|chemprop]
              (no --data: the run's own test split, checked unchanged against the SHA-256 the run recorded;
               molecules are featurized as the run's were: --atom-features, if given, must name the run's)`;

export async function predictGraphRun(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      run: { type: 'string' },
      data: { type: 'string' },
      smiles: { type: 'string' },
      'atom-features': { type: 'string' },
      out: { type: 'string' },
      threads: { type: 'string' },
      'no-cache': { type: 'boolean' },
    },
  });
  const dir = resolve(v.run!);
  const cfgFile = join(dir, 'config.json');
  const cfg = readRunJson<GraphRunConfig>(cfgFile);
  if (
    !Array.isArray(cfg.targets) ||
    typeof cfg.data !== 'string' ||
    (cfg.type !== 'multilabel' && cfg.type !== 'regression')
  )
    throw new GraftError(`${cfgFile}: damaged (no data, targets or type of a graph run)`);
  // New molecules are featurized as the run's were; a different --atom-features is refused, not used.
  const featureSet = runFeatureSet(cfg, cfgFile);
  // A hybrid's dense inputs as training built them (descriptors scaled by the run's training split).
  const dense = runDenseInputs(cfg, cfgFile);
  const runFeatures = featureSet === 'chemprop' ? 'chemprop' : 'default';
  const asked = v['atom-features'];
  if (asked !== undefined && asked !== runFeatures)
    throw new GraftError(
      `--atom-features ${asked}: the run's model was trained on --atom-features ${runFeatures} (${cfgFile}); graft predict featurizes as the run did`,
    );
  if (v.smiles !== undefined && v.data === undefined)
    throw new GraftError(
      "--smiles names a column of --data FILE.csv; without --data, graft predict scores the run's own test split",
    );
  const threads = num(v.threads, '--threads', true);
  if (threads !== undefined && threads < 1) throw new GraftError(`--threads must be at least 1, got ${threads}`);
  const cacheDir = v['no-cache'] ? null : undefined;
  const ownData = v.data === undefined || resolve(v.data) === resolve(cfg.data);
  const purpose = "graft predict on the run's own data";
  if (ownData) {
    if (cfg.inputs) await checkInputs(cfg.inputs, cfgFile, purpose);
    else
      console.error(
        `graft predict: warning: ${cfgFile} records no SHA-256 of the run's data file (a run from an older graft): ${cfg.data} is not checked unchanged`,
      );
  }
  // The run's own data set, read at most once: for the test split, or for what older runs did not keep.
  let runData: MoleculeDataset | undefined;
  const ownDataset = async (): Promise<MoleculeDataset> => {
    runData ??= await loadMoleculeCsv(cfg.data, {
      targets: cfg.targets,
      task: cfg.type,
      cacheDir,
      atomFeatures: featureSet,
      ...(cfg.smiles ? { smiles: cfg.smiles } : {}),
    });
    return runData;
  };

  // The molecules to score, with their output rows.
  let items: { row: number; smiles: string; graph: MolGraph | null; error: string }[];
  let source: string;
  if (v.data === undefined) {
    const ds = await ownDataset();
    const { split } = moleculeSplit(ds, { split: cfg.split, hybrid: cfg.hybrid, config: { seed: cfg.seed } });
    items = split.test.map((i) => ({ row: ds.rows[i]! + 1, smiles: ds.smiles[i]!, graph: ds.graphs[i]!, error: '' }));
    source = `${cfg.data} (the run's test split)`;
  } else {
    const text = readText(v.data);
    const t = parseTable(v.data, text);
    const col =
      v.smiles ??
      (cfg.smiles && t.header.includes(cfg.smiles) ? cfg.smiles : t.header.find((h) => h.toLowerCase() === 'smiles'));
    const si = col === undefined ? -1 : t.header.indexOf(col);
    if (si < 0)
      throw new DataError(
        v.data,
        1,
        `no SMILES column${v.smiles ? ` '${v.smiles}'` : " (none named 'smiles'; name it with --smiles)"}; the columns are ${t.header.map((h) => `'${h}'`).join(', ')}`,
      );
    if (t.rows.length === 0) throw new DataError(v.data, 0, 'no rows after the header');
    const { graphs } = await featurizeColumn(text, t, si, cacheDir, featureSet);
    items = t.rows.map((r, k) => {
      const smiles = r[si]!;
      const error = graphs[k] ? '' : smiles.trim() === '' ? 'empty SMILES' : 'invalid SMILES: RDKit cannot parse it';
      return { row: k + 1, smiles, graph: graphs[k] ?? null, error };
    });
    source = v.data;
  }

  const rt = await Runtime.create(threads === undefined ? {} : { threads });
  const ckFile = join(dir, 'checkpoint.safetensors');
  let trainer: GraphTrainer | undefined;
  try {
    trainer = graphRunTrainer(rt, loadCheckpoint(ckFile), ckFile, cfg.targets.length, dense);
    let thresholds = runThresholds(cfg, cfgFile);
    let reference = loadTrainFingerprints(dir);
    if ((cfg.type === 'multilabel' && !thresholds) || !reference) {
      // A run from before predictions.csv: its thresholds (chosen on the validation split as
      // training does) and training fingerprints from its data file and seeded split.
      if (!ownData && cfg.inputs)
        await checkInputs(
          cfg.inputs,
          cfgFile,
          'graft predict (the thresholds and training fingerprints this run did not keep)',
        );
      const ds = await ownDataset();
      const valRows = dense ? await runDenseRows(dense, ds.graphs, ds.smiles) : undefined;
      const { split, val } = moleculeSplit(
        ds,
        { split: cfg.split, hybrid: cfg.hybrid, config: { seed: cfg.seed } },
        valRows && ((i) => valRows[i]!),
      );
      if (cfg.type === 'multilabel' && !thresholds)
        thresholds = chooseThresholds(
          stackTargets(val, cfg.targets.length),
          await moleculeOutputs(trainer, cfg.type, val),
          cfg.targets.length,
        );
      reference ??= new FingerprintSet(
        await packedFingerprints(split.train.map((i) => ({ graph: ds.graphs[i]!, smiles: ds.smiles[i]! }))),
      );
      console.error(
        `graft predict: ${cfgFile} predates stored thresholds and training fingerprints: taken from ${cfg.data} and the run's seeded split`,
      );
    }
    const scored = items.filter((it) => it.graph !== null);
    const graphs = scored.map((it) => it.graph!);
    const denseRows = dense
      ? await runDenseRows(
          dense,
          graphs,
          scored.map((it) => it.smiles),
        )
      : undefined;
    const outputs = await scoreMolecules(trainer, cfg.type, graphs, denseRows);
    const T = cfg.targets.length;
    const rows: PredictionRow[] = [];
    let k = 0;
    for (const it of items) {
      if (!it.graph) {
        rows.push({ row: it.row, smiles: it.smiles, outputs: null, maxSimilarity: null, error: it.error });
        continue;
      }
      const fp = await fingerprintOf(it.graph, it.smiles);
      rows.push({
        row: it.row,
        smiles: it.smiles,
        outputs: outputs.subarray(k * T, (k + 1) * T),
        maxSimilarity: fp ? reference.maxSimilarity(fp) : null,
        error: '',
      });
      k++;
    }
    const out = resolve(
      v.out ??
        join(
          dir,
          v.data === undefined
            ? 'predictions-test.csv'
            : `predictions-${basename(v.data).replace(/\.csv(\.gz)?$|\.tsv$/i, '')}.csv`,
        ),
    );
    writeFileAtomic(out, predictionsCsv(cfg.targets, cfg.type, thresholds, rows));
    const bad = items.filter((it) => it.graph === null);
    if (bad.length)
      console.error(
        `graft predict: ${bad.length} of ${items.length} molecules not scored (invalid or empty SMILES; rows ${bad
          .slice(0, 5)
          .map((b) => b.row)
          .join(', ')}${bad.length > 5 ? ', …' : ''}): their predictions are empty and the error column says why`,
      );
    console.log(
      JSON.stringify({
        predictions: out,
        data: source,
        molecules: items.length,
        scored: scored.length,
        invalid: bad.length,
      }),
    );
  } finally {
    trainer?.dispose();
    await rt.close();
  }
}
