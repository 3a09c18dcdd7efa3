import { mkdirSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { OpContext } from '../context';
import { InternalError, NotFoundError } from '../errors';
import { pathExists } from '../fsutil';
import { readKernelFile } from '../procfs';
import type { Logger } from '../log';
import { cgroupLayout, controllerDir } from './cgroup-layout';
import type { CgroupManagerName } from './cgroup-systemd';
import { type ContainerInfo, killConmon, loadContainerInfo, processesGone } from './container-info';
import { conmonLogLevel, conmonPidFile, containerPidFile } from './conmon-args';
import { launchConmon, type WaitingConmon } from './conmon';
import { conmonPlacement } from './conmon-placement';
import type { StreamIo } from './conmon-attach';
import { buildExecProcess, type ExecProcessOptions } from './exec-process';
import { runExecStream } from './exec-stream';
import { reapOrphanedExecs } from './exec-orphans';
import { runExecSync, type ExecSyncResult } from './exec-sync';
import { execFifoPath, startThroughExecFifo, usesRuncExecFifo } from './exec-fifo';
import { type ExitInfo, readExitFile, watchExitFiles } from './exit-files';
import { processStartTime, sameProcessAlive } from './pids';
import { reopenContainerLog } from './reopen-log';
import { ignoreNotRunning, Runc, type RuncStatus } from './runc';
import type { LinuxResources, Spec, SpecProcess } from './spec-input';
import { SealedRuntime } from './sealed-runtime';
import { StopOperation } from './stop-loop';
import { faultPoint } from '../fault-points';

/** Options of OciRuntime (one per runtime handler). */
export interface OciRuntimeOptions {
  runtimePath: string;
  /** runc `--root`: where runc keeps its state. */
  runtimeRoot: string;
  conmonPath: string;
  /** conmon writes `<exitsDir>/<id>` when a container exits. */
  exitsDir: string;
  /** Root of per-container runtime dirs (`<persistDir>/<id>`: conmon's exit/oom files, exec temp files). */
  persistDir: string;
  /** conmon `--socket-dir-path`; defaults to persistDir. */
  socketDir?: string;
  /** systemd: runc and conmon get `--systemd-cgroup`, conmon goes into a transient scope. */
  cgroupManager: CgroupManagerName;
  /** cgroupfs only: conmon cgroup (cgroupfs path) set before conmon forks, e.g. the pod cgroup; omitted = stay in the daemon's. */
  conmonCgroup?: string;
  /** systemd only: slice of conmon's `crio-conmon-<id>.scope`, or "pod" (the container's slice); default system.slice. */
  monitorCgroup?: string;
  /** systemd only: the daemon's unit conmon's scopes are ordered after (CRI-O: crio.service). */
  serviceUnit?: string;
  logLevel: string;
  log: Logger;
  /** conmon --log-size-max; omitted or negative = unlimited. */
  logSizeMax?: number;
  /** How long runc create may take (CRI-O: 240 s). */
  createTimeoutMs?: number;
  /** Run `runc create`/`runc exec` from a sealed copy of a runc binary (sealed-runtime.ts). */
  sealedCopy?: boolean;
}

/** What createContainer needs about one container. */
export interface CreateContainerOptions {
  containerId: string;
  name: string;
  /** Holds config.json. */
  bundleDir: string;
  /** CRI log path; conmon writes the k8s-file format into it. */
  logPath: string;
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
}

/** A create whose conmon waits on its start pipe (prepareCreate). */
export interface PendingCreate {
  /** The waiting (intermediate) conmon. */
  conmonPid: number;
  /** Lets conmon run `runc create`; config.json and the rootfs must be complete. Cleans up itself on failure. */
  create(): Promise<{ pid: number; conmonPid: number }>;
  /** Kills the waiting conmon and removes what it and prepareCreate made (log file, persist dir). A no-op after create(). */
  abandon(): Promise<void>;
}

/** Options of execSync (user overrides the container's process user). */
export interface ExecSyncOptions extends Omit<ExecProcessOptions, 'cmd'> {
  cmd: string[];
  /** 0 = no timeout. */
  timeoutSec: number;
}

/** Container state as runc reports it. */
export interface ContainerRuntimeState {
  status: RuncStatus;
  pid: number;
}

/** The runtime driver: the only code that runs runc and conmon. */
export class OciRuntime {
  private readonly runc: Runc;
  private readonly info = new Map<string, ContainerInfo>();
  private readonly stops = new Map<string, StopOperation>();
  /** Unsubscribes the exit-file watch that wakes running stops; set while any stop runs. */
  private exitWatch: (() => void) | undefined;
  private rro: Promise<boolean> | undefined;
  /** Whether the runtime is a runc started through its exec FIFO; probed once. */
  private execFifo: Promise<boolean> | undefined;
  private readonly sealed: SealedRuntime | undefined;

  constructor(private readonly options: OciRuntimeOptions) {
    this.runc = new Runc(options.runtimePath, options.runtimeRoot, options.log, options.cgroupManager === 'systemd');
    this.sealed = options.sealedCopy ? SealedRuntime.start(options.runtimePath, options.log, options.createTimeoutMs ?? 240_000) : undefined;
  }

  /** The runtime path for calls that start a `runc init` (create, exec): the sealed copy when there is one. */
  private initPath(): string {
    return this.sealed?.path() ?? this.options.runtimePath;
  }

  /** This handler was replaced (reload): its sealed copy goes once calls already started are past their exec. */
  dispose(): void {
    this.sealed?.retire();
  }

  private containerDir(containerId: string): string {
    return path.join(this.options.persistDir, containerId);
  }

  /** Cached facts about a container, loaded from runc state and the bundle after a daemon restart. */
  private async containerInfo(containerId: string): Promise<ContainerInfo> {
    const cached = this.info.get(containerId);
    if (cached) return cached;
    const info = await loadContainerInfo(this.runc, containerId);
    this.info.set(containerId, info);
    return info;
  }

  /** The container's facts with its spec process loaded (the base of every exec). */
  private async withProcess(containerId: string): Promise<ContainerInfo & { process: SpecProcess }> {
    const info = await this.containerInfo(containerId);
    if (info.process === undefined) {
      const configPath = path.join(info.bundleDir, 'config.json');
      const spec = JSON.parse(await fs.readFile(configPath, 'utf8')) as Spec;
      if (!spec.process) throw new InternalError(`${configPath} has no process`);
      info.process = spec.process;
    }
    return { ...info, process: info.process };
  }

  /** Creates the container via conmon + `runc create`; the process waits for startContainer. */
  async createContainer(opts: CreateContainerOptions, ctx: OpContext): Promise<{ pid: number; conmonPid: number }> {
    const pending = await this.prepareCreate(opts, ctx);
    return pending.create();
  }

  /**
   * The first half of createContainer, for callers that still build the bundle: conmon is
   * spawned now and waits on its start pipe (conmon.ts says what it has touched by then: only
   * the CRI log file), so its spawn and start-up overlap the rootfs and spec work. Needs the
   * bundle directory (conmon's working directory) and the log directory; config.json and the
   * rootfs only by `create()`. Exactly one of `create()` and `abandon()` must follow.
   */
  async prepareCreate(opts: CreateContainerOptions, ctx: OpContext): Promise<PendingCreate> {
    const o = this.options;
    const dir = this.containerDir(opts.containerId);
    await Promise.all([
      fs.mkdir(o.exitsDir, { recursive: true, mode: 0o700 }),
      fs.mkdir(dir, { recursive: true, mode: 0o700 }),
      fs.mkdir(path.dirname(opts.logPath), { recursive: true }),
      // Leftovers of an earlier attempt would make the new container look exited at once, or make the
      // failure cleanup below kill whatever process now has an old conmon PID.
      ...[path.join(o.exitsDir, opts.containerId), containerPidFile(opts.bundleDir), conmonPidFile(opts.bundleDir)].map((f) => fs.rm(f, { force: true })),
    ]);
    const started = Date.now();
    let conmon: WaitingConmon;
    try {
      conmon = await launchConmon({
        conmonPath: o.conmonPath,
        args: {
          containerId: opts.containerId,
          name: opts.name,
          runtimePath: this.initPath(),
          runtimeRoot: o.runtimeRoot,
          bundleDir: opts.bundleDir,
          logPath: opts.logPath,
          exitsDir: o.exitsDir,
          persistDir: dir,
          socketDir: o.socketDir ?? o.persistDir,
          logLevel: conmonLogLevel(o.logLevel),
          terminal: opts.terminal,
          stdin: opts.stdin,
          stdinOnce: opts.stdinOnce,
          logSizeMax: o.logSizeMax,
          systemdCgroup: o.cgroupManager === 'systemd',
        },
        timeoutMs: o.createTimeoutMs ?? 240_000,
        signal: ctx.signal,
      });
    } catch (err) {
      await this.cleanupFailedCreate(opts, ctx.log);
      throw this.createError(opts, ctx, err);
    }
    let settled = false;
    const create = async (): Promise<{ pid: number; conmonPid: number }> => {
      if (settled) throw new InternalError(`create container ${opts.containerId}: already created or abandoned`);
      settled = true;
      try {
        // After config.json is written: with monitor cgroup "pod" the placement reads its cgroupsPath.
        const beforeStart = await conmonPlacement({ ...o, containerId: opts.containerId, bundleDir: opts.bundleDir, signal: ctx.signal });
        const result = await conmon.start(beforeStart);
        const [pidStartTime, conmonStartTime] = await Promise.all([processStartTime(result.pid), processStartTime(result.conmonPid)]);
        this.info.set(opts.containerId, { bundleDir: opts.bundleDir, ...result, pidStartTime, conmonStartTime });
        ctx.log.info('container created', { containerId: opts.containerId, pid: result.pid, conmonPid: result.conmonPid, durationMs: Date.now() - started });
        return result;
      } catch (err) {
        await conmon.abort(); // a placement failure leaves it waiting
        await this.cleanupFailedCreate(opts, ctx.log);
        throw this.createError(opts, ctx, err);
      }
    };
    const abandon = async (): Promise<void> => {
      if (settled) return;
      settled = true;
      await conmon.abort();
      await this.cleanupFailedCreate(opts, ctx.log);
      await fs.rm(dir, { recursive: true, force: true });
    };
    return { conmonPid: conmon.pid, create, abandon };
  }

  private createError(opts: CreateContainerOptions, ctx: OpContext, err: unknown): Error {
    // Keep the caller's AbortError as is, so the server can answer CANCELLED/DEADLINE_EXCEEDED.
    if (err instanceof InternalError || (ctx.signal.aborted && err instanceof Error)) return err;
    return new InternalError(`create container ${opts.containerId}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  private async cleanupFailedCreate(opts: CreateContainerOptions, log: Logger): Promise<void> {
    await killConmon(opts.bundleDir);
    await this.runc.delete(opts.containerId, true).catch((err: unknown) => log.warn('cleanup step failed', { step: 'runc delete', containerId: opts.containerId, err: String(err) }));
    // CRI-O removes the log of a container that never came to be.
    await fs.rm(opts.logPath, { force: true });
    this.info.delete(opts.containerId);
  }

  /** Lets a created container's process run: what `runc start` does, in-process for runc (exec-fifo.ts). */
  async startContainer(containerId: string): Promise<void> {
    this.execFifo ??= this.runc.version().then(usesRuncExecFifo, () => false);
    if (await this.execFifo) {
      const info = await this.containerInfo(containerId).catch(() => undefined);
      const fifo = execFifoPath(this.options.runtimeRoot, containerId);
      if (info?.pid !== undefined && (await startThroughExecFifo(fifo, { pid: info.pid, startTime: info.pidStartTime }))) return;
    }
    // Not runc, or no FIFO (not in state created): runc itself starts it or says why not.
    await this.runc.start(containerId);
  }

  /** Status and init PID, or undefined when runc does not know the container. */
  async state(containerId: string): Promise<ContainerRuntimeState | undefined> {
    const st = await this.runc.state(containerId);
    return st && { status: st.status, pid: st.pid };
  }

  /** `runc delete`; a container runc does not know counts as deleted. */
  async delete(containerId: string, force: boolean): Promise<void> {
    await this.runc.delete(containerId, force);
    this.info.delete(containerId);
  }

  /** Removes crio-ts's own files of a container (exit file, per-container dir); for RemoveContainer. */
  async removeContainerFiles(containerId: string): Promise<void> {
    await fs.rm(path.join(this.options.exitsDir, containerId), { force: true });
    await fs.rm(this.containerDir(containerId), { recursive: true, force: true });
    this.info.delete(containerId);
  }

  /** conmon's record of the container's exit, if it has exited. */
  readExitFile(containerId: string): Promise<ExitInfo | undefined> {
    return readExitFile(this.options.exitsDir, containerId);
  }

  /** The container's facts, or undefined when runc does not know it. */
  private async knownInfo(containerId: string): Promise<ContainerInfo | undefined> {
    try {
      return await this.containerInfo(containerId);
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** True once the container has exited and conmon has recorded it (or conmon is gone too). */
  private async isGone(containerId: string): Promise<boolean> {
    if (await this.readExitFile(containerId)) return true;
    const info = await this.knownInfo(containerId);
    return info === undefined || processesGone(info);
  }

  /**
   * Stops a container: stop signal, up to `timeoutSec` of grace, then SIGKILL with backoff until it is
   * gone. Idempotent; a concurrent call joins the running stop and can only shorten its timeout.
   * If `ctx` is aborted the call rejects but the stop keeps going in the background.
   */
  async stopContainer(containerId: string, timeoutSec: number, stopSignal: string | number | (() => Promise<string | number>), ctx?: OpContext): Promise<void> {
    let op = this.stops.get(containerId);
    if (op) {
      op.shorten(timeoutSec * 1000);
    } else {
      const log = (ctx?.log ?? this.options.log).child({ containerId });
      // conmon's exit file wakes the loop at once: no poll interval or backoff after the exit.
      this.exitWatch ??= this.watchExits((id) => this.stops.get(id)?.poke());
      let directKillTried = false;
      const created = new StopOperation(
        {
          sendStopSignal: () =>
            ignoreNotRunning(async () => {
              // Looked up only when sent: a stop with no grace period (timeout 0) sends none.
              await this.runc.kill(containerId, typeof stopSignal === 'function' ? await stopSignal() : stopSignal);
              faultPoint('container-stop:signal-sent');
            }),
          kill: () =>
            ignoreNotRunning(async () => {
              if (!directKillTried) {
                directKillTried = true;
                if (await this.killInit(containerId)) return;
              }
              await this.runc.kill(containerId, 'KILL', true);
            }),
          isGone: () => this.isGone(containerId),
        },
        timeoutSec * 1000,
        log,
      );
      op = created;
      this.stops.set(containerId, created);
      void created.done
        .finally(() => {
          this.stops.delete(containerId);
          if (this.stops.size === 0) {
            this.exitWatch?.();
            this.exitWatch = undefined;
          }
        })
        .catch(() => undefined);
    }
    if (!ctx) return op.done;
    const signal = ctx.signal;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason instanceof Error ? signal.reason : new InternalError(`stop of container ${containerId} cancelled`));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      (op as StopOperation).done.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  /**
   * The first SIGKILL of a stop, sent to the init process directly when its PID and start time
   * are known and still match: what `runc kill <id> KILL` does, without spawning runc (a spawn
   * blocks this process 5-15 ms). In its own PID namespace the kernel takes the rest with it; in
   * the pod's, killLeftovers() clears the cgroup once the exit is recorded. False when it could
   * not: the loop then sends `runc kill --all`, as it does on every retry.
   */
  private async killInit(containerId: string): Promise<boolean> {
    const info = await this.knownInfo(containerId);
    if (info?.pid === undefined || info.pidStartTime === undefined) return false;
    if (!(await sameProcessAlive(info.pid, info.pidStartTime))) return false;
    try {
      process.kill(info.pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  }

  /** Runs a command in the running container (`runc exec`) and returns its output; a timeout yields exit -1. */
  async execSync(containerId: string, opts: ExecSyncOptions, ctx: OpContext): Promise<ExecSyncResult> {
    return runExecSync({ ...(await this.execBase(containerId, opts, ctx)), timeoutSec: opts.timeoutSec });
  }

  /** Interactive exec (CRI Exec stream) wired to the client's streams; resolves with the exit code. */
  async execStream(containerId: string, opts: ExecProcessOptions, io: StreamIo, ctx: OpContext): Promise<number> {
    return runExecStream({ ...(await this.execBase(containerId, opts, ctx)), io });
  }

  /** What both exec paths share; the container's own process (cached) is the base of the exec'd one. */
  private async execBase(containerId: string, opts: ExecProcessOptions, ctx: OpContext) {
    const info = await this.withProcess(containerId);
    return {
      runtimePath: this.initPath(),
      conmonPath: this.options.conmonPath,
      conmonLogLevel: conmonLogLevel(this.options.logLevel),
      runtimeRoot: this.options.runtimeRoot,
      systemdCgroup: this.options.cgroupManager === 'systemd',
      containerId,
      process: buildExecProcess(info.process, opts),
      workDir: this.containerDir(containerId),
      signal: ctx.signal,
      log: ctx.log,
    };
  }

  /** After a daemon restart: kills the execs it was running in this container when it died (exec-orphans.ts). */
  async reapOrphanedExecs(containerId: string, initPid: number): Promise<number> {
    return reapOrphanedExecs(this.containerDir(containerId), initPid, this.options.log);
  }

  /** True while a stop of the container is past its grace period and sending SIGKILL (CRI-O then refuses execs). */
  isBeingKilled(containerId: string): boolean {
    return this.stops.get(containerId)?.killing ?? false;
  }

  /**
   * Whether the container's conmon still runs: its PID with the start time seen when it was
   * spawned (or when the daemon first looked after a restart), so a reused PID does not count.
   * Undefined when runc no longer knows the container.
   */
  async monitorAlive(containerId: string): Promise<boolean | undefined> {
    const info = await this.knownInfo(containerId);
    if (info === undefined) return undefined;
    if (info.conmonPid === undefined || info.conmonStartTime === undefined) return false;
    return sameProcessAlive(info.conmonPid, info.conmonStartTime);
  }

  /** Whether the container's init process still runs (cached PID and start time); undefined if runc does not know it. */
  async processAlive(containerId: string): Promise<boolean | undefined> {
    const info = await this.knownInfo(containerId);
    if (info === undefined) return undefined;
    return info.pid !== undefined && sameProcessAlive(info.pid, info.pidStartTime);
  }

  /**
   * Kills what is left in the cgroup of a container whose init has exited (`runc kill --all`).
   * In a PID namespace shared with its pod, the kernel does not take the init's children with
   * it: they would run on, unaccounted, until RemoveContainer (containerd's shim kills them at
   * exit too). Reads cgroup.procs first, so an empty cgroup costs no runc spawn. True if it killed.
   */
  async killLeftovers(containerId: string, cgroupPath: string): Promise<boolean> {
    const layout = await cgroupLayout();
    const dir = controllerDir(layout, 'pids', cgroupPath) ?? controllerDir(layout, 'memory', cgroupPath);
    if (dir === undefined) return false;
    const procs = await readKernelFile(path.join(dir, 'cgroup.procs')).catch(() => '');
    if (procs.trim() === '') return false;
    await ignoreNotRunning(() => this.runc.kill(containerId, 'KILL', true));
    return true;
  }

  /** True when conmon recorded an OOM kill in the container (its `oom` file). */
  oomKilled(containerId: string): Promise<boolean> {
    return pathExists(path.join(this.containerDir(containerId), 'oom'));
  }

  /** Applies new cgroup limits to a created or running container (`runc update`). */
  updateResources(containerId: string, resources: LinuxResources): Promise<void> {
    return this.runc.update(containerId, resources);
  }

  /** Asks conmon to reopen the container's log file (after the kubelet rotated it). */
  async reopenLog(containerId: string, logPath: string): Promise<void> {
    await reopenContainerLog((await this.containerInfo(containerId)).bundleDir, logPath);
  }

  /** Whether this runc supports recursive read-only mounts (`rro`); probed once. */
  supportsRecursiveReadOnly(): Promise<boolean> {
    this.rro ??= this.runc.mountOptions().then((o) => o.includes('rro'), () => false);
    return this.rro;
  }

  /** Calls `onExit(id)` when conmon records a container exit; returns the unsubscribe function. */
  watchExits(onExit: (containerId: string) => void): () => void {
    mkdirSync(this.options.exitsDir, { recursive: true, mode: 0o700 });
    return watchExitFiles(this.options.exitsDir, onExit, this.options.log);
  }
}
