import { InvalidArgumentError } from '../errors';
import { DEFAULT_MASKED_PATHS } from '../oci/defaults';
import type { SpecSecurity } from '../oci/spec-input';
import { type AppArmorInput, resolveAppArmorProfile } from './apparmor';
import { resolveCapabilities } from './capabilities';
import type { SeccompProfile } from './seccomp-profile';
import { nativeSeccompArch, toOciSeccomp } from './seccomp-oci';
import { type ContainerSELinuxInput, containerSelinuxLabels } from './selinux';

/**
 * CRI security context + crio.conf → the security part of a container's spec, following CRI-O's
 * `SetPrivileged`, `SpecSetupCapabilities`, `SpecSetPrivileges`, seccomp/AppArmor/SELinux setup. Pure:
 * host facts (capabilities, LSMs, architecture) and loaded files (the seccomp profile) come in as data.
 */

/** What the host supports; decided once at start-up. */
export interface HostFeatures {
  apparmor: boolean;
  selinux: boolean;
  seccomp: boolean;
}

/** Input of resolveSecurity. */
export interface SecurityInput {
  privileged: boolean;
  /** The pod's `privileged` flag: privileged containers are only allowed in privileged pods (omitted: not checked). */
  sandboxPrivileged?: boolean;
  /** CRI `capabilities` (add_capabilities / drop_capabilities). */
  capabilities?: { add: readonly string[]; drop: readonly string[] };
  /** crio.conf `default_capabilities`. */
  defaultCapabilities: readonly string[];
  /** crio.conf `add_inheritable_capabilities`. */
  addInheritableCapabilities: boolean;
  /** The daemon's bounding set (readHostCapabilities); omitted = assume every capability. */
  hostCapabilities?: readonly string[];
  noNewPrivileges: boolean;
  /** CRI `readonly_rootfs`. */
  readonlyRootfs: boolean;
  /** crio.conf `read_only`: read-only rootfs for every container, with tmpfs on /run, /tmp, /var/tmp. */
  globalReadOnly?: boolean;
  /** CRI `masked_paths` as sent (empty = mask nothing, e.g. procMount Unmasked). */
  maskedPaths: readonly string[];
  /** Host-dependent defaults to add with CRI-O's (the expanded `/sys/devices/system/cpu/cpu*\/thermal_throttle`). */
  hostMaskedPaths?: readonly string[];
  /** CRI `readonly_paths` as sent. */
  readonlyPaths: readonly string[];
  /** Where the AppArmor choice comes from (CRI fields, legacy annotation, crio.conf default). */
  apparmor?: AppArmorInput;
  /** The loaded seccomp profile (chooseSeccomp + loadSeccompProfile); omitted = unconfined. */
  seccompProfile?: Readonly<SeccompProfile>;
  /** libseccomp architecture name for arch-conditional rules; default: this host's (nativeSeccompArch). */
  arch?: string;
  /** SELinux inputs; used only when the host has SELinux on and crio.conf `selinux` is true. */
  selinux?: ContainerSELinuxInput;
  /** `umask.crio.io` (already allowed for the handler), octal string. */
  umaskAnnotation?: string;
  hostFeatures: HostFeatures;
}

/** The security fragment plus what only affects the process (umask) and messages to log. */
export interface SecurityResult {
  security: SpecSecurity;
  umask?: number;
  warnings: string[];
}

/** CRI-O's rule: a non-empty CRI list gets CRI-O's defaults added, sorted, de-duplicated. */
function maskedPaths(cri: readonly string[], host: readonly string[]): string[] {
  if (cri.length === 0) return [];
  return [...new Set([...DEFAULT_MASKED_PATHS, ...host, ...cri])].sort();
}

function parseUmask(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^[0-7]{1,4}$/.test(value)) throw new InvalidArgumentError(`invalid umask string ${value}`);
  return parseInt(value, 8);
}

/** A request for a specific AppArmor profile (not just the default or unconfined). */
function specificAppArmor(a: AppArmorInput | undefined): string | undefined {
  if (a?.request?.profileType === 'Localhost') return a.request.localhostRef || 'localhost';
  const legacy = a?.deprecated || a?.legacyAnnotation || '';
  return legacy.startsWith('localhost/') ? legacy : undefined;
}

/** Resolves the security part of a container's spec; warnings are for the caller to log. */
export function resolveSecurity(input: SecurityInput): SecurityResult {
  if (input.privileged && input.sandboxPrivileged === false) throw new InvalidArgumentError('no privileged container allowed in sandbox');
  const caps = resolveCapabilities({
    defaults: input.defaultCapabilities,
    add: input.capabilities?.add ?? [],
    drop: input.capabilities?.drop ?? [],
    privileged: input.privileged,
    hostCapabilities: input.hostCapabilities,
    addInheritable: input.addInheritableCapabilities,
  });
  const warnings = [...caps.warnings];
  if (input.noNewPrivileges && input.privileged) {
    warnings.push('setting noNewPrivileges has no effect because the container is privileged');
  } else if (input.noNewPrivileges && caps.capabilities.bounding.includes('CAP_SYS_ADMIN')) {
    warnings.push('setting noNewPrivileges has no effect because the container has CAP_SYS_ADMIN');
  }

  const readOnlyTmpfs = input.globalReadOnly ?? false;
  const security: SpecSecurity = {
    privileged: input.privileged,
    capabilities: caps.capabilities,
    noNewPrivileges: input.noNewPrivileges,
    readonlyRootfs: input.readonlyRootfs || readOnlyTmpfs,
    maskedPaths: input.privileged ? [] : maskedPaths(input.maskedPaths, input.hostMaskedPaths ?? []),
    readonlyPaths: input.privileged ? [] : [...input.readonlyPaths],
  };
  if (readOnlyTmpfs) security.readOnlyTmpfs = true;

  // Like CRI-O, AppArmor settings are ignored entirely (not even validated) when the host lacks it.
  if (input.hostFeatures.apparmor && !input.privileged && input.apparmor) {
    security.apparmorProfile = resolveAppArmorProfile(input.apparmor);
  } else if (!input.hostFeatures.apparmor && specificAppArmor(input.apparmor) !== undefined) {
    warnings.push(`AppArmor is not enabled on this host; ignoring AppArmor profile ${JSON.stringify(specificAppArmor(input.apparmor))}`);
  }

  if (input.hostFeatures.selinux && input.selinux) {
    const labels = containerSelinuxLabels({ ...input.selinux, privileged: input.privileged });
    if (labels.processLabel !== '') security.selinuxLabel = labels.processLabel;
    if (labels.mountLabel !== '') security.mountLabel = labels.mountLabel;
  }

  if (input.seccompProfile !== undefined && input.hostFeatures.seccomp) {
    // Capability-conditional rules follow the final bounding set, so chooseSeccomp's privileged
    // profile (privileged_seccomp_profile) sees every capability.
    const seccomp = toOciSeccomp(input.seccompProfile, { bounding: caps.capabilities.bounding, arch: input.arch ?? nativeSeccompArch(process.arch) });
    if (seccomp !== undefined) security.seccomp = seccomp;
  }

  const umask = parseUmask(input.umaskAnnotation);
  return { security, ...(umask === undefined ? {} : { umask }), warnings };
}
