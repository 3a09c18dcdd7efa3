import type { DeviceCgroup, Mount } from './spec.gen';

/**
 * Default spec content (data only): runtime-tools' `generate.New("linux")` template as CRI-O uses it,
 * plus CRI-O's additions. Arrays are frozen; generateSpec copies what it uses.
 */

/** Filesystems every container gets; a CRI mount or pod file with the same destination replaces one. */
export const DEFAULT_MOUNTS: readonly Readonly<Mount>[] = Object.freeze([
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
]);

/** /dev/shm when the pod gives none (runtime-tools default: a 64 MiB tmpfs). */
export const DEFAULT_SHM_MOUNT: Readonly<Mount> = Object.freeze({
  destination: '/dev/shm',
  type: 'tmpfs',
  source: 'shm',
  options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
});

/** tmpfs mounts CRI-O adds with crio.conf `read_only` (tmpcopyup is a runc extension: keeps image content). */
export const READ_ONLY_TMPFS_MOUNTS: readonly Readonly<Mount>[] = Object.freeze([
  { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'noexec', 'nosuid', 'nodev', 'tmpcopyup', 'mode=0755'] },
  { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'noexec', 'nosuid', 'nodev', 'tmpcopyup', 'mode=1777'] },
  { destination: '/var/tmp', type: 'tmpfs', source: 'tmpfs', options: ['rw', 'noexec', 'nosuid', 'nodev', 'tmpcopyup', 'mode=1777'] },
]);

/**
 * CRI-O's masked paths (containers/common `DefaultMaskedPaths` + `/proc/asound`, `/proc/interrupts`).
 * CRI-O only applies them when the CRI request lists masked paths at all (kubelet does unless
 * `procMount: Unmasked`); containers/common's `/sys/devices/system/cpu/cpu*\/thermal_throttle` glob
 * needs the host and is not included.
 */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
  '/sys/fs/selinux',
]);

/** The read-only paths kubelet sends for `procMount: Default` (CRI-O copies CRI's list verbatim). */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

/**
 * Device cgroup rules for unprivileged containers: deny everything, then allow mknod of any node and
 * use of the standard character devices (runc's `AllowedDevices`). runc creates the device nodes
 * themselves (/dev/null, zero, full, random, urandom, tty, ptmx), so `linux.devices` stays empty by default.
 */
export const DEFAULT_DEVICE_CGROUP_RULES: readonly Readonly<DeviceCgroup>[] = Object.freeze([
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
]);

/** Device cgroup rule for privileged containers: every device. */
export const PRIVILEGED_DEVICE_CGROUP_RULES: readonly Readonly<DeviceCgroup>[] = Object.freeze([{ allow: true, access: 'rwm' }]);

/** OCI spec version written into config.json (the one runc 1.1 implements). */
export const OCI_VERSION = '1.0.2-dev';
