import type { Config } from '../config/config';
import { InvalidArgumentError, UnavailableError } from '../errors';
import type { Logger } from '../log';
import { cgroupManagerName, effectiveMonitorCgroup } from '../oci/cgroup-systemd';
import { OciRuntime } from '../oci/runtime';
import { findExecutable } from '../process';

/** Why a configured handler cannot be used (binary missing), kept to answer RPCs clearly. */
type HandlerEntry = ({ runtime: OciRuntime } | { error: string }) & { signature: string };

/**
 * The configured runtime handlers ([crio.runtime.runtimes.<name>]), each an OciRuntime driving
 * its binary under conmon. A handler whose runtime or conmon binary is missing stays listed and
 * every RPC using it fails with UNAVAILABLE naming the missing binary (CRI-O just drops it).
 */
export class RuntimeHandlers {
  private constructor(
    private readonly entries: Map<string, HandlerEntry>,
    private readonly defaultName: string,
  ) {}

  /**
   * Resolves binaries of every handler. On a reload (`previous`), a handler whose settings did not
   * change keeps its OciRuntime, so stops and execs in progress are not disturbed.
   */
  static async create(config: Config, bundlesDir: string, log: Logger, previous?: RuntimeHandlers): Promise<RuntimeHandlers> {
    const entries = new Map<string, HandlerEntry>();
    const cgroupManager = cgroupManagerName(config.runtime.cgroup_manager);
    for (const [name, h] of Object.entries(config.runtime.runtimes)) {
      const signature = JSON.stringify([h, config.runtime.conmon, config.runtime.conmon_cgroup, config.runtime.log_level, config.runtime.log_size_max]);
      const kept = previous?.entries.get(name);
      if (kept && kept.signature === signature && 'runtime' in kept) {
        entries.set(name, kept);
        continue;
      }
      const runtimePath = await findExecutable(h.runtime_path || name);
      const conmonName = h.monitor_path || config.runtime.conmon || 'conmon';
      const conmonPath = await findExecutable(conmonName);
      if (!runtimePath) {
        const error = `runtime handler ${JSON.stringify(name)}: runtime binary ${JSON.stringify(h.runtime_path || name)} not found (install it or set runtime_path)`;
        log.warn('runtime handler unusable', { handler: name, err: error });
        entries.set(name, { error, signature });
        continue;
      }
      if (!conmonPath) {
        const error = `runtime handler ${JSON.stringify(name)}: conmon binary ${JSON.stringify(conmonName)} not found (install conmon or set monitor_path)`;
        log.warn('runtime handler unusable', { handler: name, err: error });
        entries.set(name, { error, signature });
        continue;
      }
      entries.set(name, {
        signature,
        runtime: new OciRuntime({
          runtimePath,
          runtimeRoot: h.runtime_root || `/run/${name}`,
          conmonPath,
          exitsDir: config.runtime.container_exits_dir,
          persistDir: bundlesDir,
          cgroupManager,
          // cgroupfs: conmon stays in the daemon's cgroup, as before; systemd: a scope in this slice (or the pod's).
          ...(cgroupManager === 'systemd' ? { monitorCgroup: effectiveMonitorCgroup(cgroupManager, config.runtime.conmon_cgroup, h.monitor_cgroup) } : {}),
          logLevel: config.runtime.log_level,
          logSizeMax: config.runtime.log_size_max,
          log: log.child({ handler: name }),
          sealedCopy: true,
        }),
      });
    }
    return new RuntimeHandlers(entries, config.runtime.default_runtime);
  }

  /** The runtime for a handler name ('' = default_runtime). */
  get(handler: string): OciRuntime {
    const name = handler || this.defaultName;
    const entry = this.entries.get(name);
    if (!entry) {
      throw new InvalidArgumentError(
        `runtime handler ${JSON.stringify(name)} is not configured; known handlers: ${[...this.entries.keys()].join(', ')}`,
      );
    }
    if ('error' in entry) throw new UnavailableError(entry.error);
    return entry.runtime;
  }

  /** After a reload took these handlers: the runtimes of `previous` that none of them kept go (their sealed runc copies). */
  retireReplaced(previous: RuntimeHandlers): void {
    const kept = new Set(this.usable());
    for (const runtime of previous.usable()) if (!kept.has(runtime)) runtime.dispose();
  }

  /** A reload that failed after making these handlers: the runtimes it made for nothing go. */
  discard(previous: RuntimeHandlers): void {
    previous.retireReplaced(this);
  }

  /** Every usable runtime (for exit watching). */
  usable(): OciRuntime[] {
    return [...this.entries.values()].flatMap((e) => ('runtime' in e ? [e.runtime] : []));
  }
}
