import { promises as fs } from 'node:fs';
import { errnoCode } from '../errors';
import { readKernelFile } from '../procfs';

/** Small /proc and pid-file helpers shared by the runtime driver. */

/** The PID in a pid file (runc, conmon); undefined when the file is missing, empty or not a PID. */
export async function readPidFile(file: string): Promise<number | undefined> {
  try {
    const n = Number.parseInt((await fs.readFile(file, 'utf8')).trim(), 10);
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
}

/** The fields of /proc/<pid>/stat after `comm`, which may itself contain spaces and parentheses. */
async function statFields(pid: number): Promise<string[] | undefined> {
  try {
    const stat = await readKernelFile(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** True while `pid` exists and is not a zombie (a zombie has exited; only its parent's wait is missing). */
export async function pidAlive(pid: number): Promise<boolean> {
  const fields = await statFields(pid);
  return fields !== undefined && fields[0] !== 'Z';
}

/** The start time of `pid` (clock ticks since boot); with the PID it identifies a process across PID reuse. */
export async function processStartTime(pid: number): Promise<string | undefined> {
  return (await statFields(pid))?.[19];
}

/** True while the process `pid` that started at `startTime` still runs (a reused PID does not count). */
export async function sameProcessAlive(pid: number, startTime: string | undefined): Promise<boolean> {
  const fields = await statFields(pid);
  if (fields === undefined || fields[0] === 'Z') return false;
  return startTime === undefined || fields[19] === startTime;
}

/** The process group of `pid`, if the process exists. */
export async function processGroup(pid: number): Promise<number | undefined> {
  const pgrp = Number.parseInt((await statFields(pid))?.[2] ?? '', 10);
  return Number.isInteger(pgrp) ? pgrp : undefined;
}

function killQuietly(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // already gone
  }
}

/**
 * Kills the exec'd process and its process group (runc gives each exec its own session), like conmon
 * does. False when the pid file is not written yet.
 */
export async function killExecProcess(pidFile: string): Promise<boolean> {
  const pid = await readPidFile(pidFile);
  if (pid === undefined) return false;
  // Only a group the exec'd process leads is killed as a group; this can never be the daemon's group
  // or group 1 (which kill(-1) would turn into "everything").
  if (pid > 1 && pid !== process.pid && (await processGroup(pid)) === pid) killQuietly(-pid, 'SIGKILL');
  killQuietly(pid, 'SIGKILL');
  return true;
}
