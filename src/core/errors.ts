// One module of error constructors: every message names the function and the argument, and
// says what was expected and what was given.

/**
 * Every error Graft throws for bad input or a failed run: one line naming the function and the
 * argument (or the file and line), what was expected and what was given. The CLI prints it
 * without a stack trace.
 */
export class GraftError extends Error {
  override name = 'GraftError';
}

/** A kernel failed on a worker thread (it threw, or the worker died); `rank` is the helper. */
export class WorkerError extends GraftError {
  override name = 'WorkerError';
  constructor(
    message: string,
    readonly kernel: string,
    readonly rank: number,
  ) {
    super(message);
  }
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(describe).join(', ')}]`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined) return 'undefined';
  const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
  return ctor ? `a ${ctor}` : typeof v;
}

/** Wrong type or kind of value. */
export function argTypeError(fn: string, arg: string, expected: string, actual: unknown): TypeError {
  return new TypeError(`${fn}: argument '${arg}' must be ${expected}, got ${describe(actual)}`);
}

/** Right type, value out of range (including shape mismatches). */
export function argRangeError(fn: string, arg: string, expected: string, actual: unknown): RangeError {
  return new RangeError(`${fn}: argument '${arg}' must be ${expected}, got ${describe(actual)}`);
}

export function shapeError(
  fn: string,
  arg: string,
  expected: readonly (number | string)[],
  actual: readonly number[],
): RangeError {
  return new RangeError(
    `${fn}: argument '${arg}' must have shape [${expected.join(', ')}], got [${actual.join(', ')}]`,
  );
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024,
    u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(2)} ${units[u]}`;
}

export function checkPositiveInt(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw argTypeError(fn, arg, 'a positive integer', v);
  return v;
}

export function checkFinite(fn: string, arg: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw argTypeError(fn, arg, 'a finite number', v);
  return v;
}
