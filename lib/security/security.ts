import { DEFAULT_MASKED_PATHS } from '../oci/defaults';
import type { SpecSeccomp, SpecSecurity } from '../oci/spec-input';
import { type AppArmorRequest, DEFAULT_APPARMOR_PROFILE, resolveAppArmorProfile } from './apparmor';
import { resolveCapabilities } from './capabilities';

/**
 * CRI security context → SpecSecurity, following CRI-O's `SpecSetPrivileges` and friends. Pure: host
 * facts (capabilities, LSMs) come in as data. SELinux labels are not produced yet (no SELinux here).
 */

/** What the host supports; decided once at start-up. */
export interface HostFeatures {
  apparmor: boolean;
  selinux: boolean;
  seccomp: boolean;
}

/** Input of resolveSecurity: CRI LinuxContainerSecurityContext fields plus crio.conf settings. */
export interface SecurityInput {
  privileged: boolean;
  /** CRI `capabilities` (add_capabilities / drop_capabilities). */
  capabilities?: { add: readonly string[]; drop: readonly string[] };
  /** crio.conf `default_capabilities`. */
  defaultCapabilities: readonly string[];
  /** crio.conf `add_inheritable_capabilities`. */
  addInheritableCapabilities: boolean;
  /** The daemon's bounding set (readHostCapabilities); omitted = assume every capability. */
  hostCapabilities?: readonly string[];
  noNewPrivileges: boolean;
  /** CRI `readonly_rootfs` OR crio.conf `read_only`. */
  readonlyRootfs: boolean;
  /** CRI `masked_paths` as sent (empty = mask nothing, e.g. procMount Unmasked). */
  maskedPaths: readonly string[];
  /** CRI `readonly_paths` as sent. */
  readonlyPaths: readonly string[];
  /** CRI `apparmor`. */
  apparmor?: AppArmorRequest;
  /** CRI deprecated `apparmor_profile` string. */
  apparmorProfileDeprecated?: string;
  /** crio.conf `apparmor_profile` (default "crio-default"). */
  defaultApparmorProfile?: string;
  /** An already resolved seccomp profile; omitted = unconfined. */
  seccomp?: SpecSeccomp;
  hostFeatures: HostFeatures;
}

/** CRI-O's rule: a non-empty CRI list gets CRI-O's defaults added, sorted, de-duplicated. */
function maskedPaths(cri: readonly string[]): string[] {
  if (cri.length === 0) return [];
  return [...new Set([...DEFAULT_MASKED_PATHS, ...cri])].sort();
}

/** Resolves the security part of a container's spec; warnings are for the caller to log. */
export function resolveSecurity(input: SecurityInput): { security: SpecSecurity; warnings: string[] } {
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

  const security: SpecSecurity = {
    privileged: input.privileged,
    capabilities: caps.capabilities,
    noNewPrivileges: input.noNewPrivileges,
    readonlyRootfs: input.readonlyRootfs,
    maskedPaths: input.privileged ? [] : maskedPaths(input.maskedPaths),
    readonlyPaths: input.privileged ? [] : [...input.readonlyPaths],
  };

  // Like CRI-O, AppArmor settings are ignored entirely (not even validated) when the host lacks it.
  if (input.hostFeatures.apparmor && !input.privileged) {
    security.apparmorProfile = resolveAppArmorProfile(input.apparmor, input.apparmorProfileDeprecated, input.defaultApparmorProfile ?? DEFAULT_APPARMOR_PROFILE);
  }

  if (input.seccomp !== undefined && !input.privileged) {
    if (input.hostFeatures.seccomp) security.seccomp = input.seccomp;
    else warnings.push('seccomp is not supported on this host; running the container without a seccomp profile');
  }
  return { security, warnings };
}
