import { GraftError } from '../core/errors.js';
import { MORGAN_BITS } from '../graph/molecule-graph.js';

// A hybrid graph model whose dense branch reads RDKit descriptors needs their training-split
// mean and sd to score a molecule; a model file does not carry them yet, so graft/infer
// refuses such a model at load rather than score it on inputs scaled otherwise.

/** Refuses a hybrid model whose dense branch reads anything but the Morgan fingerprint, naming the file. */
export function checkInferDenseInputs(config: Readonly<Record<string, unknown>>, name: string): void {
  const hybrid = config['hybrid'] as { descriptors?: unknown } | undefined;
  if (!hybrid || hybrid.descriptors === MORGAN_BITS) return;
  throw new GraftError(
    `${name}: a hybrid whose dense branch reads ${String(hybrid.descriptors)} columns (RDKit descriptors scaled on its training split, not the ${MORGAN_BITS}-bit fingerprint): graft/infer does not support such models, as the model file does not carry that scaling`,
  );
}
