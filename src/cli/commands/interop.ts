import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileAtomic, writeJsonAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import type { Checkpoint, StoredTensor } from '../../core/safetensors.js';
import { MODEL_FORMAT, modelWeights, reportedModel } from '../../infer/model-file.js';
import { preprocessMetadata } from '../../graph/preprocess.js';
import {
  gcnFromPyg,
  gcnToPyg,
  graphModelToPyg,
  nodeModelFromPyg,
  nodeModelToPyg,
  pygNodeShape,
  type PygNodeModel,
} from '../../interop/pyg.js';
import { Heap } from '../../memory/heap.js';
import { graphModelKind } from '../../nn/task-models.js';
import { NODE_MODEL_CHOICES, nodeMessageModel, nodeModelKind, type NodeModelKind } from '../../nn/node-models.js';
import { encodeCheckpoint } from '../../train/checkpoint.js';
import { KIPF_DEFAULTS, type NodeTrainConfig } from '../../train/node-trainer.js';
import { joinNegativeValues, num } from '../args.js';
import { claimRunFolder } from '../run-folder.js';
import { checkOutFile, featurizerNote, readRunModel } from '../run-model.js';
import { featureSetOf, FEATURIZER_VERSION } from '../../chem/featurize.js';
import { CHEMPROP_FEATURIZER } from '../../graph/chemprop-features.js';
import { importGraphModel, readStateDict } from './import-graph.js';
import { dataPreprocess, loadData, type DataChoice } from '../../store/node-task.js';

// graft import / graft export: weights to and from PyTorch Geometric (safetensors state_dicts),
// and a run's model alone as a small file for graft/infer.

export const INTEROP_USAGE = `  graft import --from pyg FILE.safetensors --model gcn|sage|gin|gat|gatv2 --out DIR [--dataset NAME | --edges F --features F --labels F]
               [--data-dir DIR] [--no-normalize] [--layers L] [--overwrite]
  graft import --from pyg FILE.safetensors --task graph --model gcn|sage|gin|gine|gat|gatv2|dmpnn --out FILE.safetensors
               [--atom-features default|chemprop] [--type multilabel|regression] [--pool max|mean|sum] [--layers L]
               (a graph model file for graft/infer; --layers: D-MPNN's depth, default 3, which its weights do not tell)
  graft export --to pyg|graft --run DIR [--out FILE]`;

/** A PyG GCN state_dict as a Graft node run folder (config.json + checkpoint.safetensors), ready for graft eval, predict and explain. */
export async function importModel(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args: joinNegativeValues(argv),
    strict: true,
    allowPositionals: true,
    options: {
      from: { type: 'string' },
      model: { type: 'string' },
      out: { type: 'string' },
      dataset: { type: 'string' },
      'data-dir': { type: 'string' },
      edges: { type: 'string' },
      features: { type: 'string' },
      labels: { type: 'string' },
      'no-normalize': { type: 'boolean' },
      layers: { type: 'string' },
      overwrite: { type: 'boolean' },
      task: { type: 'string' },
      'atom-features': { type: 'string' },
      type: { type: 'string' },
      pool: { type: 'string' },
    },
  });
  if (v.from !== 'pyg')
    throw new GraftError(
      `--from must be 'pyg' (a PyTorch / PyG state_dict saved as safetensors), got ${JSON.stringify(v.from ?? null)}`,
    );
  if (v.task !== undefined && v.task !== 'node' && v.task !== 'graph')
    throw new GraftError(`--task must be 'node' or 'graph', got ${JSON.stringify(v.task)}`);
  if (v.task === 'graph') {
    // A graph model file carries no node data: the node import's data flags would be silently unread.
    for (const flag of ['dataset', 'data-dir', 'edges', 'features', 'labels', 'no-normalize', 'overwrite'] as const)
      if (v[flag] !== undefined) throw new GraftError(`--${flag} is for node models, not --task graph`);
    return importGraphModel(v, positionals);
  }
  for (const flag of ['atom-features', 'type', 'pool'] as const)
    if (v[flag] !== undefined) throw new GraftError(`--${flag} is for --task graph`);
  const kind = (v.model ?? 'gcn') as NodeModelKind;
  if (!NODE_MODEL_CHOICES.includes(kind))
    throw new GraftError(
      `--model must be one of ${NODE_MODEL_CHOICES.join(', ')} (PyG's GCNConv, SAGEConv, GINConv, GATConv, GATv2Conv layers), got ${JSON.stringify(v.model)}`,
    );
  if (!v.out) throw new GraftError('--out DIR is required (the run folder to write)');
  const { file, sd } = readStateDict(positionals);
  const gcn = kind === 'gcn' ? { ...gcnFromPyg(sd, file), hidden: null, heads: null } : messageFromPyg(sd, kind, file);
  const layers = gcn.widths.length - 1;
  const wantLayers = num(v.layers, '--layers', true);
  if (wantLayers !== undefined && wantLayers !== layers)
    throw new GraftError(`--layers ${wantLayers}, but ${file} holds ${layers} ${kind === 'gcn' ? 'GCN' : kind} layers`);
  const data: DataChoice = {
    dataset: v.dataset ?? 'cora',
    normalize: v['no-normalize'] !== true,
    ...Object.fromEntries(
      (['edges', 'features', 'labels'] as const).filter((k) => v[k] !== undefined).map((k) => [k, resolve(v[k]!)]),
    ),
    ...(v['data-dir'] ? { dataDir: resolve(v['data-dir']) } : {}),
  };
  const config: NodeTrainConfig = {
    ...KIPF_DEFAULTS,
    ...(kind === 'gcn' ? {} : { model: kind }),
    ...(gcn.heads ? { heads: gcn.heads } : {}),
    layers,
    hidden: gcn.hidden ?? (layers > 1 ? gcn.widths[1]! : KIPF_DEFAULTS.hidden),
    epochs: 0,
    patience: 0,
    restoreBest: false,
    featureFormat: 'dense',
  };
  // The data must fit the weights: its feature and class counts are the first layer's input and the last one's output.
  const ds = loadData(data, config.seed);
  if (ds.numFeatures !== gcn.widths[0])
    throw new GraftError(`${file} reads ${gcn.widths[0]} features, but ${ds.name} has ${ds.numFeatures}`);
  if (ds.numClasses !== gcn.widths[layers])
    throw new GraftError(`${file} predicts ${gcn.widths[layers]} classes, but ${ds.name} has ${ds.numClasses}`);
  const out = resolve(v.out);
  const release = claimRunFolder(out, { command: 'graft import', overwrite: v.overwrite === true });
  try {
    const tensors = new Map([...gcn.tensors].map(([k, t]) => [`model.${k}`, t]));
    const shape = { features: ds.numFeatures, classes: ds.numClasses };
    const source = { from: 'pyg', file };
    writeFileAtomic(
      join(out, 'checkpoint.safetensors'),
      encodeCheckpoint({
        tensors,
        metadata: {
          format: MODEL_FORMAT,
          task: 'node',
          config: JSON.stringify(config),
          shape: JSON.stringify(shape),
          imported: JSON.stringify(source),
          ...preprocessMetadata({ features: dataPreprocess(data) }),
        },
      }),
    );
    writeJsonAtomic(join(out, 'config.json'), {
      task: 'node',
      ...data,
      ...config,
      imported: source,
      preprocess: { features: dataPreprocess(data) },
      num_nodes: ds.numNodes,
      num_features: ds.numFeatures,
      num_classes: ds.numClasses,
      ...(ds.classNames ? { class_names: ds.classNames } : {}),
    });
  } finally {
    release();
  }
  console.log(JSON.stringify({ run: out, layers, widths: gcn.widths, dataset: ds.name }));
}

/**
 * The weights of a `kind` node model in a PyG state_dict, under Graft's names, with the widths
 * (input, each layer's output) and the hidden width and heads the model is rebuilt with.
 */
function messageFromPyg(
  sd: Checkpoint,
  kind: PygNodeModel,
  file: string,
): { tensors: Map<string, StoredTensor>; widths: number[]; hidden: number | null; heads: number | null } {
  const shape = pygNodeShape(sd, kind, file);
  // The parameters a model of that shape has (names and shapes), built on a graph of one node, never run.
  const heap = new Heap({ shared: false, initialBytes: 1 << 20 });
  const config = {
    ...KIPF_DEFAULTS,
    model: kind,
    layers: shape.layers,
    hidden: shape.hidden ?? KIPF_DEFAULTS.hidden,
    ...(shape.heads ? { heads: shape.heads } : {}),
  };
  const model = nodeMessageModel(heap, shape.features, shape.classes, config, () => {
    throw new Error('messageFromPyg: the model is not run');
  });
  const want = new Map(model.params().map((p) => [p.name, [...p.value.shape]] as const));
  model.dispose();
  const weights = nodeModelFromPyg(sd, kind, want, file);
  const tensors = new Map([...weights].map(([k, data]) => [k, { shape: [...want.get(k)!], data }]));
  const widths = [shape.features, ...Array.from({ length: shape.layers - 1 }, () => 0), shape.classes];
  for (let l = 1; l < shape.layers; l++) widths[l] = (shape.hidden ?? 0) * (shape.heads ?? 1);
  return { tensors, widths, hidden: shape.hidden, heads: shape.heads };
}

/** A run's reported weights to PyG (a GCN state_dict) or to a Graft model file for graft/infer. */
export async function exportModel(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv,
    strict: true,
    options: { to: { type: 'string' }, run: { type: 'string' }, out: { type: 'string' } },
  });
  if (v.to !== 'pyg' && v.to !== 'graft')
    throw new GraftError(
      `--to must be 'pyg' (a PyG state_dict) or 'graft' (a model file for graft/infer), got ${JSON.stringify(v.to ?? null)}`,
    );
  if (!v.run) throw new GraftError('--run DIR (a folder written by graft train or graft import) is required');
  const run = readRunModel(v.run, 'graft export');
  const { dir, model, checkpointFile: cpFile } = run;
  // A graph model file records the run's featurizer (graft/infer refuses graphs featurized otherwise).
  const note = featurizerNote(run, 'graft export');
  if (note) console.error(note);
  const featurizer = model.preprocess?.featurizer;
  // graft/infer's moleculeGraph makes graft's atom features and Chemprop's: a run of any other featurizer is warned of.
  if (featurizer && featureSetOf(featurizer.name) === null)
    console.error(
      `graft export: warning: the run's molecules were featurized by ${featurizer.name}, and the model file says so; this graft's featurizers (moleculeGraph in graft/infer) are ${FEATURIZER_VERSION} and ${CHEMPROP_FEATURIZER}, whose graphs the model will refuse`,
    );
  const out = checkOutFile(v.out ?? join(dir, v.to === 'pyg' ? 'model.pyg.safetensors' : 'model.safetensors'));
  let tensors: Map<string, StoredTensor>;
  let metadata: Record<string, string>;
  if (v.to === 'pyg' && model.task === 'graph') {
    const reported = new Map([...reportedModel(model).tensors].map(([k, t]) => [k.replace(/^model\./, ''), t]));
    tensors = graphModelToPyg(graphModelKind(model.config), reported);
    metadata = { format: 'pt' };
  } else if (v.to === 'pyg') {
    if (model.task !== 'node')
      throw new GraftError(
        `${cpFile} is a ${model.task} model: --to pyg writes node and graph models (PyG's GCNConv, SAGEConv, GINConv, GINEConv, GATConv, GATv2Conv layers, and D-MPNN under Chemprop's names)`,
      );
    const kind = nodeModelKind(model.config);
    const layers = Number(model.config['layers']);
    const widths = [
      model.shape.features,
      ...Array.from({ length: layers - 1 }, () => Number(model.config['hidden'])),
      model.shape.classes,
    ];
    if (kind === 'gcn') tensors = gcnToPyg(modelWeights(model, ''), widths);
    else {
      const reported = new Map([...reportedModel(model).tensors].map(([k, t]) => [k.replace(/^model\./, ''), t]));
      tensors = nodeModelToPyg(kind, reported);
    }
    metadata = { format: 'pt' };
  } else {
    ({ tensors, metadata } = reportedModel(model));
  }
  writeFileAtomic(out, encodeCheckpoint({ tensors, metadata }));
  console.log(
    JSON.stringify({
      out,
      to: v.to,
      task: model.task,
      tensors: [...tensors.keys()],
      ...(v.to === 'graft' ? { preprocess: model.preprocess } : {}),
    }),
  );
}
