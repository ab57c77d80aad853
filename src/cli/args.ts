import { GraftError } from '../core/errors.js';

/** A numeric flag's value (undefined when absent); anything else is an error naming the flag. */
export function num(v: string | undefined, flag: string, int = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (int && !Number.isInteger(x))) throw new GraftError(`${flag} must be ${int ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  return x;
}
