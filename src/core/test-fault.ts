import { isMainThread } from 'node:worker_threads';
import { GraftError } from './errors.js';

// An explicit test hook, off unless the environment variable GRAFT_TEST_FAULT is set, so no
// ordinary run can trip it. The fault tests use it to make ops fail on purpose, also in a
// spawned CLI (worker threads see the same environment):
//   GRAFT_TEST_FAULT=1                       the diagnostic 'faultInject' kernel may run
//   GRAFT_TEST_FAULT=throw:KERNEL:N[:PART][@main|@worker]
//   GRAFT_TEST_FAULT=exit:KERNEL:N[:PART][@main|@worker]
//        the N-th dispatch (1-based, counted per thread) of KERNEL throws in, or exits, the
//        thread that runs part PART (default: the op's last part); with @main or @worker
//        only dispatches from the main thread, or from worker threads, count

/** Modes of the faultInject kernel (its argument 0). */
export const FAULT_THROW = 1;
export const FAULT_EXIT = 2;

export interface FaultPlan {
  mode: typeof FAULT_THROW | typeof FAULT_EXIT;
  kernel: string;
  call: number;
  part: number | 'last';
  scope: 'main' | 'worker' | 'any';
}

const VAR = 'GRAFT_TEST_FAULT';
/** Read once per thread (ops ask on every dispatch); tests that change it call reloadFaultPlan. */
let state: { enabled: boolean; plan: FaultPlan | null; error: GraftError | null } | null = null;
let dispatches = 0;

function current(): NonNullable<typeof state> {
  if (state) return state;
  const spec = process.env[VAR];
  const enabled = spec !== undefined && spec !== '' && spec !== '0';
  let plan: FaultPlan | null = null, error: GraftError | null = null;
  if (enabled && spec !== '1') {
    const m = /^(throw|exit):([A-Za-z]\w*):([1-9]\d*)(?::(\d+))?(?:@(main|worker))?$/.exec(spec!);
    if (!m) error = new GraftError(`${VAR}: expected 1, or throw|exit:KERNEL:N[:PART][@main|@worker], got ${JSON.stringify(spec)}`);
    else {
      plan = {
        mode: m[1] === 'exit' ? FAULT_EXIT : FAULT_THROW, kernel: m[2]!, call: Number(m[3]), part: m[4] === undefined ? 'last' : Number(m[4]),
        scope: (m[5] as 'main' | 'worker' | undefined) ?? 'any',
      };
    }
  }
  return (state = { enabled, plan, error });
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
 * Called by a team before it dispatches `kernel` over `parts()` parts: the faultInject
 * arguments to dispatch instead when this is the planned call, else null. Costs a field
 * read when the hook is off. (PART counts the parts the op was cut into; a team that has
 * fewer threads merges parts after this.)
 */
export function plannedFault(kernel: string, parts: () => number): [number, number] | null {
  const s = current();
  if (!s.enabled) return null;
  if (s.error) throw s.error;
  const plan = s.plan;
  if (!plan || plan.kernel !== kernel) return null;
  if (plan.scope !== 'any' && (plan.scope === 'main') !== isMainThread) return null;
  if (++dispatches !== plan.call) return null;
  const n = parts();
  const part = plan.part === 'last' ? n - 1 : Math.min(plan.part, n - 1);
  return [plan.mode, part];
}
