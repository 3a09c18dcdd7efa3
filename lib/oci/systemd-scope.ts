import { promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { errnoCode, InternalError } from '../errors';
import { runProgram, stderrTail } from '../process';
import { procCgroupInUnit, startTransientScopeArgs } from './cgroup-systemd';

/**
 * Puts a running process into a new systemd transient scope (the systemd driver's conmon
 * placement). busctl rather than `systemd-run --scope`: systemd-run can only start a new command,
 * while conmon is already running, blocked on its start pipe, when it must change cgroups; busctl
 * acts on that PID, leaves conmon's spawn (fds 3/4, env) identical for both drivers, and a
 * failure surfaces before conmon forks runc.
 */

/** What moveToTransientScope needs. */
export interface MoveToScopeOptions {
  pid: number;
  unit: string;
  slice: string;
  /** The daemon's own unit; the scope is ordered after it. */
  after?: string;
  /** busctl binary; default from $PATH. */
  busctlPath?: string;
  /** D-Bus address; default the system bus. */
  busAddress?: string;
  signal: AbortSignal;
  /** How long systemd may take to run the start job once queued (CRI-O waits up to 6 minutes). */
  timeoutMs?: number;
}

const POLL_MS = 10;
/** How long the D-Bus call itself may take. */
const BUSCTL_TIMEOUT_MS = 60_000;

function abortReason(o: MoveToScopeOptions): Error {
  return o.signal.reason instanceof Error ? o.signal.reason : new InternalError(`creating systemd scope ${o.unit} cancelled`);
}

/** Creates scope `unit` in `slice` around `pid` and resolves once the process sits in it. */
export async function moveToTransientScope(o: MoveToScopeOptions): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const args = startTransientScopeArgs({ unit: o.unit, slice: o.slice, pid: o.pid, after: o.after, busAddress: o.busAddress });
  const result = await runProgram(o.busctlPath ?? 'busctl', args, { timeoutMs: BUSCTL_TIMEOUT_MS, signal: o.signal });
  if (o.signal.aborted) throw abortReason(o);
  if (result.exitCode !== 0) {
    throw new InternalError(`cannot create systemd scope ${o.unit} in ${o.slice} for pid ${o.pid}: ${stderrTail(result) || `busctl exited with ${result.exitCode}`}`);
  }
  // StartTransientUnit returns once the start job is queued; the PID moves when the job runs.
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let text: string;
    try {
      text = await fs.readFile(`/proc/${o.pid}/cgroup`, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ESRCH') throw new InternalError(`pid ${o.pid} exited before systemd put it into ${o.unit}`, { cause: err });
      throw err;
    }
    if (procCgroupInUnit(text, o.unit)) return;
    if (o.signal.aborted) throw abortReason(o);
    if (Date.now() > deadline) throw new InternalError(`systemd did not move pid ${o.pid} into ${o.unit} within ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}
