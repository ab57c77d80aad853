import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { GraftError } from '../../core/errors.js';
import { reportedWeights } from '../../nn/load-weights.js';
import { Runtime } from '../../runtime/runtime.js';
import { storeFingerprint } from '../../store/fingerprint.js';
import { GraphStore } from '../../store/format.js';
import { loadCheckpoint } from '../../train/checkpoint.js';
import { accuracy, classificationReport } from '../../train/metrics.js';
import { predictSampled } from '../../train/sampled-predict.js';
import type { SampledTrainConfig } from '../../train/sampled-trainer.js';
import { choice, joinNegativeValues, num } from '../args.js';
import { writePredictions } from '../node-predictions.js';
import { readRunJson } from '../run-kind.js';
import { checkOutFile } from '../run-model.js';

// graft predict and graft eval on a sampled run (graft train --store --sampler): the run's
// model, rebuilt from its config.json and its checkpoint's reported weights, over every node
// of its graph store by layer-wise inference. Another store (--store) is accepted only when it
// is the run's: same counts and the same fingerprint (structure, labels, splits) as recorded.

export const PREDICT_SAMPLED_USAGE = `  graft predict --run SAMPLED_RUN [--store FILE] [--nodes all|test] [--out FILE] [--threads N]
              (a run of graft train --store --sampler: layer-wise inference over the store's nodes;
               --store must be the run's store, moved or copied)`;

/** Whether argv's --run (either form) is a sampled run: graft predict and graft eval hand those to fromSampledRun. */
export function sampledRunIn(argv: string[]): boolean {
  const at = argv.indexOf('--run');
  const run = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith('--run='))?.slice('--run='.length);
  return run !== undefined && !run.startsWith('--') && isSampledRun(run);
}

/** True for a run folder written by graft train --store --sampler (its config.json names the store and the sampler). */
export function isSampledRun(dir: string): boolean {
  const file = join(resolve(dir), 'config.json');
  if (!existsSync(file)) return false;
  const c = readRunJson(file);
  return typeof c['store'] === 'string' && typeof c['sampler'] === 'object' && c['sampler'] !== null;
}

/** The run's store (or `override`), refused unless it is the one the run trained on. */
function openRunStore(
  command: string,
  dir: string,
  config: Record<string, unknown>,
  override: string | undefined,
): GraphStore {
  const file = resolve(override ?? String(config['store']));
  if (!existsSync(file))
    throw new GraftError(
      override === undefined
        ? `${file}: the run's store is gone (moved?); give it with --store FILE`
        : `--store ${file}: not found`,
    );
  const store = GraphStore.open(file, { features: 'file' });
  const cfg = join(dir, 'config.json');
  const want = (key: string, actual: number, what: string): void => {
    if (Number(config[key]) !== actual) {
      store.close();
      throw new GraftError(
        `${file}: ${actual} ${what}, but the run (${cfg}) trained on ${String(config[key])}: not the run's store`,
      );
    }
  };
  want('num_nodes', store.numNodes, 'nodes');
  want('num_features', store.numFeatures, 'features');
  want('num_classes', store.numClasses, 'classes');
  const recorded = config['store_fingerprint'];
  if (typeof recorded !== 'string')
    console.error(
      `${command}: warning: ${cfg} records no store fingerprint (a run from an older graft): ${file} is checked by its counts only`,
    );
  else if (storeFingerprint(store) !== recorded) {
    store.close();
    throw new GraftError(
      `${file}: not the store the run trained on (its graph, labels or splits differ from the fingerprint ${cfg} records)`,
    );
  }
  return store;
}

/** graft predict (mode 'predict') or graft eval (mode 'eval') on a sampled run. */
export async function fromSampledRun(argv: string[], mode: 'predict' | 'eval'): Promise<void> {
  const command = `graft ${mode}`;
  const { values: v } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    options: {
      run: { type: 'string' },
      store: { type: 'string' },
      threads: { type: 'string' },
      ...(mode === 'predict' ? { out: { type: 'string' }, nodes: { type: 'string' } } : {}),
    },
  });
  if (!v.run) throw new GraftError('--run DIR (a folder written by graft train) is required');
  const dir = resolve(v.run);
  const threads = num(v.threads, '--threads', true);
  const which = choice(v.nodes as string | undefined, '--nodes', ['all', 'test'] as const, 'all');
  const out = mode === 'predict' ? checkOutFile((v.out as string | undefined) ?? join(dir, 'predictions.csv')) : null;
  const config = readRunJson(join(dir, 'config.json'));
  const checkpointFile = join(dir, 'checkpoint.safetensors');
  if (!existsSync(checkpointFile))
    throw new GraftError(`${checkpointFile} not found (the run has no checkpoint: did graft train finish an epoch?)`);
  const cp = loadCheckpoint(checkpointFile);
  const store = openRunStore(command, dir, config, v.store);
  try {
    const rt = await Runtime.create(threads === undefined ? {} : { threads });
    try {
      const { logits, pred } = await predictSampled(
        rt,
        store,
        config as unknown as SampledTrainConfig,
        reportedWeights(cp, checkpointFile),
      ).catch((e: unknown) => {
        // A weight missing or of another size: the checkpoint is not this config's model.
        if (e instanceof RangeError && e.message.startsWith('predictSampled: weights['))
          throw new GraftError(
            `${checkpointFile}: ${e.message.slice('predictSampled: '.length)} (not the model config.json describes)`,
          );
        throw e;
      });
      const { labels, split } = store;
      if (mode === 'eval') {
        const rep = classificationReport(labels, pred, split.test, store.numClasses);
        console.log(
          JSON.stringify({
            dataset: store.header.name,
            test_accuracy: accuracy(labels, pred, split.test),
            val_accuracy: accuracy(labels, pred, split.val),
            test_f1_micro: rep.f1.micro,
            test_f1_macro: rep.f1.macro,
            test_f1_weighted: rep.f1.weighted,
          }),
        );
        return;
      }
      const rows = which === 'all' ? null : split.test;
      writeRows(out!, store, rows, pred, logits);
      console.log(
        JSON.stringify({
          predictions: out,
          nodes: rows ? rows.length : store.numNodes,
          test_accuracy: accuracy(labels, pred, split.test),
        }),
      );
    } finally {
      await rt.close();
    }
  } finally {
    store.close();
  }
}

/** predictions.csv for `rows` (all nodes when null), in that order: id, predicted, label, split, probabilities. */
function writeRows(
  file: string,
  store: GraphStore,
  rows: Int32Array | null,
  pred: Int32Array,
  logits: Float32Array,
): void {
  const k = store.numClasses,
    count = rows ? rows.length : store.numNodes;
  const at = (i: number): number => (rows ? rows[i]! : i);
  const splitOf = new Uint8Array(store.numNodes); // 1 train, 2 val, 3 test
  (['train', 'val', 'test'] as const).forEach((s, j) => {
    for (const v of store.split[s]) splitOf[v] = j + 1;
  });
  const sub = { train: [] as number[], val: [] as number[], test: [] as number[] },
    probs = new Float32Array(count * k),
    labels = new Int32Array(count),
    subPred = new Int32Array(count),
    ids: string[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const v = at(i);
    ids[i] = store.id(v);
    labels[i] = store.labels[v]!;
    subPred[i] = pred[v]!;
    const s = splitOf[v]!;
    if (s) sub[(['train', 'val', 'test'] as const)[s - 1]!].push(i);
    // Softmax of the row, max subtracted.
    const row = logits.subarray(v * k, v * k + k);
    let max = -Infinity,
      sum = 0;
    for (const z of row) if (z > max) max = z;
    for (let j = 0; j < k; j++) sum += Math.exp(row[j]! - max);
    for (let j = 0; j < k; j++) probs[i * k + j] = Math.exp(row[j]! - max) / sum;
  }
  writePredictions(
    file,
    {
      name: store.header.name,
      numNodes: count,
      numFeatures: store.numFeatures,
      numClasses: k,
      features: new Float32Array(0),
      labels,
      split: { train: Int32Array.from(sub.train), val: Int32Array.from(sub.val), test: Int32Array.from(sub.test) },
      src: new Int32Array(0),
      dst: new Int32Array(0),
      ids,
    },
    subPred,
    probs,
  );
}
