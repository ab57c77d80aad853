// What every kind of explanation writes the same way into explanations.json.

interface Completeness {
  baselineValue: number;
  sum: number;
  expected: number;
  error: number;
}

/** Integrated gradients' completeness with its error relative to |φ(x) − φ(baseline)|, when there is one. */
export function completenessRecord(c: Completeness | undefined): {
  completeness?: Completeness & { relative_error: number };
} {
  return c ? { completeness: { ...c, relative_error: c.error / Math.max(Math.abs(c.expected), 1e-12) } } : {};
}

export const meanOf = (v: readonly number[]): number => v.reduce((s, x) => s + x, 0) / Math.max(1, v.length);

/** Mean fidelity+ and fidelity− per method over the explanations. */
export function fidelityByMethod(
  results: readonly Record<string, unknown>[],
  methods: readonly string[],
  keep: number,
): Record<string, { plus: number; minus: number; keep: number }> {
  const of = (m: string, k: 'plus' | 'minus'): number =>
    meanOf(results.filter((r) => r['method'] === m).map((r) => (r['fidelity'] as Record<string, number>)[k]!));
  return Object.fromEntries(methods.map((m) => [m, { plus: of(m, 'plus'), minus: of(m, 'minus'), keep }]));
}
