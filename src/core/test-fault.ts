import { openSync, closeSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { GraftError } from './errors.js';

// An explicit test hook, off unless the environment variable GRAFT_TEST_FAULT is set, so no
// ordinary run can trip it. The fault tests use it to make ops fail on purpose, also in a
// spawned CLI (worker threads see the same environment):
//   GRAFT_TEST_FAULT=1                       the diagnostic 'faultInject' kernel may run
//   GRAFT_TEST_FAULT=throw:KERNEL:N[xR][:PART][@main|@worker]
//   GRAFT_TEST_FAULT=exit:KERNEL:N[xR][:PART][@main|@worker]
//        the N-th dispatch (1-based, counted per thread) of KERNEL throws in, or exits, the
//        thread that runs part PART (default: the op's last part), and with xR so do the R−1
//        dispatches after it (a fault that persists); with @main or @worker only dispatches
//        from the main thread, or from worker threads, count; with @helper only dispatches to a
//        team that has helper threads count, and the fault lands on the last helper whatever
//        the op's size (a worker that dies mid-op, in a test with small data)
//   GRAFT_TEST_FAULT=kill:KERNEL:N[@...]
//        the N-th dispatch of KERNEL sends SIGKILL to the whole process (kill -9 at a chosen point)
//   GRAFT_TEST_FAULT_ONCE=FILE   with any of them: the fault fires only if FILE can be created,
//        so once across threads, replacement workers, processes and resumed runs

/** Modes of the faultInject kernel (its argument 0). */
export const FAULT_THROW = 1;
export const FAULT_EXIT = 2;
const FAULT_KILL = 3;

export interface FaultPlan {
  mode: typeof FAULT_THROW | typeof FAULT_EXIT | typeof FAULT_KILL;
  kernel: string;
  call: number;
  /** Consecutive dispatches that fault, from the call-th on. */
  repeat: number;
  part: number | 'last';
  scope: 'main' | 'worker' | 'helper' | 'any';
}

const VAR = 'GRAFT_TEST_FAULT';
/** Read once per thread (ops ask on every dispatch); tests that change it call reloadFaultPlan. */
let state: { enabled: boolean; plan: FaultPlan | null; error: GraftError | null } | null = null;
let dispatches = 0;

function current(): NonNullable<typeof state> {
  if (state) return state;
  const spec = process.env[VAR];
  const enabled = spec !== undefined && spec !== '' && spec !== '0';
  let plan: FaultPlan | null = null,
    error: GraftError | null = null;
  if (enabled && spec !== '1') {
    const m = /^(throw|exit|kill):([A-Za-z]\w*):([1-9]\d*)(?:x([1-9]\d*))?(?::(\d+))?(?:@(main|worker|helper))?$/.exec(
      spec!,
    );
    if (!m)
      error = new GraftError(
        `${VAR}: expected 1, or throw|exit|kill:KERNEL:N[xR][:PART][@main|@worker|@helper], got ${JSON.stringify(spec)}`,
      );
    else {
      plan = {
        mode: m[1] === 'exit' ? FAULT_EXIT : m[1] === 'kill' ? FAULT_KILL : FAULT_THROW,
        kernel: m[2]!,
        call: Number(m[3]),
        repeat: m[4] === undefined ? 1 : Number(m[4]),
        part: m[5] === undefined ? 'last' : Number(m[5]),
        scope: (m[6] as FaultPlan['scope'] | undefined) ?? 'any',
      };
    }
  }
  state = { enabled, plan, error };
  return state;
}

/** Reads GRAFT_TEST_FAULT again and restarts the dispatch count (for tests that set it). */
export function reloadFaultPlan(): void {
  state = null;
  dispatches = 0;
}

export function testFaultEnabled(): boolean {
  return current().enabled;
}

/**
 * Called by a team before it dispatches `kernel` over `parts()` parts (`helpers`: the team's
 * threads besides the caller, 0 inline): the faultInject arguments and part count to dispatch
 * instead when this is the planned call, else null. Costs a field read when the hook is off.
 * (PART counts the parts the op was cut into; a team that has fewer threads merges parts
 * after this.)
 */
export function plannedFault(
  kernel: string,
  parts: () => number,
  helpers = 0,
): { args: [number, number]; parts: number } | null {
  const s = current();
  if (!s.enabled) return null;
  if (s.error) throw s.error;
  const plan = s.plan;
  if (!plan || plan.kernel !== kernel) return null;
  if (plan.scope === 'helper' ? helpers === 0 : plan.scope !== 'any' && (plan.scope === 'main') !== isMainThread)
    return null;
  const k = ++dispatches;
  if (k < plan.call || k >= plan.call + plan.repeat) return null;
  const once = process.env[`${VAR}_ONCE`];
  if (once) {
    try {
      closeSync(openSync(once, 'wx'));
    } catch {
      return null;
    } // fired already, somewhere
  }
  if (plan.mode === FAULT_KILL) process.kill(process.pid, 'SIGKILL');
  const n = plan.scope === 'helper' ? helpers + 1 : parts();
  const part = plan.part === 'last' ? n - 1 : Math.min(plan.part, n - 1);
  return { args: [plan.mode as number, part], parts: n };
}
