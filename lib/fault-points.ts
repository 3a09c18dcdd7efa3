import { AsyncLocalStorage } from 'node:async_hooks';
import { writeSync } from 'node:fs';

/**
 * Deterministic fault injection for the crash tests (test/faults/). Code marks the steps of its
 * operations with `faultPoint('sandbox-stop:netns-unmounted')`; the daemon SIGKILLs itself when
 * the step named by CRIO_TS_FAULT_POINT is reached, so a test can crash it inside windows of a
 * few milliseconds that random kills almost never hit.
 *
 *   CRIO_TS_FAULT_POINT=<point>[@<n>]        die at the n-th hit (default 1) of <point>
 *   CRIO_TS_FAULT_POINT=<Rpc>/<point>[@<n>]  count only hits while serving that CRI RPC
 *   CRIO_TS_FAULT_POINT=trace                die nowhere; print every hit (`fault-point <Rpc> <point>`)
 *
 * The variable is read once, when this module loads. Unset, a point is one comparison and RPCs
 * run without an async context (no AsyncLocalStorage, no promise hooks): production pays nothing.
 */

interface Armed {
  mode: 'kill' | 'trace';
  rpc?: string;
  point?: string;
  nth: number;
}

/** Parses a CRIO_TS_FAULT_POINT value (exported for its unit test). */
export function parseFaultSpec(value: string | undefined): Armed | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'trace') return { mode: 'trace', nth: 0 };
  const m = /^(?:([A-Za-z]+)\/)?([a-z0-9-]+:[a-z0-9-]+)(?:@([1-9][0-9]*))?$/.exec(value);
  if (!m) throw new Error(`CRIO_TS_FAULT_POINT ${JSON.stringify(value.slice(0, 80))} is not [<Rpc>/]<area>:<step>[@<n>] or "trace"`);
  return { mode: 'kill', rpc: m[1], point: m[2], nth: m[3] === undefined ? 1 : Number(m[3]) };
}

const armed = parseFaultSpec(process.env['CRIO_TS_FAULT_POINT']);
// Only in fault mode: which RPC the current async work serves.
const scope = armed ? new AsyncLocalStorage<string>() : undefined;
let hits = 0;

/** Runs an RPC's handler; in fault mode its async work is tagged with the RPC name. */
export function inFaultScope<T>(rpc: string, fn: () => T): T {
  return scope ? scope.run(rpc, fn) : fn();
}

/** Marks a step; kills the process right here when it is the armed one. */
export function faultPoint(point: string): void {
  if (armed === undefined) return;
  const rpc = scope?.getStore() ?? '-';
  if (armed.mode === 'trace') {
    writeSync(2, `fault-point ${rpc} ${point}\n`);
    return;
  }
  if (point !== armed.point || (armed.rpc !== undefined && armed.rpc !== rpc)) return;
  if (++hits < armed.nth) return;
  writeSync(2, `fault-point ${rpc} ${point} reached: SIGKILL\n`);
  process.kill(process.pid, 'SIGKILL');
}
