import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  atomFeatureCount,
  bondFeatureCount,
  featurizerRecord,
  MORGAN_BITS,
  type AtomFeatureSet,
} from '../../chem/featurize.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { GraftError } from '../../core/errors.js';
import type { Checkpoint } from '../../core/safetensors.js';
import { Rng } from '../../core/random.js';
import { preprocessMetadata } from '../../graph/preprocess.js';
import { MODEL_FORMAT } from '../../infer/model-file.js';
import { graphModelFromPyg, pygGraphShape, type PygGraphModel } from '../../interop/pyg.js';
import { Heap } from '../../memory/heap.js';
import type { Layer } from '../../nn/layer.js';
import {
  GRAPH_MODEL_CHOICES,
  graphGcnLayers,
  graphHybridParts,
  graphMessageLayers,
  type GraphModelConfig,
} from '../../nn/task-models.js';
import { POOL_MODES, type PoolMode } from '../../ops/pooling.js';
import { decodeForeignSafetensors, encodeCheckpoint } from '../../train/checkpoint.js';
import { num } from '../args.js';
import { checkOutFile } from '../run-model.js';

// graft import --from pyg --task graph: a PyG state_dict of a graph-level model (or a D-MPNN
// under Chemprop's names) as a Graft model file, the MODEL_FORMAT file graft export --to graft
// writes, so graft/infer loads it. The weights tell the widths, heads and bond features; what
// they cannot tell (the pooling, the task, the featurizer, D-MPNN's depth) comes from flags.

/** The flags of graft import that a graph model reads (interop.ts parses them all). */
export interface GraphImportFlags {
  model?: string | undefined;
  out?: string | undefined;
  layers?: string | undefined;
  'atom-features'?: string | undefined;
  type?: string | undefined;
  pool?: string | undefined;
}

/** Writes the model file; prints one JSON line (the file, the model, its config). */
export async function importGraphModel(v: GraphImportFlags, positionals: string[]): Promise<void> {
  const kind = (v.model ?? 'gcn') as PygGraphModel;
  if (!(GRAPH_MODEL_CHOICES as readonly string[]).includes(kind))
    throw new GraftError(`--model must be one of ${GRAPH_MODEL_CHOICES.join(', ')}, got ${JSON.stringify(v.model)}`);
  if (!v.out) throw new GraftError('--out FILE.safetensors is required (the model file to write)');
  const set: AtomFeatureSet =
    v['atom-features'] === undefined || v['atom-features'] === 'default'
      ? 'graft'
      : v['atom-features'] === 'chemprop'
        ? 'chemprop'
        : (() => {
            throw new GraftError(
              `--atom-features must be 'default' or 'chemprop', got ${JSON.stringify(v['atom-features'])}`,
            );
          })();
  const task = v.type ?? 'multilabel';
  if (task !== 'multilabel' && task !== 'regression')
    throw new GraftError(`--type must be 'multilabel' or 'regression', got ${JSON.stringify(v.type)}`);
  const pool = (v.pool ?? (kind === 'dmpnn' ? 'mean' : 'max')) as PoolMode;
  if (!(POOL_MODES as readonly string[]).includes(pool))
    throw new GraftError(`--pool must be one of ${POOL_MODES.join(', ')}, got ${v.pool}`);
  if (kind === 'dmpnn' && pool === 'max') throw new GraftError("--pool max: --model dmpnn's readout is mean or sum");
  const out = checkOutFile(v.out);
  const { file, sd } = readStateDict(positionals);
  const shape = pygGraphShape(sd, kind, file);
  const wantLayers = num(v.layers, '--layers', true);
  if (shape.layers !== null && wantLayers !== undefined && wantLayers !== shape.layers)
    throw new GraftError(`--layers ${wantLayers}, but ${file} holds ${shape.layers - 1} ${kind} layers and a head`);
  if (atomFeatureCount(set) !== shape.features)
    throw new GraftError(
      `${file}: its first layer reads ${shape.features} atom features, but --atom-features ${v['atom-features'] ?? 'default'} gives ${atomFeatureCount(set)}`,
    );
  // The bond features and the hybrid's fingerprint are made by the featurizer too: of another width, every graph is refused later.
  if (shape.edgeFeatures !== null && shape.edgeFeatures !== bondFeatureCount(set))
    throw new GraftError(
      `${file}: its layers read ${shape.edgeFeatures} bond features, but --atom-features ${v['atom-features'] ?? 'default'} gives ${bondFeatureCount(set)}`,
    );
  if (shape.dense && shape.dense.descriptors !== MORGAN_BITS)
    throw new GraftError(
      `${file}: dense0.weight reads ${shape.dense.descriptors} descriptor columns, but the hybrid's descriptors are the ${MORGAN_BITS} Morgan bits graft featurizes`,
    );
  const config: GraphModelConfig & { task: string } = {
    task,
    ...(kind === 'gcn' ? {} : { model: kind }),
    layers: shape.layers ?? wantLayers ?? 3,
    hidden: shape.hidden,
    dropout: 0,
    pool,
    weightDecay: 0,
    seed: 1,
    ...(shape.heads ? { heads: shape.heads } : {}),
    ...(shape.edgeFeatures ? { edgeFeatures: shape.edgeFeatures } : {}),
    ...(shape.dense ? { hybrid: { descriptors: shape.dense.descriptors, denseHidden: shape.dense.hidden } } : {}),
  };
  const want = graphParams(config, shape.features, shape.targets);
  const weights = graphModelFromPyg(sd, kind, want, file);
  const tensors = new Map([...weights].map(([k, data]) => [`model.${k}`, { shape: [...want.get(k)!], data }]));
  const source = { from: 'pyg', file };
  writeFileAtomic(
    out,
    encodeCheckpoint({
      tensors,
      metadata: {
        format: MODEL_FORMAT,
        task: 'graph',
        config: JSON.stringify(config),
        shape: JSON.stringify({ features: shape.features, targets: shape.targets }),
        imported: JSON.stringify(source),
        ...preprocessMetadata({ features: [], featurizer: featurizerRecord(config.hybrid !== undefined, set) }),
      },
    }),
  );
  console.log(JSON.stringify({ out, model: kind, config, tensors: [...weights.keys()] }));
}

/** The one state_dict file graft import reads (its one positional argument), decoded; a file that cannot be read is one line. */
export function readStateDict(positionals: readonly string[]): { file: string; sd: Checkpoint } {
  if (positionals.length !== 1) throw new GraftError('graft import takes one state_dict file (FILE.safetensors)');
  const file = resolve(positionals[0]!);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new GraftError(`${file}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { file, sd: decodeForeignSafetensors(bytes, file) };
}

/** The parameter names and shapes of the config's graph model, built on no graph and never run. */
function graphParams(c: GraphModelConfig, features: number, targets: number): Map<string, readonly number[]> {
  const heap = new Heap({ shared: false, initialBytes: 1 << 20 });
  const never = (): never => {
    throw new Error('graphParams: the model is not run');
  };
  const layers: Pick<Layer, 'params' | 'dispose'>[] = c.hybrid
    ? (() => {
        const p = graphHybridParts(heap, features, targets, c, never, never, never);
        return [...p.branches, p.head];
      })()
    : c.model === undefined
      ? graphGcnLayers(heap, features, targets, c, new Rng(c.seed), never, never)
      : graphMessageLayers(heap, features, targets, c, new Rng(c.seed), never, never);
  const want = new Map(layers.flatMap((l) => l.params()).map((p) => [p.name, [...p.value.shape]] as const));
  for (const l of layers) l.dispose();
  return want;
}
