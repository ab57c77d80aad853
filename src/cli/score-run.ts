import { join } from 'node:path';
import { GraftError } from '../core/errors.js';
import { checkInputs, type RecordedInputs } from '../core/input-files.js';
import type { NodeDataset } from '../data/node-dataset.js';
import { type DataChoice, dataInputFiles, loadRawData } from '../store/node-task.js';
import { applyPreprocess } from '../graph/preprocess.js';
import { modelWeights } from '../infer/model-file.js';
import type { Runtime } from '../runtime/runtime.js';
import { type NodeTrainConfig, predictNodes } from '../train/node-trainer.js';
import type { RunModel } from './run-model.js';

// Scoring a node run's model on its data again, shared by graft eval, graft predict (node runs)
// and graft soup: its own file so those commands do not import one another.

/**
 * A node run's model on its own data: the input files checked against the SHA-256s the run
 * recorded (a --data-dir elsewhere must hold the same bytes), read raw, preprocessed by the
 * model's record, scored by the runtime.
 */
export async function scoreRunData(
  rt: Runtime,
  run: RunModel,
  dataDir: string | undefined,
  command: string,
): Promise<{ ds: NodeDataset; probs: Float32Array; pred: Int32Array }> {
  const saved = run.config as unknown as NodeTrainConfig & DataChoice;
  const choice: DataChoice = { ...saved, ...(dataDir ? { dataDir } : {}) };
  const recorded = saved['inputs' as keyof typeof saved] as unknown as RecordedInputs | undefined;
  if (!recorded)
    console.error(
      `${command}: warning: ${join(run.dir, 'config.json')} records no checksums of its input files (a run from before graft recorded them): the data read now is not checked against the run's`,
    );
  // The files this command reads, with the checksums the run recorded for the same roles.
  const reading = dataInputFiles(choice);
  const expect: RecordedInputs = {};
  for (const [role, f] of Object.entries(recorded ?? {}))
    expect[role] = { path: reading[role] ?? f.path, sha256: f.sha256 };
  await checkInputs(expect, join(run.dir, 'config.json'), command);
  const ds = loadRawData(choice, saved.seed);
  if (ds.numFeatures !== run.model.shape.features)
    throw new GraftError(
      `${ds.name}: ${ds.numFeatures} features, but the run's model reads ${run.model.shape.features}`,
    );
  applyPreprocess(run.model.preprocess!.features, ds.features, ds.numNodes, ds.numFeatures);
  const { probs, pred } = await predictNodes(rt, ds, saved, modelWeights(run.model, ''));
  return { ds, probs, pred };
}
