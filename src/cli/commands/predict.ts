import { resolve } from 'node:path';
import { GraftError } from '../../core/errors.js';
import { detectRunKind, wrongKind } from '../run-kind.js';
import { predictGenomicRun, PREDICT_GENOMIC_USAGE } from './predict-genomic.js';
import { predictGraphRun, PREDICT_GRAPH_USAGE } from './predict-graph.js';
import { predictMicrobiomeRun, PREDICT_MICROBIOME_USAGE } from './predict-microbiome.js';
import { predictNodeRun, PREDICT_NODE_USAGE } from './predict-node.js';
import { PREDICT_SAMPLED_USAGE } from './predict-sampled.js';

// `graft predict`: a kept model applied to new samples. The run folder says which pillar it
// is; each pillar's flags and output live in a file of its own beside this one.

export const PREDICT_USAGE = [
  PREDICT_NODE_USAGE,
  PREDICT_SAMPLED_USAGE,
  PREDICT_GRAPH_USAGE,
  PREDICT_GENOMIC_USAGE,
  PREDICT_MICROBIOME_USAGE,
].join('\n');

/** The value of --run in argv (either form), before the pillar's own parser reads the rest. */
function runFlag(argv: string[]): string | undefined {
  const at = argv.indexOf('--run');
  if (at >= 0) return argv[at + 1];
  return argv.find((a) => a.startsWith('--run='))?.slice('--run='.length);
}

export async function predict(argv: string[]): Promise<void> {
  const run = runFlag(argv);
  if (!run || run.startsWith('--'))
    throw new GraftError(
      '--run DIR is required (a folder written by graft train, graft train --task graph, graft gp or graft mb)',
    );
  const dir = resolve(run);
  const kind = detectRunKind(dir);
  switch (kind) {
    case 'node':
      return predictNodeRun(argv);
    case 'graph':
      return predictGraphRun(argv);
    case 'genomic':
      return predictGenomicRun(argv);
    case 'microbiome':
      return predictMicrobiomeRun(argv);
    default:
      throw wrongKind('graft predict', run, kind, 'a node, graph, gp or mb run');
  }
}
