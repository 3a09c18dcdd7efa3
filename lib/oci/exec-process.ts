import { InvalidArgumentError } from '../errors';
import type { SpecProcess } from './spec-input';

/** The process spec for `runc exec`, derived from the container's own process (pure). */

/** Per-exec overrides. */
export interface ExecProcessOptions {
  cmd: readonly string[];
  /** "KEY=VAL" entries that override the container's env by key. */
  env?: readonly string[];
  cwd?: string;
  user?: { uid: number; gid: number; additionalGids?: number[] };
  tty?: boolean;
}

/**
 * Copies the container's process (env, cwd, user, capabilities, noNewPrivileges, AppArmor/SELinux
 * labels, rlimits) and replaces args, as CRI-O's prepareProcessExec does. Terminal is off unless asked:
 * inheriting the container's `terminal: true` would make runc want a console socket.
 */
export function buildExecProcess(base: SpecProcess, options: ExecProcessOptions): SpecProcess {
  if (options.cmd.length === 0) throw new InvalidArgumentError('exec command is empty');
  // A shallow copy: nested values are replaced below, never changed in place (and the result is
  // only serialized), so the container's cached process stays as it was. structuredClone took
  // ~0.1 ms of every ExecSync.
  const process: SpecProcess = { ...base };
  process.args = [...options.cmd];
  process.terminal = options.tty ?? false;
  delete process.consoleSize;
  if (options.env !== undefined && options.env.length > 0) {
    const merged = new Map<string, string>();
    for (const entry of [...(base.env ?? []), ...options.env]) merged.set(entry.split('=', 1)[0] ?? entry, entry);
    process.env = [...merged.values()];
  }
  if (options.cwd !== undefined) process.cwd = options.cwd;
  if (options.user !== undefined) {
    process.user = { ...process.user, uid: options.user.uid, gid: options.user.gid, additionalGids: options.user.additionalGids ?? [options.user.gid] };
  }
  return process;
}
