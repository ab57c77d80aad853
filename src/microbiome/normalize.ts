// Moved to src/compositional/ (shared with graft/infer, which may not import src/microbiome); kept here so imports stay as they were.
export * from '../compositional/normalize.js';
