import { NamespaceMode, SecurityProfile_ProfileType, type ContainerConfig, type SecurityProfile } from '../cri/gen/api';
import { InvalidArgumentError } from '../errors';
import type { SpecSecurity } from '../oci/spec-input';
import type { SandboxRecord } from '../state/records';
import { ANNOTATIONS, annotationValue, filterDisallowedAnnotations } from '../security/annotations';
import { type AppArmorRequest, DEFAULT_APPARMOR_PROFILE, LEGACY_APPARMOR_ANNOTATION_PREFIX } from '../security/apparmor';
import { ensureAppArmorProfile } from '../security/apparmor-host';
import { hostMaskedPaths } from '../security/host-masked-paths';
import { chooseSeccomp, seccompRequestFromPath } from '../security/seccomp';
import { loadSeccompProfile } from '../security/seccomp-load';
import { nativeSeccompArch } from '../security/seccomp-oci';
import { resolveSecurity } from '../security/security';
import { relabelPath } from '../security/selinux-relabel';
import { volumeRelabelAllowed } from '../security/selinux';
import type { ServerDeps } from './deps';
import { sandboxConfig } from './sandbox-convert';

/**
 * The adapter between a CreateContainer request and lib/security: gathers the CRI security context,
 * the pod's context and annotations (filtered by the handler's allowed_annotations), crio.conf and host
 * facts, does the I/O lib/security needs (seccomp files, AppArmor profiles) and returns the spec's
 * security fragment. Host devices of privileged containers are added with the other devices
 * (lib/oci/devices.ts), not here.
 */

/** Spec annotation recording the seccomp profile used (CRI-O `io.kubernetes.cri-o.SeccompProfilePath`). */
export const SECCOMP_PROFILE_PATH_ANNOTATION = 'io.kubernetes.cri-o.SeccompProfilePath';

/** The security part of a container's spec plus what goes elsewhere in it. */
export interface ContainerSecurity {
  security: SpecSecurity;
  /** `umask.crio.io` of the pod, when allowed. */
  umask?: number;
  /** Spec annotations to add. */
  annotations: Record<string, string>;
  warnings: string[];
}

function profileTypeName(t: SecurityProfile_ProfileType): 'RuntimeDefault' | 'Unconfined' | 'Localhost' {
  if (t === SecurityProfile_ProfileType.Unconfined) return 'Unconfined';
  if (t === SecurityProfile_ProfileType.Localhost) return 'Localhost';
  return 'RuntimeDefault';
}

function request(p: SecurityProfile | undefined): AppArmorRequest | undefined {
  return p ? { profileType: profileTypeName(p.profileType), localhostRef: p.localhostRef } : undefined;
}

/** The handler name a pod runs with ('' = default_runtime). */
function handlerName(deps: ServerDeps, handler: string): string {
  return handler || deps.config.runtime.default_runtime;
}

/** Removes the experimental annotations the pod's runtime handler does not allow (CRI-O FilterDisallowedAnnotations). */
export function allowedAnnotationsOnly(deps: ServerDeps, runtimeHandler: string, annotations: Record<string, string>): Record<string, string> {
  const handler = deps.config.runtime.runtimes[handlerName(deps, runtimeHandler)];
  return filterDisallowedAnnotations(annotations, handler?.allowed_annotations ?? []).kept;
}

/** The security fragment for a new container in `pod`. */
export async function containerSecurity(deps: ServerDeps, pod: SandboxRecord, config: ContainerConfig): Promise<ContainerSecurity> {
  const rc = deps.config.runtime;
  const name = handlerName(deps, pod.runtimeHandler);
  const handler = rc.runtimes[name];
  const podConfig = sandboxConfig(pod);
  const podSc = podConfig.linux?.securityContext;
  const sc = config.linux?.securityContext;
  const podAnnotations = allowedAnnotationsOnly(deps, pod.runtimeHandler, pod.annotations);
  const ctrName = config.metadata?.name ?? '';
  const privileged = sc?.privileged ?? false;
  const warnings: string[] = [];

  // The user namespace is the pod's (made at RunPodSandbox); a container cannot add one of its own.
  if (sc?.namespaceOptions?.usernsOptions?.mode === NamespaceMode.POD && !pod.userns) {
    throw new InvalidArgumentError(`container ${ctrName}: asks for the pod's user namespace, but pod ${pod.id} was created without one`);
  }
  // Root of a user namespace is not the host's root: "privileged" would be a lie (Kubernetes refuses it too).
  if (privileged && pod.userns) {
    throw new InvalidArgumentError(`container ${ctrName}: a privileged container cannot run in pod ${pod.id}, which has its own user namespace`);
  }
  for (const key of [ANNOTATIONS.seccompNotifierAction, `${ANNOTATIONS.seccompProfile}/${ctrName}`, `${ANNOTATIONS.seccompProfile}/POD`]) {
    if (annotationValue(podAnnotations, key) !== undefined) warnings.push(`annotation ${key} is not supported by crio-ts; ignored`);
  }

  const choice = chooseSeccomp({
    request: request(sc?.seccomp) ?? seccompRequestFromPath(sc?.seccompProfilePath ?? ''),
    securityContextSet: sc !== undefined,
    privileged,
    privilegedProfile: rc.privileged_seccomp_profile,
    useDefaultWhenEmpty: rc.seccomp_use_default_when_empty,
    hostSupportsSeccomp: deps.host.seccomp,
    handlerProfile: handler?.seccomp_profile ?? '',
    handlerName: name,
    globalProfile: rc.seccomp_profile,
  });
  const loaded = await loadSeccompProfile(choice.source);
  warnings.push(...choice.warnings, ...loaded.warnings);

  const maskedPaths = sc?.maskedPaths ?? [];
  const hostPid = (sc?.namespaceOptions ?? podSc?.namespaceOptions)?.pid === NamespaceMode.NODE;
  const hostIpc = (sc?.namespaceOptions ?? podSc?.namespaceOptions)?.ipc === NamespaceMode.NODE;
  const result = resolveSecurity({
    privileged,
    sandboxPrivileged: podSc?.privileged ?? false,
    capabilities: { add: sc?.capabilities?.addCapabilities ?? [], drop: sc?.capabilities?.dropCapabilities ?? [] },
    defaultCapabilities: rc.default_capabilities,
    addInheritableCapabilities: rc.add_inheritable_capabilities,
    hostCapabilities: deps.host.capabilities,
    noNewPrivileges: sc?.noNewPrivs ?? false,
    readonlyRootfs: sc?.readonlyRootfs ?? false,
    globalReadOnly: rc.read_only,
    maskedPaths,
    hostMaskedPaths: maskedPaths.length > 0 ? await hostMaskedPaths() : [],
    readonlyPaths: sc?.readonlyPaths ?? [],
    apparmor: {
      request: request(sc?.apparmor),
      deprecated: sc?.apparmorProfile,
      legacyAnnotation: pod.annotations[`${LEGACY_APPARMOR_ANNOTATION_PREFIX}${ctrName}`],
      defaultProfile: rc.apparmor_profile,
    },
    seccompProfile: loaded.profile,
    arch: nativeSeccompArch(process.arch),
    selinux: rc.selinux
      ? {
          podSandboxId: pod.id,
          podOptions: podSc?.selinuxOptions,
          containerOptions: sc?.selinuxOptions,
          privileged,
          hostPid,
          hostIpc,
          hostNetwork: pod.hostNetwork,
          hostNetworkDisablesSelinux: true,
        }
      : undefined,
    umaskAnnotation: annotationValue(podAnnotations, ANNOTATIONS.umask),
    hostFeatures: { apparmor: deps.host.apparmor, selinux: deps.host.selinux, seccomp: deps.host.seccomp },
  });
  warnings.push(...result.warnings);
  const profile = result.security.apparmorProfile;
  if (profile !== undefined) await ensureAppArmorProfile(profile, DEFAULT_APPARMOR_PROFILE);

  return {
    security: result.security,
    ...(result.umask === undefined ? {} : { umask: result.umask }),
    annotations: { [SECCOMP_PROFILE_PATH_ANNOTATION]: choice.ref },
    warnings,
  };
}

/** Relabels CRI mounts with `selinux_relabel` to the container's mount label (only when SELinux labels are in use). */
export async function relabelVolumes(pod: SandboxRecord, config: ContainerConfig, security: SpecSecurity): Promise<void> {
  const mountLabel = security.mountLabel;
  if (mountLabel === undefined) return;
  const podOptions = sandboxConfig(pod).linux?.securityContext?.selinuxOptions;
  if (!volumeRelabelAllowed(podOptions, config.linux?.securityContext?.selinuxOptions)) return;
  for (const m of config.mounts) if (m.selinuxRelabel) await relabelPath(m.hostPath, mountLabel);
}
