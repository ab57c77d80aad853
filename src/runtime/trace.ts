import { PerformanceObserver } from 'node:perf_hooks';
import { isMainThread, threadId } from 'node:worker_threads';
import { writeFileAtomic } from '../core/atomic-write.js';
import { kernelName } from '../kernels/registry.js';
import { noteOpWorkWith } from './partition.js';

// The timeline (`--trace FILE`): per thread, spans of what the thread did, in Chrome's
// trace-event format (Perfetto and chrome://tracing open it). Off by default: the hot paths
// read the module binding `tracer` once per op and do nothing more when it is null.
//
// Each thread records into its own Tracer (a worker's goes back to the main thread with the
// result of its serve or call task) with timestamps on one clock: performance.timeOrigin +
// performance.now(), in microseconds, so the threads' spans line up.
//
// A thread's own track holds only synchronous spans, one after another (a cursor marks where
// the last one ended); the time between two is recorded as 'js' (JavaScript between ops, or
// the event loop running something untraced), so the track adds up to wall time. What spans
// an await (a training step, a shard, a placement trial) goes on a virtual track of that
// thread (trackOf), where it may overlap the thread's own spans without breaking nesting.

/** What a span's time was spent on. */
export type TraceCategory =
  | 'compute' // a kernel's part (name: the kernel)
  | 'copy' // copying tensors (copyF32, collating samples into the heap)
  | 'dispatch' // publishing an op to the helpers, and reporting a part done
  | 'wait-spin' // spinning for the next op (helper) or for the helpers (leader)
  | 'wait-sleep' // asleep in Atomics.wait, or awaiting the helpers on the event loop
  | 'alloc' // the heap's alloc and free
  | 'js' // JavaScript between ops (the gaps between this thread's other spans)
  | 'gc' // the garbage collector (from perf_hooks)
  | 'step' // a training step, shard or trial (virtual tracks)
  | 'idle'; // a worker with no task (between calls)

export interface TraceEvent {
  name: string;
  cat?: string;
  ph: 'X' | 'M';
  ts?: number;
  dur?: number;
  pid: number;
  tid: number;
  args?: Record<string, unknown>;
}

/** Gaps shorter than this (µs) between two spans are not recorded as 'js' (timer resolution). */
const MIN_GAP_US = 0.5;
/** Virtual tracks are numbered from here: TRACK_BASE + threadId · 100 + k. */
const TRACK_BASE = 1_000_000;

/** Microseconds on a clock every thread of the process shares. */
export function traceNow(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** One thread's buffer of events. */
export class Tracer {
  readonly events: TraceEvent[] = [];
  readonly pid = process.pid;
  readonly tid = threadId;
  /** End of the last span on this thread's own track (0: none yet). */
  private cursor = 0;
  private readonly named = new Set<number>();
  private gc: PerformanceObserver | null = null;
  private opWork: { work: number; grain: number } | undefined;

  constructor(readonly threadName: string) {
    this.name(this.tid, threadName);
    try {
      // GC pauses of this isolate, on a track of their own (they happen inside other spans).
      const track = this.trackOf(99, `${threadName}: GC`);
      this.gc = new PerformanceObserver((list) => this.addGc(list.getEntries(), track));
      this.gc.observe({ entryTypes: ['gc'] });
    } catch {
      this.gc = null;
    }
  }

  /** Names a track (a thread_name metadata event), once. */
  name(tid: number, name: string): void {
    if (this.named.has(tid)) return;
    this.named.add(tid);
    this.events.push({ name: 'thread_name', ph: 'M', pid: this.pid, tid, args: { name } });
  }

  /** The id of virtual track `k` (0..98) of this thread, named `name`. */
  trackOf(k: number, name: string): number {
    const tid = TRACK_BASE + this.tid * 100 + k;
    this.name(tid, name);
    return tid;
  }

  /**
   * A synchronous span on this thread's own track from `t0` to now (or `t1`); the gap since
   * the previous span goes in as 'js'. A span that would begin before the previous one ended
   * is clipped to begin there, so the track never overlaps.
   */
  span(cat: TraceCategory, name: string, t0: number, t1 = traceNow(), args?: Record<string, unknown>): number {
    let ts = t0;
    if (this.cursor > 0) {
      if (ts - this.cursor >= MIN_GAP_US) {
        this.push('js', 'JS between ops', this.tid, this.cursor, ts - this.cursor);
        this.cursor = ts;
      } else if (ts < this.cursor) {
        ts = this.cursor;
      }
    }
    // Nothing left: shorter than the clock's step, or wholly inside time already accounted for.
    if (t1 <= ts) return t1;
    this.push(cat, name, this.tid, ts, t1 - ts, args);
    this.cursor = t1;
    return t1;
  }

  /**
   * Notes the size of the op about to run (partsFor: its work in the op's units, and the
   * grain a part needs); the op's next kernel spans carry it (takeOpWork).
   */
  noteOpWork(work: number, grain: number): void {
    this.opWork = { work, grain };
  }

  /** The size noted for the op now running (once: the next op notes its own), or undefined. */
  takeOpWork(): { work: number; grain: number } | undefined {
    const w = this.opWork;
    this.opWork = undefined;
    return w;
  }

  /** Ends the current stretch of the own track without a 'js' gap after it (the thread goes idle, or a new task starts). */
  resetCursor(): void {
    this.cursor = 0;
  }

  /** A span on any track (virtual ones may overlap the own track). */
  spanOn(tid: number, cat: TraceCategory, name: string, t0: number, t1: number, args?: Record<string, unknown>): void {
    this.push(cat, name, tid, t0, Math.max(0, t1 - t0), args);
  }

  /** Events recorded so far (GC entries delivered first), then an empty buffer. */
  take(): TraceEvent[] {
    if (this.gc) this.addGc(this.gc.takeRecords(), this.trackOf(99, `${this.threadName}: GC`));
    const out = this.events.splice(0);
    this.named.clear();
    return out;
  }

  stop(): void {
    this.gc?.disconnect();
    this.gc = null;
  }

  private addGc(entries: readonly PerformanceEntry[], track: number): void {
    for (const e of entries)
      this.push('gc', 'GC', track, (performance.timeOrigin + e.startTime) * 1000, e.duration * 1000);
  }

  private push(cat: string, name: string, tid: number, ts: number, dur: number, args?: Record<string, unknown>): void {
    this.events.push(
      args
        ? { name, cat, ph: 'X', ts, dur, pid: this.pid, tid, args }
        : { name, cat, ph: 'X', ts, dur, pid: this.pid, tid },
    );
  }
}

/** This thread's tracer while a trace is recorded; null (the default) costs one check per op. */
export let tracer: Tracer | null = null;
/** Events handed back by worker threads (main thread only). */
const absorbed: TraceEvent[] = [];

/** Starts recording on this thread (the main thread's is named "main"). Returns the tracer. */
export function startTrace(name = isMainThread ? 'main' : `worker ${threadId}`): Tracer {
  if (!tracer) {
    const t = new Tracer(name);
    tracer = t;
    noteOpWorkWith((work, grain) => t.noteOpWork(work, grain));
  }
  return tracer;
}

/** Adds events a worker recorded (ignored when no trace is being recorded here). */
export function absorbTrace(events: readonly TraceEvent[] | undefined): void {
  if (tracer && events?.length) for (const e of events) absorbed.push(e);
}

/** Stops recording on this thread and returns every event (its own and those absorbed). */
export function stopTrace(): TraceEvent[] {
  if (!tracer) return [];
  const t = tracer;
  tracer = null;
  noteOpWorkWith(null);
  const out = [...t.take(), ...absorbed.splice(0)];
  t.stop();
  return out;
}

/** The events as a trace file's JSON: metadata first, then spans by time from 0, names of the process and its tracks. */
export function traceJson(events: readonly TraceEvent[], processName = 'graft'): string {
  const spans = events.filter((e) => e.ph === 'X').sort((a, b) => a.ts! - b.ts! || b.dur! - a.dur!);
  const t0 = spans.length ? spans[0]!.ts! : 0;
  const meta = new Map<string, TraceEvent>();
  for (const e of events) if (e.ph === 'M') meta.set(`${e.pid}:${e.tid}:${e.name}`, e);
  const pids = new Set(events.map((e) => e.pid));
  const procs: TraceEvent[] = [...pids].map((pid) => ({
    name: 'process_name',
    ph: 'M',
    pid,
    tid: 0,
    args: { name: processName },
  }));
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  const out = [...procs, ...meta.values(), ...spans.map((e) => ({ ...e, ts: round(e.ts! - t0), dur: round(e.dur!) }))];
  return `{"traceEvents":[\n${out.map((e) => JSON.stringify(e)).join(',\n')}\n],"displayTimeUnit":"ms"}\n`;
}

/** Stops recording and writes the trace file (atomically); returns the events written. */
export function writeTrace(file: string, processName?: string): TraceEvent[] {
  const events = stopTrace();
  writeFileAtomic(file, traceJson(events, processName));
  return events;
}

/** Per track (by its name) and category: the total µs and the number of spans. */
export function traceSummary(events: readonly TraceEvent[]): Map<string, Map<string, { us: number; n: number }>> {
  const names = new Map<string, string>();
  for (const e of events)
    if (e.ph === 'M' && e.name === 'thread_name') names.set(`${e.pid}:${e.tid}`, String(e.args?.['name']));
  const out = new Map<string, Map<string, { us: number; n: number }>>();
  for (const e of events) {
    if (e.ph !== 'X') continue;
    const track = names.get(`${e.pid}:${e.tid}`) ?? `thread ${e.tid}`;
    const cats = out.get(track) ?? new Map<string, { us: number; n: number }>();
    out.set(track, cats);
    const c = cats.get(e.cat!) ?? { us: 0, n: 0 };
    c.us += e.dur!;
    c.n++;
    cats.set(e.cat!, c);
  }
  return out;
}

/** The summary as text lines: per thread's own track, each category's share of the track's time. */
export function formatTraceSummary(events: readonly TraceEvent[]): string {
  const lines: string[] = [];
  for (const [track, cats] of traceSummary(events)) {
    if (track.includes(': ')) continue; // virtual tracks overlap the thread's own: not shares of it
    const total = [...cats.values()].reduce((a, c) => a + c.us, 0);
    const parts = [...cats.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .map(([cat, c]) => `${cat} ${((100 * c.us) / total).toFixed(1)}% (${c.n})`);
    lines.push(`${track}: ${(total / 1000).toFixed(1)} ms traced: ${parts.join(', ')}`);
  }
  return lines.join('\n');
}

/**
 * For the CLI: records a trace when `file` is given and writes it when the process exits
 * (after the command has closed its runtimes, whose workers hand their events back then).
 */
export function traceToFile(file: string | undefined): void {
  if (file === undefined) return;
  startTrace();
  process.once('exit', () => {
    writeTrace(file);
  });
}

/** Wraps a heap's alloc and free in 'alloc' spans while this thread traces (the heap is left as it was when not). */
export function traceHeap(heap: { alloc(bytes: number, what?: string): number; free(ptr: number): void }): void {
  if (!tracer) return;
  const alloc = heap.alloc.bind(heap),
    free = heap.free.bind(heap);
  heap.alloc = (bytes: number, what?: string): number => {
    const tr = tracer,
      t0 = tr ? traceNow() : 0;
    try {
      return alloc(bytes, what);
    } finally {
      tr?.span('alloc', 'alloc', t0);
    }
  };
  heap.free = (ptr: number): void => {
    const tr = tracer,
      t0 = tr ? traceNow() : 0;
    try {
      free(ptr);
    } finally {
      tr?.span('alloc', 'free', t0);
    }
  };
}

/** Runs `body` as a span on virtual track `k` of this thread (a step, a shard, a trial); just `body()` when not tracing. */
export async function traceTrack<T>(
  k: number,
  trackName: string,
  name: string,
  body: () => Promise<T>,
  args?: Record<string, unknown>,
): Promise<T> {
  const tr = tracer;
  if (!tr) return body();
  const t0 = traceNow();
  try {
    return await body();
  } finally {
    tr.spanOn(tr.trackOf(k, `${tr.threadName}: ${trackName}`), 'step', name, t0, traceNow(), args);
  }
}

/** A kernel's category on the timeline: copies apart from arithmetic. */
export function kernelCategory(id: number): TraceCategory {
  const name = kernelName(id);
  return name === 'copyF32' ? 'copy' : 'compute';
}
