import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { threadId } from 'node:worker_threads';

let tempCounter = 0;

// The one way Graft writes a file: readers never see half of it, and a crash leaves either the
// old file or the new one.

export function ensureDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Writes atomically: temp file, fsync, rename, fsync of the folder. */
export function writeFileAtomic(file: string, bytes: Buffer | string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.${threadId}.${++tempCounter}.tmp`);
  try {
    const fd = openSync(tmp, 'w');
    try {
      const b = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      let at = 0;
      while (at < b.length) at += writeSync(fd, b, at, b.length - at);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dfd = openSync(dirname(file), 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {
    // Some filesystems refuse fsync on folders; the rename itself is already atomic.
  }
}

/** JSON with two-space indent; non-finite numbers (which JSON cannot hold) become null. */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(
    file,
    `${JSON.stringify(value, (_, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`,
  );
}
