/**
 * Per-table validation in the spirit of CRI-O's Config.Validate: refuse a config crio-ts cannot
 * honour before anything is started, with a message naming the file, the dotted key and the
 * expected form so an operator can fix it without reading code.
 */
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';

import { InvalidArgumentError } from '../errors';
import { cgroupManagerName, effectiveMonitorCgroup, monitorCgroupExpectation } from '../oci/cgroup-systemd';
import { GATED_ANNOTATIONS } from '../security/annotations';
import { normalizeCapability } from '../security/capabilities';
import type { ApiConfig, Config, ImageConfig, NetworkConfig, RootConfig, RuntimeConfig } from './config';
import { parseDuration } from './duration';
import { parseSize } from './size';

/** Which file (or "command line") last set a dotted key; undefined for built-in defaults. */
export type SourceOf = (key: string) => string | undefined;

/** Hooks for facts about the host, so tests can exercise both sides. */
export interface ValidateOptions {
  /** True when systemd is init; default: /run/systemd/system exists (sd_booted()). */
  systemdBooted?: () => boolean;
}

/** The log levels CRI-O (logrus) accepts. */
export const LOG_LEVELS = ['fatal', 'panic', 'error', 'warn', 'warning', 'info', 'debug', 'trace'] as const;

/** The rlimit names default_ulimits may set (docker/go-units). */
const ULIMIT_NAMES = new Set([
  'core',
  'cpu',
  'data',
  'fsize',
  'locks',
  'memlock',
  'msgqueue',
  'nice',
  'nofile',
  'nproc',
  'rss',
  'rtprio',
  'rttime',
  'sigpending',
  'stack',
]);

/** The smallest per-container log cap CRI-O allows (conmon's read buffer size). */
const MIN_LOG_SIZE_MAX = 8192;

type Fail = (key: string, expected: string, got: unknown, cause?: unknown) => never;

/** Throw InvalidArgumentError for the first value crio-ts cannot honour. */
export function validateConfig(config: Config, sourceOf?: SourceOf, options: ValidateOptions = {}): void {
  const fail: Fail = (key, expected, got, cause) => {
    const where = sourceOf?.(key);
    const msg = `${where ? `${where}: ` : ''}${key}: expected ${expected}, got ${JSON.stringify(got)}`;
    throw new InvalidArgumentError(msg, cause === undefined ? undefined : { cause });
  };
  validateRoot(config.crio, fail);
  validateApi(config.api, fail);
  validateRuntime(config.runtime, fail, options.systemdBooted ?? (() => existsSync('/run/systemd/system')));
  validateImage(config.image, fail);
  validateNetwork(config.network, fail);
  checkPort('crio.metrics.metrics_port', String(config.metrics.metrics_port), fail);
  if (config.metrics.metrics_socket !== '') checkAbsolute('crio.metrics', config.metrics, ['metrics_socket'], fail);
  if (config.stats.collection_period < 0) {
    fail('crio.stats.collection_period', 'a number of seconds >= 0', config.stats.collection_period);
  }
}

function validateRoot(c: RootConfig, fail: Fail): void {
  // '' means "inherit from storage.conf" in CRI-O; for crio-ts that can only be overlay.
  if (c.storage_driver !== 'overlay' && c.storage_driver !== '') {
    fail('crio.storage_driver', '"overlay" (the only storage driver crio-ts has)', c.storage_driver);
  }
  checkAbsolute('crio', c, ['root', 'runroot', 'log_dir', 'version_file', 'clean_shutdown_file'], fail);
  if (c.version_file_persist !== '') checkAbsolute('crio', c, ['version_file_persist'], fail);
}

function validateApi(c: ApiConfig, fail: Fail): void {
  const listen = c.listen.replace(/^unix:\/\//, '');
  if (!isAbsolute(listen)) fail('crio.api.listen', 'an absolute socket path (optionally unix://...)', c.listen);
  checkPort('crio.api.stream_port', c.stream_port, fail);
  if (c.stream_idle_timeout !== '') checkDuration('crio.api.stream_idle_timeout', c.stream_idle_timeout, fail);
  if (c.stream_enable_tls) {
    for (const key of ['stream_tls_cert', 'stream_tls_key'] as const) {
      if (c[key] === '') fail(`crio.api.${key}`, 'a file path because stream_enable_tls is true', c[key]);
    }
  }
}

function validateRuntime(c: RuntimeConfig, fail: Fail, systemdBooted: () => boolean): void {
  for (const [name, h] of Object.entries(c.runtimes)) {
    const prefix = `crio.runtime.runtimes.${name}`;
    if (h.runtime_type !== 'oci') {
      fail(`${prefix}.runtime_type`, '"oci" (crio-ts runs no "vm" or "pod" runtimes)', h.runtime_type);
    }
    if (h.container_min_memory !== '') checkSize(`${prefix}.container_min_memory`, h.container_min_memory, fail);
    for (const a of h.allowed_annotations) {
      if (!GATED_ANNOTATIONS.includes(a)) fail(`${prefix}.allowed_annotations`, `one of ${GATED_ANNOTATIONS.join(', ')}`, a);
    }
  }
  if (!Object.hasOwn(c.runtimes, c.default_runtime)) {
    const names = Object.keys(c.runtimes)
      .map((n) => `"${n}"`)
      .join(', ');
    const expected = `the name of a [crio.runtime.runtimes.<name>] table (${names})`;
    fail('crio.runtime.default_runtime', expected, c.default_runtime);
  }
  if (c.cgroup_manager !== 'cgroupfs' && c.cgroup_manager !== 'systemd') {
    fail('crio.runtime.cgroup_manager', '"cgroupfs" or "systemd"', c.cgroup_manager);
  }
  if (c.cgroup_manager === 'systemd' && !systemdBooted()) {
    // The driver asks systemd over D-Bus for scopes; without systemd as init nobody answers.
    const expected = '"cgroupfs" because systemd is not init here (/run/systemd/system is missing)';
    fail('crio.runtime.cgroup_manager', expected, c.cgroup_manager);
  }
  checkMonitorCgroups(c, fail);
  if (!(LOG_LEVELS as readonly string[]).includes(c.log_level.toLowerCase())) {
    fail('crio.runtime.log_level', `one of ${LOG_LEVELS.join('|')}`, c.log_level);
  }
  try {
    new RegExp(c.log_filter);
  } catch (err) {
    fail('crio.runtime.log_filter', 'a regular expression', c.log_filter, err);
  }
  for (const cap of c.default_capabilities) {
    if (normalizeCapability(cap) === undefined) {
      fail('crio.runtime.default_capabilities', 'Linux capability names such as "CHOWN" or "CAP_CHOWN"', cap);
    }
  }
  for (const s of c.default_sysctls) {
    if (!/^[^=\s]+=\S*$/.test(s)) fail('crio.runtime.default_sysctls', '"key=value" entries without spaces', s);
  }
  for (const u of c.default_ulimits) checkUlimit(u, fail);
  for (const d of c.additional_devices) checkDevice(d, fail);
  if (c.log_size_max >= 0 && c.log_size_max < MIN_LOG_SIZE_MAX) {
    fail('crio.runtime.log_size_max', `a negative number (no limit) or at least ${MIN_LOG_SIZE_MAX}`, c.log_size_max);
  }
  checkAbsolute('crio.runtime', c, ['container_exits_dir', 'container_attach_socket_dir', 'namespaces_dir'], fail);
}

/** conmon's cgroup per handler as CRI-O checks it: "pod" or a slice with systemd, "pod" or "" with cgroupfs. */
function checkMonitorCgroups(c: RuntimeConfig, fail: Fail): void {
  const manager = cgroupManagerName(c.cgroup_manager);
  for (const [name, h] of Object.entries(c.runtimes)) {
    const expected = monitorCgroupExpectation(manager, effectiveMonitorCgroup(manager, c.conmon_cgroup, h.monitor_cgroup));
    if (expected === undefined) continue;
    // The deprecated global key overrides every handler's, so name whichever one was in effect.
    if (c.conmon_cgroup !== '') fail('crio.runtime.conmon_cgroup', expected, c.conmon_cgroup);
    fail(`crio.runtime.runtimes.${name}.monitor_cgroup`, expected, h.monitor_cgroup);
  }
}

function validateImage(c: ImageConfig, fail: Fail): void {
  if (!['mkdir', 'bind', 'ignore'].includes(c.image_volumes)) {
    fail('crio.image.image_volumes', '"mkdir", "bind" or "ignore"', c.image_volumes);
  }
  if (c.short_name_mode !== 'enforcing' && c.short_name_mode !== 'disabled') {
    fail('crio.image.short_name_mode', '"enforcing" or "disabled"', c.short_name_mode);
  }
  checkDuration('crio.image.pull_progress_timeout', c.pull_progress_timeout, fail);
}

function validateNetwork(c: NetworkConfig, fail: Fail): void {
  checkAbsolute('crio.network', c, ['network_dir'], fail);
  checkDuration('crio.network.cni_status_grace_period', c.cni_status_grace_period, fail);
}

function checkAbsolute<T extends object>(prefix: string, table: T, keys: Array<keyof T & string>, fail: Fail): void {
  for (const key of keys) {
    const value = table[key];
    if (typeof value !== 'string' || !isAbsolute(value)) fail(`${prefix}.${key}`, 'an absolute path', value);
  }
}

function checkPort(key: string, value: string, fail: Fail): void {
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) fail(key, 'a port number 0-65535', value);
}

function checkDuration(key: string, value: string, fail: Fail): void {
  try {
    parseDuration(value);
  } catch (err) {
    fail(key, 'a Go duration such as "0s", "10s", "1m30s" or "500ms"', value, err);
  }
}

function checkSize(key: string, value: string, fail: Fail): void {
  try {
    parseSize(value);
  } catch (err) {
    fail(key, 'a memory size such as "12MiB" or "500KiB"', value, err);
  }
}

function checkUlimit(u: string, fail: Fail): void {
  const expected = '"name=soft:hard" entries such as "nofile=1024:2048" (name one of core, nofile, nproc, ...)';
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(u);
  if (!m || !ULIMIT_NAMES.has(m[1])) fail('crio.runtime.default_ulimits', expected, u);
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  // -1 is "unlimited", which is never below the soft limit.
  if (hard !== -1 && (soft === -1 || soft > hard)) {
    fail('crio.runtime.default_ulimits', 'a soft limit not above the hard limit', u);
  }
}

/** CRI-O's device entry forms: /host, /host:/ctr, /host:rwm, /host:/ctr:rwm, the container path under /dev/. */
function checkDevice(d: string, fail: Fail): void {
  const [host, second = '', perms, ...extra] = d.split(':');
  const mode = (m: string): boolean => /^[rwm]{1,3}$/.test(m) && new Set(m).size === m.length;
  const ctr = mode(second) ? host : second || host;
  const ok = extra.length === 0 && isAbsolute(host) && (mode(second) || second === '' || isAbsolute(second)) && (perms === undefined || mode(perms)) && ctr.startsWith('/dev/');
  if (!ok) fail('crio.runtime.additional_devices', '"/host/dev[:/ctr/dev][:rwm]" entries with the container path under /dev/', d);
}
