/** Pure argv builders for runc (one per subcommand used), in the manner of go-runc's `XxxOpts.args()`. */

/**
 * runc's global settings: its state root, and whether it uses the systemd cgroup driver. A bare
 * string is the root with the cgroupfs driver.
 */
export type RuncGlobal = string | { root: string; systemdCgroup: boolean };

/** Global flags every runc invocation takes (CRI-O adds `--systemd-cgroup` to all of them with that driver). */
export function runcGlobalArgs(g: RuncGlobal): string[] {
  if (typeof g === 'string') return ['--root', g];
  return ['--root', g.root, ...(g.systemdCgroup ? ['--systemd-cgroup'] : [])];
}

/** `runc state <id>`. */
export function runcStateArgs(root: RuncGlobal, containerId: string): string[] {
  return [...runcGlobalArgs(root), 'state', containerId];
}

/** `runc start <id>`. */
export function runcStartArgs(root: RuncGlobal, containerId: string): string[] {
  return [...runcGlobalArgs(root), 'start', containerId];
}

/** `runc kill [--all] <id> <signal>`; numeric signals are passed as numbers, names without `SIG`. */
export function runcKillArgs(root: RuncGlobal, containerId: string, signal: string | number, all = false): string[] {
  const sig = typeof signal === 'number' ? String(signal) : signal.toUpperCase().replace(/^SIG/, '');
  return [...runcGlobalArgs(root), 'kill', ...(all ? ['--all'] : []), containerId, sig];
}

/** `runc delete [--force] <id>`. */
export function runcDeleteArgs(root: RuncGlobal, containerId: string, force: boolean): string[] {
  return [...runcGlobalArgs(root), 'delete', ...(force ? ['--force'] : []), containerId];
}

/** `runc exec --process <file> --pid-file <file> <id>`. */
export function runcExecArgs(root: RuncGlobal, containerId: string, processFile: string, pidFile: string): string[] {
  return [...runcGlobalArgs(root), 'exec', '--process', processFile, '--pid-file', pidFile, containerId];
}

/** `runc update --resources - <id>`: the LinuxResources JSON comes on stdin. */
export function runcUpdateArgs(root: RuncGlobal, containerId: string): string[] {
  return [...runcGlobalArgs(root), 'update', '--resources', '-', containerId];
}

/** True when runc's stderr says the container is unknown to it. */
export function isRuncNotFound(stderr: string): boolean {
  return /container does not exist|container .* does not exist/.test(stderr);
}

/** True when runc refused a signal because the container's process is already gone. */
export function isRuncNotRunning(stderr: string): boolean {
  return /container not running|process already finished|no such process/i.test(stderr);
}

/** The `msg="…"` of runc's logrus lines (or the raw text), for error messages. */
export function runcErrorMessage(stderr: string): string {
  const msgs = [...stderr.matchAll(/level=(?:error|fatal) msg="((?:[^"\\]|\\.)*)"/g)].map((m) => (m[1] ?? '').replace(/\\(.)/g, '$1'));
  return msgs.length > 0 ? msgs.join('; ') : stderr.trim();
}
