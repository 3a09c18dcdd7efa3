/** Pure argv builders for runc (one per subcommand used), in the manner of go-runc's `XxxOpts.args()`. */

/** Global flags every runc invocation takes. */
export function runcGlobalArgs(root: string): string[] {
  return ['--root', root];
}

/** `runc state <id>`. */
export function runcStateArgs(root: string, containerId: string): string[] {
  return [...runcGlobalArgs(root), 'state', containerId];
}

/** `runc start <id>`. */
export function runcStartArgs(root: string, containerId: string): string[] {
  return [...runcGlobalArgs(root), 'start', containerId];
}

/** `runc kill [--all] <id> <signal>`; numeric signals are passed as numbers, names without `SIG`. */
export function runcKillArgs(root: string, containerId: string, signal: string | number, all = false): string[] {
  const sig = typeof signal === 'number' ? String(signal) : signal.toUpperCase().replace(/^SIG/, '');
  return [...runcGlobalArgs(root), 'kill', ...(all ? ['--all'] : []), containerId, sig];
}

/** `runc delete [--force] <id>`. */
export function runcDeleteArgs(root: string, containerId: string, force: boolean): string[] {
  return [...runcGlobalArgs(root), 'delete', ...(force ? ['--force'] : []), containerId];
}

/** `runc exec --process <file> --pid-file <file> <id>`. */
export function runcExecArgs(root: string, containerId: string, processFile: string, pidFile: string): string[] {
  return [...runcGlobalArgs(root), 'exec', '--process', processFile, '--pid-file', pidFile, containerId];
}

/** `runc update --resources - <id>`: the LinuxResources JSON comes on stdin. */
export function runcUpdateArgs(root: string, containerId: string): string[] {
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
