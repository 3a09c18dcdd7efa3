import { InternalError, NotFoundError } from '../errors';
import type { Logger } from '../log';
import { runProgram, type RunResult } from '../process';
import { isRuncNotFound, isRuncNotRunning, runcDeleteArgs, runcErrorMessage, runcKillArgs, runcStartArgs, runcStateArgs, runcUpdateArgs, type RuncGlobal } from './runc-args';
import type { LinuxResources } from './spec-input';

/** The short-lived runc subcommands (state/start/kill/delete); long-lived ones live in conmon.ts/exec-sync.ts. */

/** runc failed; carries what was run and why. */
export class RuncError extends InternalError {
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    // argv starts with the global `--root <dir>` (and `--systemd-cgroup`), which only add noise to the message.
    super(`runc ${argv.slice(argv[2] === '--systemd-cgroup' ? 3 : 2).join(' ')} failed (exit ${exitCode}): ${runcErrorMessage(stderr)}`);
  }
}

/** Status runc reports for a container. */
export type RuncStatus = 'created' | 'running' | 'stopped' | 'paused';

/** The part of `runc state` output crio-ts uses. */
export interface RuncState {
  status: RuncStatus;
  /** Init PID in the host PID namespace (0 once stopped). */
  pid: number;
  bundle: string;
}

const STATUSES: readonly RuncStatus[] = ['created', 'running', 'stopped', 'paused'];

/** Parses `runc state` JSON. */
export function parseRuncState(text: string): RuncState {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new InternalError(`runc state printed invalid JSON: ${text.slice(0, 200)}`, { cause: err });
  }
  const record = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const status = record['status'];
  const pid = record['pid'];
  const bundle = record['bundle'];
  if (typeof status !== 'string' || !STATUSES.includes(status as RuncStatus) || typeof pid !== 'number' || typeof bundle !== 'string') {
    throw new InternalError(`runc state printed an unexpected document: ${text.slice(0, 200)}`);
  }
  return { status: status as RuncStatus, pid, bundle };
}

/** Thin runc client bound to one binary and one state root. */
export class Runc {
  constructor(
    readonly path: string,
    readonly root: string,
    private readonly log: Logger,
    /** Pass `--systemd-cgroup` (the systemd cgroup driver), as CRI-O does on every runc call. */
    readonly systemdCgroup = false,
  ) {}

  private get global(): RuncGlobal {
    return { root: this.root, systemdCgroup: this.systemdCgroup };
  }

  private async run(args: string[], timeoutMs = 60_000, input?: string): Promise<RunResult> {
    this.log.debug('running runc', { argv: args });
    return runProgram(this.path, args, { timeoutMs, input, env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' } });
  }

  private fail(args: string[], result: RunResult): never {
    const stderr = result.stderr.toString('utf8');
    if (isRuncNotFound(stderr)) throw new NotFoundError(`container ${args[args.length - 1] ?? ''} not found by runc: ${runcErrorMessage(stderr)}`);
    throw new RuncError(args, result.exitCode, result.timedOut ? `${stderr}\n(timed out)` : stderr);
  }

  /** `runc state`; undefined when runc does not know the container. */
  async state(containerId: string): Promise<RuncState | undefined> {
    const args = runcStateArgs(this.global, containerId);
    const result = await this.run(args);
    if (result.exitCode === 0) return parseRuncState(result.stdout.toString('utf8'));
    if (isRuncNotFound(result.stderr.toString('utf8'))) return undefined;
    return this.fail(args, result);
  }

  /** `runc start`: lets the created container's init exec the user process. */
  async start(containerId: string): Promise<void> {
    const args = runcStartArgs(this.global, containerId);
    const result = await this.run(args);
    if (result.exitCode !== 0) this.fail(args, result);
  }

  /** `runc kill`; throws NotFoundError for unknown containers, RuncError otherwise. */
  async kill(containerId: string, signal: string | number, all = false): Promise<void> {
    const args = runcKillArgs(this.global, containerId, signal, all);
    const result = await this.run(args);
    if (result.exitCode !== 0) this.fail(args, result);
  }

  /** `runc update`: applies new cgroup limits to a created or running container. */
  async update(containerId: string, resources: LinuxResources): Promise<void> {
    const args = runcUpdateArgs(this.global, containerId);
    const result = await this.run(args, 60_000, JSON.stringify(resources));
    if (result.exitCode !== 0) this.fail(args, result);
  }

  /** Mount options `runc features` lists (empty if this runc has no `features`). */
  async mountOptions(): Promise<string[]> {
    const result = await this.run(['features']);
    if (result.exitCode !== 0) return [];
    const parsed = JSON.parse(result.stdout.toString('utf8')) as { mountOptions?: unknown };
    return Array.isArray(parsed.mountOptions) ? parsed.mountOptions.filter((o): o is string => typeof o === 'string') : [];
  }

  /** `runc --version` output (empty when it fails): tells runc from other OCI runtimes. */
  async version(): Promise<string> {
    const result = await this.run(['--version']);
    return result.exitCode === 0 ? result.stdout.toString('utf8') : '';
  }

  /** `runc delete`; a container runc does not know counts as deleted. */
  async delete(containerId: string, force: boolean): Promise<void> {
    const args = runcDeleteArgs(this.global, containerId, force);
    const result = await this.run(args);
    if (result.exitCode !== 0 && !isRuncNotFound(result.stderr.toString('utf8'))) this.fail(args, result);
  }
}

/** Runs a signal-sending step, treating "the container is already gone" as success (stop loops). */
export async function ignoreNotRunning(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof NotFoundError || (err instanceof Error && isRuncNotRunning(err.message))) return;
    throw err;
  }
}
