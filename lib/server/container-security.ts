import { SecurityProfile_ProfileType, type ContainerConfig } from '../cri/gen/api';
import type { SpecSecurity } from '../oci/spec-input';
import { resolveSecurity } from '../security/security';
import type { ServerDeps } from './deps';

function profileTypeName(t: SecurityProfile_ProfileType): 'RuntimeDefault' | 'Unconfined' | 'Localhost' {
  if (t === SecurityProfile_ProfileType.Unconfined) return 'Unconfined';
  if (t === SecurityProfile_ProfileType.Localhost) return 'Localhost';
  return 'RuntimeDefault';
}

/** The security part of a container's spec: CRI security context + crio.conf + host features → SpecSecurity. */
export function containerSecurity(deps: ServerDeps, config: ContainerConfig): { security: SpecSecurity; warnings: string[] } {
  const sc = config.linux?.securityContext;
  return resolveSecurity({
    privileged: sc?.privileged ?? false,
    capabilities: { add: sc?.capabilities?.addCapabilities ?? [], drop: sc?.capabilities?.dropCapabilities ?? [] },
    defaultCapabilities: deps.config.runtime.default_capabilities,
    addInheritableCapabilities: deps.config.runtime.add_inheritable_capabilities,
    hostCapabilities: deps.host.capabilities,
    noNewPrivileges: sc?.noNewPrivs ?? false,
    readonlyRootfs: (sc?.readonlyRootfs ?? false) || deps.config.runtime.read_only,
    maskedPaths: sc?.maskedPaths ?? [],
    readonlyPaths: sc?.readonlyPaths ?? [],
    apparmor: sc?.apparmor ? { profileType: profileTypeName(sc.apparmor.profileType), localhostRef: sc.apparmor.localhostRef } : undefined,
    apparmorProfileDeprecated: sc?.apparmorProfile,
    defaultApparmorProfile: deps.config.runtime.apparmor_profile,
    hostFeatures: { apparmor: deps.host.apparmor, selinux: deps.host.selinux, seccomp: deps.host.seccomp },
  });
}
