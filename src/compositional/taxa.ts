// Matching new samples' taxa to a kept model's by name: graft predict and graft/infer both align through this.

/**
 * New samples' counts [n, fileTaxa] as the model's columns, matched by taxon name: a model
 * taxon the file lacks counts 0 (absent), a file taxon the model lacks is dropped (unknown).
 */
export function alignTaxa(
  modelTaxa: readonly string[],
  fileTaxa: readonly string[],
  values: Float64Array,
  n: number,
): { counts: Float64Array; absent: string[]; unknown: string[] } {
  const at = new Map(fileTaxa.map((t, c) => [t, c]));
  const q = fileTaxa.length,
    p = modelTaxa.length;
  const counts = new Float64Array(n * p),
    absent: string[] = [];
  modelTaxa.forEach((t, j) => {
    const c = at.get(t);
    if (c === undefined) {
      absent.push(t);
      return;
    }
    for (let i = 0; i < n; i++) counts[i * p + j] = values[i * q + c]!;
  });
  const known = new Set(modelTaxa);
  return { counts, absent, unknown: fileTaxa.filter((t) => !known.has(t)) };
}
