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
let parsed: { spec: string | undefined; plan: FaultPlan | null } | null = null;
let dispatches = 0;

export function testFaultEnabled(): boolean {
  const v = process.env[VAR];
  return v !== undefined && v !== '' && v !== '0';
}

/** The planned fault, or null (hook off, or on for 'faultInject' alone). */
export function faultPlan(): FaultPlan | null {
  const spec = process.env[VAR];
  if (parsed && parsed.spec === spec) return parsed.plan;
  let plan: FaultPlan | null = null;
  if (spec !== undefined && spec !== '' && spec !== '0' && spec !== '1') {
    const m = /^(throw|exit):([A-Za-z]\w*):([1-9]\d*)(?::(\d+))?(?:@(main|worker))?$/.exec(spec);
    if (!m) throw new GraftError(`${VAR}: expected 1, or throw|exit:KERNEL:N[:PART][@main|@worker], got ${JSON.stringify(spec)}`);
    plan = {
      mode: m[1] === 'exit' ? FAULT_EXIT : FAULT_THROW, kernel: m[2]!, call: Number(m[3]), part: m[4] === undefined ? 'last' : Number(m[4]),
      scope: (m[5] as 'main' | 'worker' | undefined) ?? 'any',
    };
  }
  parsed = { spec, plan };
  dispatches = 0;
  return plan;
}

/**
 * Called by a team before it dispatches `kernel` over `parts` parts: the faultInject
 * arguments to dispatch instead when this is the planned call, else null.
 */
export function plannedFault(kernel: string, parts: number): [number, number] | null {
  const plan = faultPlan();
  if (!plan || plan.kernel !== kernel) return null;
  if (plan.scope !== 'any' && (plan.scope === 'main') !== isMainThread) return null;
  if (++dispatches !== plan.call) return null;
  const part = plan.part === 'last' ? parts - 1 : Math.min(plan.part, parts - 1);
  return [plan.mode, part];
}
