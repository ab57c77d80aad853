import { Bench } from 'tinybench';

export interface Timing {
  /** Median of the timed repetitions, milliseconds. */
  ms: number;
  runs: number;
}

/**
 * The GEMM cases the kernel benchmarks run: [name, m, k, n, form] for C[m×n] = op(A)·op(B),
 * the three training forms on the bench workloads' shapes.
 */
export const GEMM_SHAPES: readonly [string, number, number, number, 'NN' | 'TN' | 'NT'][] = [
  ['cora X·W', 2708, 1433, 16, 'NN'],
  ['genomic X·W', 383, 20000, 64, 'NN'],
  ['genomic Xᵀ·G', 20000, 383, 64, 'TN'],
  ['arxiv H·W', 32768, 256, 256, 'NN'],
  ['arxiv Hᵀ·G', 256, 32768, 256, 'TN'],
  ['arxiv G·Wᵀ', 32768, 256, 256, 'NT'],
];

/** Median latency of `fn` over at least `iterations` runs after warm-up (tinybench). */
export async function measure(
  name: string,
  fn: () => Promise<unknown> | unknown,
  iterations = 10,
  timeMs = 500,
): Promise<Timing> {
  const bench = new Bench({ iterations, time: timeMs, warmupIterations: 2, warmupTime: 0 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]!.result as unknown as { latency?: { p50: number }; error?: unknown; totalTime?: number };
  if (r.error) throw r.error;
  if (!r.latency) throw new Error(`bench ${name}: no result`);
  const runs =
    (bench.tasks[0]!.result as unknown as { latency: { samplesCount?: number } }).latency.samplesCount ?? iterations;
  return { ms: r.latency.p50, runs };
}

/** --name value from argv. */
export function flag(name: string): string | undefined {
  const args = process.argv.slice(2);
  const i = args.indexOf(`--${name}`);
  if (i >= 0) return args[i + 1];
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

/** Thread counts from --threads 1,2,16 (default: 1 and the machine's cores). */
export function threadList(cores: number): number[] {
  const t = flag('threads');
  if (!t) return [...new Set([1, cores])];
  return t.split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--threads: ${JSON.stringify(s)} is not a positive integer`);
    return n;
  });
}
