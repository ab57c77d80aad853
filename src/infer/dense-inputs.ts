import { GraftError } from '../core/errors.js';
import { MORGAN_BITS } from '../graph/molecule-graph.js';

// A hybrid graph model whose dense branch reads RDKit descriptors needs their training-split
// mean and sd to score a molecule; a model file does not carry them yet, so graft/infer
// refuses such a model at load rather than score it on inputs scaled otherwise.

/**
 * Refuses a model that `graft train` made with a hybrid reading RDKit descriptors, naming the
 * file: its featurizer record (how the run made its inputs) gives a dense width other than the
 * Morgan fingerprint's. A model without that record (built with the library, its descriptors
 * the caller's own) is the caller's to feed.
 */
export function checkInferDenseInputs(featurizer: { descriptors?: number } | undefined, name: string): void {
  const width = featurizer?.descriptors;
  if (width === undefined || width === MORGAN_BITS) return;
  throw new GraftError(
    `${name}: a hybrid whose dense branch reads ${width} columns (RDKit descriptors scaled on its training split, not the ${MORGAN_BITS}-bit fingerprint): graft/infer does not support such models, as the model file does not carry that scaling`,
  );
}
