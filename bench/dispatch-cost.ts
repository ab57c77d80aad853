// node dist/bench/dispatch-cost.js [--reps 7]
//
// The cost model behind splitting a millisecond step's ops (issue 31), on 2 threads: what one
// empty parallel op costs when the helper is spinning for it (ops back to back) and when it
// has gone to sleep (a pause longer than its spin before each op), against the same op run
// inline. Each figure is the minimum over --reps rounds, rounds alternating the cases, so a
// burst of load on a shared machine falls on all of them. One JSON line per case:
//   {"case":"empty-op"|"gemm-MxKxN","helper":"spinning"|"asleep"|"inline","us"}
// and the break-even per op kind: grains (partsFor's unit: 2^17 multiply-adds for a GEMM,
// 2^15 elements for an elementwise op) an op must hold for a split over a sleeping helper to
// pay, 2 × (asleep empty op) / (µs per grain).
import { Tensor } from '../src/memory/tensor.js';
import { splitEven } from '../src/runtime/partition.js';
import { Runtime } from '../src/runtime/runtime.js';
import { flag } from './measure.js';

const reps = Number(flag('reps') ?? 7);

function busyWait(us: number): void {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

async function main(): Promise<void> {
  const rt = await Runtime.create({ threads: 2 });
  try {
    // The founding study's GCN: 162 samples, 64 hidden units (5 grains of 2^17 multiply-adds).
    const [m, k, n] = [162, 64, 64];
    const fill = (rows: number, cols: number): Tensor =>
      Tensor.from(
        rt.heap,
        'float32',
        [rows, cols],
        Array.from({ length: rows * cols }, (_, i) => ((i * 7) % 13) / 13),
      );
    const a = fill(m, k),
      b = fill(k, n),
      c = fill(m, n);
    const gemmArgs = [a.ptr, k, b.ptr, n, c.ptr, n, n, k];
    const gemmSplit = splitEven(m, 2, 4);
    // An elementwise op of the molecules bench's size: 3,200 nodes × 128 (12.5 grains of 2^15).
    const ew = 3200 * 128;
    const x = Tensor.zeros(rt.heap, 'float32', [ew]),
      y = Tensor.zeros(rt.heap, 'float32', [ew]);
    const empty = { both: [0, 1, 2], one: [0, 1] };
    const timed = async (n: number, op: () => Promise<void>, pauseUs = 0): Promise<number> => {
      let us = 0;
      for (let i = 0; i < n; i++) {
        // A pause longer than any spin the helper does (200 µs at most) makes every op find
        // it asleep; the pause itself is not timed.
        if (pauseUs) busyWait(pauseUs);
        const t0 = performance.now();
        await op();
        us += (performance.now() - t0) * 1000;
      }
      return us / n;
    };
    const cases: [string, string, () => Promise<number>][] = [
      ['empty-op', 'spinning', () => timed(2000, () => rt.exec.run('noop', [], empty.both))],
      ['empty-op', 'asleep', () => timed(100, () => rt.exec.run('noop', [], empty.both), 2000)],
      ['empty-op', 'inline', () => timed(2000, () => rt.exec.run('noop', [], empty.one))],
      [`gemm-${m}x${k}x${n}`, 'spinning', () => timed(500, () => rt.exec.run('gemmNN', gemmArgs, gemmSplit))],
      [`gemm-${m}x${k}x${n}`, 'asleep', () => timed(100, () => rt.exec.run('gemmNN', gemmArgs, gemmSplit), 2000)],
      [`gemm-${m}x${k}x${n}`, 'inline', () => timed(500, () => rt.exec.run('gemmNN', gemmArgs, [0, m]))],
      ['relu-409600', 'inline', () => timed(500, () => rt.exec.run('relu', [x.ptr, y.ptr], [0, ew]))],
    ];
    const best = new Map<string, number>();
    for (let r = 0; r < reps; r++)
      for (const [what, helper, run] of cases) {
        const key = `${what} ${helper}`;
        best.set(key, Math.min(best.get(key) ?? Infinity, await run()));
      }
    for (const [what, helper] of cases)
      console.log(JSON.stringify({ case: what, helper, us: +best.get(`${what} ${helper}`)!.toFixed(2) }));
    const wake = best.get('empty-op asleep')!;
    for (const [what, perGrain] of [
      ['gemm', best.get(`gemm-${m}x${k}x${n} inline`)! / ((m * k * n) / (1 << 17))],
      ['elementwise', best.get('relu-409600 inline')! / (ew / (1 << 15))],
    ] as const)
      console.log(
        JSON.stringify({
          case: 'break-even',
          op: what,
          us_per_grain: +perGrain.toFixed(2),
          wake_us: +wake.toFixed(2),
          grains: +((2 * wake) / perGrain).toFixed(1),
        }),
      );
  } finally {
    await rt.close();
  }
}

await main();
