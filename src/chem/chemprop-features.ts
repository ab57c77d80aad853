// Chemprop's molecule features live in graph/chemprop-features.ts, below chem and infer both (graft/infer's
// moleculeGraph makes them too); this name stays for chem's readers and the tests that import it here.
export * from '../graph/chemprop-features.js';
