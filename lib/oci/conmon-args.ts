import path from 'node:path';

/** Pure argv builder for conmon (2.1.x) when creating a container, mirroring CRI-O's runtime_oci.go. */

/** What conmon needs to create and monitor one container. */
export interface ConmonArgsOptions {
  containerId: string;
  name: string;
  runtimePath: string;
  runtimeRoot: string;
  bundleDir: string;
  /** CRI log path; conmon writes the k8s-file format (`<time> <stream> <F|P> <text>`). */
  logPath: string;
  exitsDir: string;
  /** Per-container directory; conmon writes `exit` and `oom` files into it. */
  persistDir: string;
  /** Where conmon would put the attach-socket symlink; with --full-attach the socket is `<bundle>/attach`. */
  socketDir: string;
  /** conmon log level: error, warn, info, debug or trace. */
  logLevel: string;
  terminal: boolean;
  stdin: boolean;
  stdinOnce: boolean;
  /** Bytes after which conmon truncates the log; omitted or negative = unlimited. */
  logSizeMax?: number;
  syslog?: boolean;
  /** systemd cgroup driver: conmon `--systemd-cgroup`, which makes it run `runc --systemd-cgroup create`. */
  systemdCgroup?: boolean;
}

/** Path of the container's bundle pidfile (the init PID runc writes). */
export function containerPidFile(bundleDir: string): string {
  return path.join(bundleDir, 'pidfile');
}

/** Path of conmon's own pidfile (the daemonised monitor's PID). */
export function conmonPidFile(bundleDir: string): string {
  return path.join(bundleDir, 'conmon-pidfile');
}

/** Path of the attach socket conmon creates with --full-attach. */
export function attachSocketPath(bundleDir: string): string {
  return path.join(bundleDir, 'attach');
}

/** The conmon argv (without argv[0]). */
export function buildConmonArgs(o: ConmonArgsOptions): string[] {
  const args = [
    // API 1: the sync message is `{"data": <pid>}`; it is required for attach-capable exec sessions later.
    '--api-version', '1',
    '-c', o.containerId,
    '-n', o.name,
    '-u', o.containerId,
    '-r', o.runtimePath,
    '-b', o.bundleDir,
    '-p', containerPidFile(o.bundleDir),
    '-P', conmonPidFile(o.bundleDir),
    '-l', `k8s-file:${o.logPath}`,
    '--exit-dir', o.exitsDir,
    '--persist-dir', o.persistDir,
    '--socket-dir-path', o.socketDir,
    // The attach socket path is then <bundle>/attach, not truncated to fit sun_path via a symlink.
    '--full-attach',
    '--log-level', o.logLevel,
    '--runtime-arg', `--root=${o.runtimeRoot}`,
  ];
  if (o.syslog) args.push('--syslog');
  // conmon itself adds runc's `--systemd-cgroup` (to create only), so it is not a --runtime-arg.
  if (o.systemdCgroup) args.push('--systemd-cgroup');
  if (o.logSizeMax !== undefined && o.logSizeMax >= 0) args.push('--log-size-max', String(o.logSizeMax));
  if (o.terminal) {
    args.push('-t');
  } else if (o.stdin) {
    args.push('-i');
    if (!o.stdinOnce) args.push('--leave-stdin-open');
  }
  return args;
}

/** Maps crio-ts/CRI-O log levels onto the names conmon accepts. */
export function conmonLogLevel(level: string): string {
  switch (level) {
    case 'fatal':
    case 'panic':
    case 'error':
      return 'error';
    case 'warn':
    case 'warning':
      return 'warn';
    case 'debug':
      return 'debug';
    case 'trace':
      return 'trace';
    default:
      return 'info';
  }
}

/** A message conmon writes to the sync pipe: a PID (create) or exit code (exec); -1 plus runc's text on failure. */
export interface ConmonSyncMessage {
  value: number;
  message?: string;
}

/** Parses one sync-pipe JSON line: `{"data": N}` (--api-version 1), `{"pid": N}` or `{"exit_code": N}` (legacy). */
export function parseConmonSyncMessage(line: string): ConmonSyncMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const record = parsed as Record<string, unknown>;
  const value = ['data', 'pid', 'exit_code'].map((k) => record[k]).find((v) => v !== undefined);
  if (typeof value !== 'number' || !Number.isInteger(value)) return undefined;
  const message = typeof record['message'] === 'string' ? record['message'] : undefined;
  return message === undefined ? { value } : { value, message };
}
