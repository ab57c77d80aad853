import { GraftError } from '../core/errors.js';

// Flag values, checked in one place: every error names the flag and what it accepts.

/** A numeric flag's value (undefined when absent); anything else is an error naming the flag. */
export function num(v: string | undefined, flag: string, int = false): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || (int && !Number.isInteger(x)))
    throw new GraftError(`${flag} must be ${int ? 'an integer' : 'a number'}, got ${JSON.stringify(v)}`);
  return x;
}

/** An integer flag's value, `fallback` when absent; below `least` is an error naming the flag (and what it counts). */
export function intAtLeast(v: string | undefined, flag: string, fallback: number, least: number, unit = ''): number {
  const x = num(v, flag, true) ?? fallback;
  if (x < least) throw new GraftError(`${flag} must be at least ${least}${unit ? ` ${unit}` : ''}, got ${x}`);
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
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => choice(s, flag, options, options[0]!));
}

function oneOf(options: readonly string[]): string {
  const q = options.map((o) => `'${o}'`);
  return q.length === 1 ? q[0]! : `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

/**
 * `--flag -1` as `--flag=-1`: node's parseArgs takes a value that starts with '-' for an
 * option and refuses it, so a negative number would need the '=' form.
 */
export function joinNegativeValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!,
      next = argv[i + 1];
    if (a.startsWith('--') && !a.includes('=') && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** The keys a JSON config file may hold; any other is an error naming the file and the key. */
export function checkConfigKeys(file: string, config: Record<string, unknown>, known: readonly string[]): void {
  const unknown = Object.keys(config).filter((k) => !known.includes(k));
  if (unknown.length)
    throw new GraftError(
      `${file}: unknown config key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => JSON.stringify(k)).join(', ')} (known: ${known.join(', ')})`,
    );
}
