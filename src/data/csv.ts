import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { GraftError } from '../core/errors.js';

/** An input problem located in a file: "file:line: message". */
export class DataError extends GraftError {
  override name = 'DataError';
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`);
  }
}

/** Reads a text file, gunzipping when it is gzip; a missing or unreadable file is a DataError. */
export function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new DataError(file, 0, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new DataError(file, 0, `not valid gzip: ${(err as Error).message}`);
    }
  }
  return bytes.toString('utf8');
}

/** A parsed CSV or TSV file: its header, its rows as strings, and each row's line in the file (for error messages). */
export interface Table {
  file: string;
  header: string[];
  rows: string[][];
  /** 1-based file line of each row. */
  lines: number[];
}

/**
 * Parses CSV or TSV (the delimiter is sniffed from the header: tab, comma or semicolon),
 * with double-quoted fields. Every row must have the header's width.
 */
export function parseTable(file: string, text = readText(file)): Table {
  const all = text.split(/\r?\n/);
  let first = 0;
  while (first < all.length && all[first]!.trim() === '') first++;
  if (first >= all.length) throw new DataError(file, 0, 'the file is empty');
  const headLine = all[first]!;
  const delim = headLine.includes('\t') ? '\t' : headLine.includes(',') ? ',' : headLine.includes(';') ? ';' : ',';
  const split = (line: string, no: number): string[] => {
    if (!line.includes('"')) return line.split(delim).map((s) => s.trim());
    const out: string[] = [];
    let cur = '',
      q = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i]!;
      if (q) {
        if (ch === '"' && line[i + 1] === '"') {
          cur += '"';
          i++;
        } else if (ch === '"') q = false;
        else cur += ch;
      } else if (ch === '"') q = true;
      else if (ch === delim) {
        out.push(cur.trim());
        cur = '';
      } else cur += ch;
    }
    if (q) throw new DataError(file, no, 'unterminated quoted field');
    out.push(cur.trim());
    return out;
  };
  const header = split(headLine, first + 1);
  const rows: string[][] = [],
    lines: number[] = [];
  for (let i = first + 1; i < all.length; i++) {
    if (all[i]!.trim() === '') continue;
    const row = split(all[i]!, i + 1);
    if (row.length !== header.length) {
      throw new DataError(file, i + 1, `${row.length} fields, but the header has ${header.length}`);
    }
    rows.push(row);
    lines.push(i + 1);
  }
  return { file, header, rows, lines };
}
