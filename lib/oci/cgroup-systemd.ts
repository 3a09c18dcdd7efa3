import path from 'node:path';
import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * The naming rules of the two cgroup drivers, as runc (libcontainer) and CRI-O apply them. Pure.
 * cgroupfs: a pod parent is an absolute path (`/kubepods/besteffort/pod<uid>`), a container
 * goes in `<parent>/crio-<id>`. systemd: a pod parent is a slice (`kubepods-besteffort-pod<uid>.slice`),
 * a container's runc cgroupsPath is `<slice>:crio:<id>`, which runc turns into the transient unit
 * `crio-<id>.scope` at `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/crio-<id>.scope`.
 * Values recorded by either driver are told apart by form: cgroupfs paths start with `/`.
 */

/** The two cgroup drivers (`[crio.runtime] cgroup_manager`). */
export type CgroupManagerName = 'cgroupfs' | 'systemd';

/** The driver a validated `cgroup_manager` value names (validateConfig admits only the two). */
export function cgroupManagerName(value: string): CgroupManagerName {
  return value === 'systemd' ? 'systemd' : 'cgroupfs';
}

/** Parent of pods and containers the kubelet gave no cgroup parent, systemd driver (CRI-O's defaultSystemdParent). */
export const DEFAULT_SYSTEMD_PARENT = 'system.slice';
/** Parent of pods the kubelet gave no cgroup parent, cgroupfs driver (CRI-O's defaultCgroupfsParent). */
export const DEFAULT_CGROUPFS_PARENT = '/crio';
/** Where conmon's scope goes with systemd unless monitor_cgroup says otherwise (CRI-O's defaultMonitorCgroup). */
export const DEFAULT_MONITOR_SLICE = 'system.slice';
/** monitor_cgroup value that puts conmon next to its container (CRI-O's utils.PodCgroupName). */
export const POD_MONITOR_CGROUP = 'pod';
/** Prefix of crio's cgroups: `crio-<id>` dirs (cgroupfs) and `crio-<id>.scope` units (systemd). */
export const CRIO_PREFIX = 'crio';

const SLICE_SUFFIX = '.slice';
/** systemd's UNIT_NAME_MAX counts the NUL. */
const UNIT_NAME_MAX = 255;
/** Characters systemd allows in unit names, minus `:` (runc's cgroupsPath separator). */
const UNIT_NAME_CHARS = /^[A-Za-z0-9_.\\@-]+$/;

/** Why `slice` is not a usable slice name, or undefined. */
function sliceProblem(slice: string): string | undefined {
  if (!slice.endsWith(SLICE_SUFFIX) || slice === SLICE_SUFFIX) return 'it must end with ".slice" after a name';
  if (slice.length > UNIT_NAME_MAX) return `it is longer than ${UNIT_NAME_MAX} characters`;
  if (!UNIT_NAME_CHARS.test(slice)) return 'it may only hold letters, digits and "_.\\@-" (no "/" or ":")';
  const name = slice.slice(0, -SLICE_SUFFIX.length);
  if (name === '-') return undefined; // the root slice
  // `-` separates hierarchy levels, so an empty level (`a--b`, `-a`, `a-`) names nothing.
  if (name.split('-').includes('')) return '"-" separates levels, so it may not lead, trail or repeat';
  return undefined;
}

/** True when `slice` is a valid systemd slice unit name such as `kubepods-besteffort.slice`. */
export function isValidSliceName(slice: string): boolean {
  return sliceProblem(slice) === undefined;
}

/** Throws InvalidArgumentError naming `slice` and `what` it is unless it is a valid slice name. */
function checkSlice(slice: string, what: string): void {
  const problem = sliceProblem(slice);
  if (problem !== undefined) throw new InvalidArgumentError(`${what} ${quote(slice)} is not a valid systemd slice: ${problem}`);
}

/**
 * The cgroup path of a slice, like libcontainer's ExpandSlice: `a-b-c.slice` →
 * `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` (the root slice) → `/`.
 */
export function expandSlice(slice: string): string {
  checkSlice(slice, 'slice');
  const name = slice.slice(0, -SLICE_SUFFIX.length);
  if (name === '-') return '/';
  let out = '';
  let prefix = '';
  for (const level of name.split('-')) {
    out += `/${prefix}${level}${SLICE_SUFFIX}`;
    prefix += `${level}-`;
  }
  return out;
}

/** The parts of runc's systemd cgroupsPath `slice:prefix:name`. */
export interface SystemdCgroupsPath {
  /** Parent slice; runc's default (system.slice) filled in when the path left it empty. */
  slice: string;
  prefix: string;
  name: string;
}

/** Parses runc's systemd cgroupsPath; throws InvalidArgumentError naming the path when malformed. */
export function parseSystemdCgroupsPath(cgroupsPath: string): SystemdCgroupsPath {
  const parts = cgroupsPath.split(':');
  if (parts.length !== 3 || parts[2] === '') {
    throw new InvalidArgumentError(`cgroups path ${quote(cgroupsPath)} is not of the systemd form "slice:prefix:name"`);
  }
  const [slice, prefix, name] = parts as [string, string, string];
  const parent = slice === '' ? DEFAULT_SYSTEMD_PARENT : slice;
  checkSlice(parent, `parent of cgroups path ${JSON.stringify(cgroupsPath)}`);
  return { slice: parent, prefix, name };
}

/** The unit runc creates for a systemd cgroupsPath: `<prefix>-<name>.scope`, or `name` itself when it is a slice. */
export function systemdUnitName(p: SystemdCgroupsPath): string {
  return p.name.endsWith(SLICE_SUFFIX) ? p.name : `${p.prefix}-${p.name}.scope`;
}

/** True when `cgroupsPath` is in the systemd form rather than a cgroupfs path. */
export function isSystemdCgroupsPath(cgroupsPath: string): boolean {
  return !cgroupsPath.startsWith('/') && cgroupsPath.includes(':');
}

/** Checks a spec cgroupsPath: an absolute cgroupfs path or a well-formed systemd `slice:prefix:name`. */
export function checkCgroupsPath(cgroupsPath: string): void {
  if (cgroupsPath.startsWith('/')) return;
  if (!isSystemdCgroupsPath(cgroupsPath)) {
    throw new InvalidArgumentError(`cgroups path ${quote(cgroupsPath)} is neither absolute (cgroupfs) nor "slice:prefix:name" (systemd)`);
  }
  parseSystemdCgroupsPath(cgroupsPath);
}

/**
 * Where a spec cgroupsPath lives below each hierarchy's root: a cgroupfs path as is, a systemd
 * one as `<expanded slice>/<unit>` (what the stats reader and the OOM check open).
 */
export function cgroupFsPath(cgroupsPath: string): string {
  if (!isSystemdCgroupsPath(cgroupsPath)) return cgroupsPath;
  const p = parseSystemdCgroupsPath(cgroupsPath);
  return path.posix.join(expandSlice(p.slice), systemdUnitName(p));
}

/** The directory of a recorded pod cgroup parent: a cgroupfs path as is, a slice expanded. */
export function cgroupParentPath(parent: string): string {
  return parent.startsWith('/') ? parent : expandSlice(parent);
}

/**
 * The pod cgroup parent to record for the one the kubelet sent, refusing the other driver's form
 * with InvalidArgumentError naming the parent. cgroupfs: an absolute path, default `/crio`.
 * systemd: a slice name, default system.slice; an expanded path (`/a.slice/a-b.slice`) is reduced
 * to its last slice as CRI-O does.
 */
export function podCgroupParent(manager: CgroupManagerName, requested: string): string {
  if (manager === 'cgroupfs') {
    if (requested === '') return DEFAULT_CGROUPFS_PARENT;
    if (requested.endsWith(SLICE_SUFFIX)) {
      throw new InvalidArgumentError(
        `cgroup parent ${quote(requested)} is a systemd slice but cgroup_manager is "cgroupfs"; set the kubelet's cgroupDriver to cgroupfs`,
      );
    }
    return requested.startsWith('/') ? requested : `/${requested}`;
  }
  if (requested === '') return DEFAULT_SYSTEMD_PARENT;
  const slice = path.posix.basename(requested);
  if (!slice.endsWith(SLICE_SUFFIX)) {
    throw new InvalidArgumentError(
      `cgroup parent ${quote(requested)} is not a systemd slice but cgroup_manager is "systemd"; set the kubelet's cgroupDriver to systemd`,
    );
  }
  checkSlice(slice, 'cgroup parent');
  return slice;
}

/**
 * The spec cgroupsPath of a container or infra container of a pod whose recorded parent is
 * `podParent`: `<parent>/crio-<id>` with cgroupfs (as before), `<slice>:crio:<id>` with systemd.
 */
export function containerCgroupsPath(manager: CgroupManagerName, podParent: string, containerId: string): string {
  if (manager === 'cgroupfs') return `${podParent}/${CRIO_PREFIX}-${containerId}`;
  const slice = podParent === '' ? DEFAULT_SYSTEMD_PARENT : podParent;
  checkSlice(slice, 'pod cgroup parent');
  return `${slice}:${CRIO_PREFIX}:${containerId}`;
}

/** The cgroup directory of a container from its pod's recorded parent, for records that did not store their cgroupsPath. */
export function containerCgroupDir(podParent: string, containerId: string): string {
  if (podParent.startsWith('/')) return `${podParent}/${CRIO_PREFIX}-${containerId}`;
  return path.posix.join(expandSlice(podParent), `${CRIO_PREFIX}-${containerId}.scope`);
}

/** The kubelet's container annotation holding the pod's termination grace period in seconds. */
const GRACE_PERIOD_ANNOTATION = 'io.kubernetes.pod.terminationGracePeriod';

/**
 * Spec annotations that runc turns into properties of the container's scope, as CRI-O adds them
 * with the systemd driver: collect the unit even when it failed, and let systemd wait the pod's
 * termination grace period when it stops the scope (node shutdown). None with cgroupfs.
 */
export function systemdScopeAnnotations(manager: CgroupManagerName, kubeAnnotations: Record<string, string>): Record<string, string> {
  if (manager === 'cgroupfs') return {};
  const grace = kubeAnnotations[GRACE_PERIOD_ANNOTATION];
  return {
    'org.systemd.property.CollectMode': "'inactive-or-failed'",
    // gvariant text: seconds → microseconds; a malformed value is left out rather than failing runc create.
    ...(grace !== undefined && /^\d{1,12}$/.test(grace) ? { 'org.systemd.property.TimeoutStopUSec': `uint64 ${grace}000000` } : {}),
  };
}

/** The transient scope conmon of a container runs in with systemd (CRI-O's `crio-conmon-<id>.scope`). */
export function conmonScopeName(containerId: string): string {
  return `${CRIO_PREFIX}-conmon-${containerId}.scope`;
}

/**
 * conmon's effective cgroup setting for a handler, as CRI-O derives it: `[crio.runtime]
 * conmon_cgroup` (deprecated) wins when set; systemd's default is system.slice; with cgroupfs
 * system.slice (CRI-O's default) means "", as no slice exists there.
 */
export function effectiveMonitorCgroup(manager: CgroupManagerName, conmonCgroup: string, monitorCgroup: string): string {
  const value = conmonCgroup !== '' ? conmonCgroup : monitorCgroup;
  if (manager === 'systemd') return value === '' ? DEFAULT_MONITOR_SLICE : value;
  return value === DEFAULT_MONITOR_SLICE ? '' : value;
}

/** What conmon's cgroup must look like under `manager` when `value` (an effective setting) is not that, else undefined. */
export function monitorCgroupExpectation(manager: CgroupManagerName, value: string): string | undefined {
  if (manager === 'cgroupfs') {
    return value === '' || value === POD_MONITOR_CGROUP ? undefined : '"pod" or "" with cgroup_manager "cgroupfs"';
  }
  if (value === POD_MONITOR_CGROUP || isValidSliceName(value)) return undefined;
  return '"pod" or a systemd slice such as "system.slice" with cgroup_manager "systemd"';
}

/**
 * The slice of conmon's scope: the configured slice, or with "pod" the slice of the container's
 * own systemd cgroupsPath (CRI-O passes the pod's cgroup parent; it is the same slice).
 */
export function conmonScopeSlice(monitorCgroup: string, containerCgroupsPath: string): string {
  if (monitorCgroup === '') return DEFAULT_MONITOR_SLICE;
  if (monitorCgroup === POD_MONITOR_CGROUP) return parseSystemdCgroupsPath(containerCgroupsPath).slice;
  checkSlice(monitorCgroup, 'conmon cgroup');
  return monitorCgroup;
}

/** What the transient scope for an existing process looks like. */
export interface TransientScopeOptions {
  unit: string;
  slice: string;
  pid: number;
  /** Unit the scope is ordered after, so a node shutdown stops it only once the daemon is gone. */
  after?: string;
  /** D-Bus address; default the system bus. */
  busAddress?: string;
}

/** SIGPIPE: conmon ignores it, so systemd stopping the scope at shutdown leaves conmon waiting for its container (CRI-O). */
const CONMON_KILL_SIGNAL = 13;

/**
 * busctl's argv (without argv[0]) for systemd's Manager.StartTransientUnit creating scope `unit` in
 * `slice` around the running process `pid`, with CRI-O's properties: Delegate (runc manages the
 * cgroups below), no default dependencies, KillSignal SIGPIPE, ordered after the daemon's
 * service, collected even when it failed. busctl ships with systemd, so it is on every host
 * where this driver can be chosen.
 */
export function startTransientScopeArgs(o: TransientScopeOptions): string[] {
  checkSlice(o.slice, 'scope slice');
  if (!o.unit.endsWith('.scope') || !UNIT_NAME_CHARS.test(o.unit) || o.unit.length > UNIT_NAME_MAX) {
    throw new InvalidArgumentError(`${quote(o.unit)} is not a valid systemd scope name`);
  }
  if (!Number.isInteger(o.pid) || o.pid <= 1) throw new InvalidArgumentError(`refusing to put pid ${o.pid} into a systemd scope`);
  const props: string[][] = [
    ['PIDs', 'au', '1', String(o.pid)],
    ['Delegate', 'b', 'true'],
    ['DefaultDependencies', 'b', 'false'],
    ['Slice', 's', o.slice],
    ['KillSignal', 'i', String(CONMON_KILL_SIGNAL)],
    ['CollectMode', 's', 'inactive-or-failed'],
    ...(o.after ? [['After', 'as', '1', o.after]] : []),
  ];
  return [
    o.busAddress ? `--address=${o.busAddress}` : '--system',
    'call',
    'org.freedesktop.systemd1',
    '/org/freedesktop/systemd1',
    'org.freedesktop.systemd1.Manager',
    'StartTransientUnit',
    'ssa(sv)a(sa(sv))',
    o.unit,
    'replace',
    String(props.length),
    ...props.flat(),
    '0', // no auxiliary units
  ];
}

/**
 * Whether a /proc/<pid>/cgroup text shows the process inside `unit` (its cgroup's last component,
 * in the cgroup v2 line or the name=systemd v1 line). StartTransientUnit only queues a job, so the
 * caller waits for this before letting conmon fork.
 */
export function procCgroupInUnit(procCgroup: string, unit: string): boolean {
  return procCgroup.split('\n').some((line) => {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) return false;
    const controllers = m[1];
    if (controllers !== '' && controllers !== 'name=systemd') return false;
    return path.posix.basename(m[2]) === unit;
  });
}
