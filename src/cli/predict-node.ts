import { fromRun } from './eval.js';

// graft predict on a node run.

export const PREDICT_NODE_USAGE = `  graft predict --run NODE_RUN [--out FILE] [--threads N]`;

export async function predictNodeRun(argv: string[]): Promise<void> {
  await fromRun(argv, 'predict');
}
