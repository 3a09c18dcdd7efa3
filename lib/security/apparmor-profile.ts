import { InternalError } from '../errors';

/**
 * The `crio-default` AppArmor profile text, rendered like containers/common's template (pure): what the
 * daemon feeds to `apparmor_parser -Kr` when AppArmor is enabled.
 */

/** Template inputs: the parser version and which include files exist under /etc/apparmor.d. */
export interface AppArmorProfileOptions {
  name: string;
  /** apparmor_parser version as major*1e5 + minor*1e3 + patch (parseAppArmorParserVersion). */
  parserVersion: number;
  /** /etc/apparmor.d/tunables/global exists. */
  hasTunablesGlobal: boolean;
  /** /etc/apparmor.d/abstractions/base exists. */
  hasAbstractionsBase: boolean;
}

/** Parses `apparmor_parser --version` output ("AppArmor parser version 3.0.8"). */
export function parseAppArmorParserVersion(output: string): number {
  const firstLine = output.split('\n', 1)[0] ?? '';
  const word = firstLine.trim().split(' ').pop() ?? '';
  const version = (word.split('-')[0] ?? '').split('~')[0] ?? '';
  const parts = version.split('.');
  if (parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) throw new InternalError(`cannot parse apparmor_parser version from ${JSON.stringify(firstLine)}`);
  const [major = 0, minor = 0, patch = 0] = parts.map(Number);
  return major * 1e5 + minor * 1e3 + patch;
}

/** Profile names are used unquoted in the text, so only plain names are accepted. */
function checkName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new InternalError(`invalid AppArmor profile name ${JSON.stringify(name)}`);
  return name;
}

/** The profile text (containers/common `defaultProfileTemplate`). */
export function renderDefaultAppArmorProfile(options: AppArmorProfileOptions): string {
  const name = checkName(options.name);
  const lines: string[] = [options.hasTunablesGlobal ? '#include <tunables/global>' : '@{PROC}=/proc/', ''];
  lines.push(`profile ${name} flags=(attach_disconnected,mediate_deleted) {`);
  if (options.hasAbstractionsBase) lines.push('  #include <abstractions/base>');
  lines.push('', '  network,', '  capability,', '  file,', '  umount,', '');
  if (options.parserVersion >= 208096) {
    lines.push(
      '  # Allow signals from privileged profiles and from within the same profile',
      '  signal (receive) peer=unconfined,',
      `  signal (send,receive) peer=${name},`,
      '  # Allow certain signals from OCI runtimes (podman, runc and crun)',
      '  signal (receive) peer={/usr/bin/,/usr/sbin/,}runc,',
      '  signal (receive) peer={/usr/bin/,/usr/sbin/,}crun*,',
      '  signal (receive) peer={/usr/bin/,/usr/sbin/,}podman,',
      '',
    );
  }
  lines.push(
    '  deny @{PROC}/* w,   # deny write for all files directly in /proc (not in a subdir)',
    '  # deny write to files not in /proc/<number>/** or /proc/sys/**',
    '  deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9]*}/** w,',
    '  deny @{PROC}/sys/[^k]** w,  # deny /proc/sys except /proc/sys/k* (effectively /proc/sys/kernel)',
    '  deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,  # deny everything except shm* in /proc/sys/kernel/',
    '  deny @{PROC}/sysrq-trigger rwklx,',
    '  deny @{PROC}/kcore rwklx,',
    '',
    '  deny mount,',
    '',
    '  deny /sys/[^f]*/** wklx,',
    '  deny /sys/f[^s]*/** wklx,',
    '  deny /sys/fs/[^c]*/** wklx,',
    '  deny /sys/fs/c[^g]*/** wklx,',
    '  deny /sys/fs/cg[^r]*/** wklx,',
    '  deny /sys/firmware/** rwklx,',
    '  deny /sys/kernel/security/** rwklx,',
  );
  if (options.parserVersion >= 208095) {
    lines.push('', "  # suppress ptrace denials when using 'ps' inside a container", `  ptrace (trace,read) peer=${name},`);
  }
  lines.push('}', '');
  return lines.join('\n');
}
