import { GraftError } from '../core/errors.js';

// graft predict on a graph run (to be written).

export const PREDICT_GRAPH_USAGE = `  graft predict --run GRAPH_RUN ...`;

export async function predictGraphRun(_argv: string[]): Promise<void> {
  throw new GraftError('graft predict does not read graph runs yet');
}
