import { GraftError } from '../core/errors.js';

// Flag values, checked in one place: every error names the flag and what it accepts.

/** A numeric flag's value (undefined when absent); anything else is an error naming the flag. */
export function num(v: string | undefined, flag: string, int = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (int && !Number.isInteger(x))) throw new GraftError(`${flag} must be ${int ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  return x;
}

/** One of `options` (the fallback when absent), typed as the option, never a cast. */
export function choice<T extends string>(v: string | undefined, flag: string, options: readonly T[], fallback: T): T {
  if (v === undefined) return fallback;
  const hit = options.find((o) => o === v);
  if (hit === undefined) throw new GraftError(`${flag} must be ${oneOf(options)}, got ${JSON.stringify(v)}`);
  return hit;
}

/** A comma-separated list, each item one of `options`. */
export function choices<T extends string>(v: string, flag: string, options: readonly T[]): T[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean).map((s) => choice(s, flag, options, options[0]!));
}

function oneOf(options: readonly string[]): string {
  const q = options.map((o) => `'${o}'`);
  return q.length === 1 ? q[0]! : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}
