import { promises as fs, type BigIntStats } from 'node:fs';
import path from 'node:path';
import { InvalidArgumentError, NotFoundError, errnoCode } from '../errors';
import type { SpecDeviceInput } from './spec-input';
import type { Device } from './spec.gen';
import { quote } from '../quote';

/**
 * Host device nodes → OCI `linux.devices` entries (CRI `devices`, crio.conf `additional_devices`,
 * host devices of privileged containers), read with stat(2) like runc's DeviceFromPath.
 */

/** Directories of /dev that are never copied into a container (runc skips them too). */
const SKIPPED_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/** Linux's major() of a dev_t. */
export function devMajor(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
}

/** Linux's minor() of a dev_t. */
export function devMinor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
}

function deviceType(st: BigIntStats): 'c' | 'b' | 'p' | undefined {
  if (st.isCharacterDevice()) return 'c';
  if (st.isBlockDevice()) return 'b';
  if (st.isFIFO()) return 'p';
  return undefined;
}

/** Checks a cgroup access string ("rwm" subset); empty means "rwm" as in CRI-O. */
export function devicePermissions(permissions: string, what: string): string {
  if (permissions === '') return 'rwm';
  if (!/^[rwm]{1,3}$/.test(permissions) || new Set(permissions).size !== permissions.length) {
    throw new InvalidArgumentError(`${what}: device permissions ${quote(permissions)} must be a combination of r, w and m`);
  }
  return permissions;
}

function entry(st: BigIntStats, type: 'c' | 'b' | 'p', containerPath: string, permissions: string, hostPath: string): SpecDeviceInput {
  const device: Device = {
    path: containerPath,
    type,
    major: devMajor(st.rdev),
    minor: devMinor(st.rdev),
    fileMode: Number(st.mode & 0o777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
  return hostPath === containerPath ? { device, permissions } : { device, permissions, hostPath };
}

async function walk(dir: string, containerDir: string, permissions: string, out: SpecDeviceInput[]): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    const hostPath = path.join(dir, name);
    const st = await fs.lstat(hostPath, { bigint: true }).catch(() => undefined);
    if (!st) continue; // vanished meanwhile
    if (st.isDirectory()) {
      if (!SKIPPED_DIRS.has(name)) await walk(hostPath, path.posix.join(containerDir, name), permissions, out);
      continue;
    }
    const type = deviceType(st);
    // /dev/console belongs to the container's own terminal; symlinks are resolved by their targets' entries.
    if (type === undefined || type === 'p' || name === 'console') continue;
    out.push(entry(st, type, path.posix.join(containerDir, name), permissions, hostPath));
  }
}

/**
 * The device(s) at `hostPath`, to appear at `containerPath`: a device node gives one entry, a
 * directory every device below it (CRI-O's devicesFromPath). Symlinks are followed.
 */
export async function devicesFromPath(hostPath: string, containerPath: string, permissions: string): Promise<SpecDeviceInput[]> {
  if (!path.isAbsolute(hostPath)) throw new InvalidArgumentError(`device host path ${quote(hostPath)} must be absolute`);
  const target = containerPath === '' ? hostPath : containerPath;
  if (!path.posix.isAbsolute(target)) throw new InvalidArgumentError(`device container path ${quote(containerPath)} must be absolute`);
  let st: BigIntStats;
  try {
    st = await fs.stat(hostPath, { bigint: true });
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new NotFoundError(`device ${hostPath} does not exist on the host`, { cause: err });
    throw err;
  }
  if (st.isDirectory()) {
    const out: SpecDeviceInput[] = [];
    await walk(hostPath, target, permissions, out);
    return out;
  }
  const type = deviceType(st);
  if (type === undefined) throw new InvalidArgumentError(`${hostPath} is not a device node`);
  return [entry(st, type, target, permissions, hostPath)];
}

/** The single device node at `hostPath` (a directory is refused), as runc's DeviceFromPath. */
export async function deviceFromPath(hostPath: string, containerPath: string, permissions: string): Promise<SpecDeviceInput> {
  const st = await fs.stat(hostPath, { bigint: true }).catch(() => undefined);
  if (st?.isDirectory()) throw new InvalidArgumentError(`${hostPath} is not a valid device: it is a directory`);
  const [d] = await devicesFromPath(hostPath, containerPath, permissions);
  if (d === undefined) throw new InvalidArgumentError(`${hostPath} is not a valid device`);
  return d;
}

const isDeviceMode = (m: string): boolean => /^[rwm]{1,3}$/.test(m) && new Set(m).size === m.length;

/**
 * Parses a device entry of crio.conf `additional_devices` or the `io.kubernetes.cri-o.Devices`
 * annotation as CRI-O does: `/host`, `/host:/ctr`, `/host:rwm` or `/host:/ctr:rwm`; the
 * container path defaults to the host path and must lie under /dev/.
 */
export function parseDeviceSpec(spec: string): { hostPath: string; containerPath: string; permissions: string } {
  const parts = spec.split(':');
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`device ${JSON.stringify(spec)}: ${why} (want /host/dev[:/ctr/dev][:rwm])`);
  };
  if (parts.length > 3) bad('too many fields');
  const [hostPath = '', second = '', third] = parts;
  let permissions = 'rwm';
  let containerPath = '';
  if (third !== undefined) {
    if (!isDeviceMode(third)) bad(`invalid permissions ${JSON.stringify(third)}`);
    permissions = third;
  }
  if (isDeviceMode(second)) permissions = second;
  else if (second !== '' && !second.startsWith('/')) bad(`invalid container path or permissions ${JSON.stringify(second)}`);
  else containerPath = second;
  if (!hostPath.startsWith('/')) bad('the host path must be absolute');
  containerPath ||= hostPath;
  if (!containerPath.startsWith('/dev/')) bad(`the container path ${JSON.stringify(containerPath)} must be under /dev/`);
  return { hostPath, containerPath, permissions };
}

/** Every device node under the host's /dev, for privileged containers. */
export async function hostDevices(): Promise<SpecDeviceInput[]> {
  const out: SpecDeviceInput[] = [];
  await walk('/dev', '/dev', 'rwm', out);
  return out;
}
