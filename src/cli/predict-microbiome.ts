import { GraftError } from '../core/errors.js';

// graft predict on a microbiome run (to be written).

export const PREDICT_MICROBIOME_USAGE = `  graft predict --run MICROBIOME_RUN ...`;

export async function predictMicrobiomeRun(_argv: string[]): Promise<void> {
  throw new GraftError('graft predict does not read microbiome runs yet');
}
