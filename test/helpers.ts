import { type ChildProcessByStdio, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import type { BackendKind } from '../src/kernels/backend.js';
import { engineSupports } from '../src/kernels/wasm.js';

/** Seeded uniform [0, 1) generator (mulberry32) for test data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return out;
}

/** Backends this engine can run: 'js' always, the WASM builds where validate accepts them. */
export function availableBackends(): BackendKind[] {
  const s = engineSupports();
  return [...(s.relaxed ? ['relaxed' as const] : []), ...(s.simd ? ['simd' as const] : []), 'js'];
}

/** Largest |a - b| / (atol + rtol·|b|); ≤ 1 passes. */
export function closeness(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!) / (atol + rtol * Math.abs(b[i]!));
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

export function bitsEqual(
  a: Float32Array | Int32Array | Uint8Array,
  b: Float32Array | Int32Array | Uint8Array,
): boolean {
  const x = new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  const y = new Uint8Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The shared data sets folder, or undefined (a fresh clone without ../shared). */
export function sharedData(): string | undefined {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const dir = join(root, '..', 'shared', 'data');
  return existsSync(dir) ? dir : undefined;
}

/** Awkward sizes: empty, below, at and above every SIMD width and unroll. */
export const SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 17, 100, 240];

/** A new empty folder inside the test run's scratch folder (removed when the run ends). */
export function tempDir(prefix: string): string {
  return mkdtempSync(join(process.env['GRAFT_TEST_TMP'] ?? tmpdir(), prefix));
}

/** Runs the built CLI (dist/) with extra environment; the result of spawnSync, as text. */
export function runGraft(
  args: string[],
  env: Record<string, string> = {},
): { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string } {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/**
 * runGraft without blocking: the test process's event loop keeps running (a chain of long
 * spawnSync calls starves vitest's own messages and fails the run with an RPC timeout).
 */
export function runGraftAsync(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  return collect(child);
}

/** A child process (spawned with stdout and stderr piped) run to its end: its exit status and all it wrote. */
export function collect(child: ChildProcessByStdio<null, Readable, Readable>): Promise<{
  status: number | null;
  stdout: string;
  stderr: string;
}> {
  let stdout = '',
    stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/**
 * Whether `t`, a torch Linear's weight [k, r] as PyTorch stores it, is Graft's [r, k] weight `w`
 * transposed, bit for bit (the oracle of the PyG exports: written out here, not taken from the code under test).
 */
export function transposedBitsEqual(t: Float32Array, w: Float32Array, r: number, k: number): boolean {
  const back = new Float32Array(r * k);
  for (let i = 0; i < r; i++) for (let j = 0; j < k; j++) back[i * k + j] = t[j * r + i]!;
  return bitsEqual(back, w);
}

/** Runs the built CLI and sends it SIGINT (Ctrl-C) once its stderr matches `when`; resolves with the exit code and stderr. */
export function interruptGraft(args: string[], when: RegExp): Promise<{ code: number | null; stderr: string }> {
  const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'src', 'cli', 'main.js');
  const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (when.test(stderr) && !child.killed) child.kill('SIGINT');
  });
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

export function readJson(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/** A run's figures without the fields about time, threads or recovery, which differ between any two runs of one model. */
export function runFigures(file: string): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(readJson(file)).filter(([k]) => !/(_ms|_s)$|^threads$|^snapshot_|^timing$|^worker_faults$/.test(k)),
  );
}

/** Runs a command whose JSON line and messages the test does not read (it reads files), with stdout and stderr muted. */
export async function quietly<T>(p: () => Promise<T>): Promise<T> {
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  const err = vi.spyOn(console, 'error').mockImplementation(() => {});
  try {
    return await p();
  } finally {
    log.mockRestore();
    err.mockRestore();
  }
}
