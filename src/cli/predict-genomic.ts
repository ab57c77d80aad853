import { GraftError } from '../core/errors.js';

// graft predict on a genomic run (to be written).

export const PREDICT_GENOMIC_USAGE = `  graft predict --run GENOMIC_RUN ...`;

export async function predictGenomicRun(_argv: string[]): Promise<void> {
  throw new GraftError('graft predict does not read genomic runs yet');
}
