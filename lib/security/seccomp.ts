import path from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * Which seccomp profile a container gets (CRI-O `setupSeccomp` + `seccomp.Config.Setup`), pure: the
 * decision only; reading the chosen file is seccomp-load.ts, conversion for the container is seccomp-oci.ts.
 */

/** CRI SecurityProfile with the type spelled out. */
export interface SecurityProfileRequest {
  profileType: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostRef?: string;
}

/** Input of chooseSeccomp. */
export interface SeccompChoiceInput {
  /** CRI `seccomp`; undefined when the field is not set. */
  request?: SecurityProfileRequest;
  /** Whether the CRI security context was sent at all (CRI-O fills an absent one with RuntimeDefault). */
  securityContextSet: boolean;
  privileged: boolean;
  /** crio.conf `privileged_seccomp_profile` ('' = privileged containers run unconfined). */
  privilegedProfile: string;
  /** crio.conf `seccomp_use_default_when_empty`: an unset field means RuntimeDefault. */
  useDefaultWhenEmpty: boolean;
  hostSupportsSeccomp: boolean;
  /** `[crio.runtime.runtimes.<handler>] seccomp_profile`; wins over the global one. */
  handlerProfile: string;
  handlerName: string;
  /** `[crio.runtime] seccomp_profile`; '' = the built-in profile. */
  globalProfile: string;
}

/** Where the profile comes from. */
export type SeccompSource =
  | { kind: 'unconfined' }
  | { kind: 'builtin' }
  /** A configured RuntimeDefault file; a missing global file falls back to the built-in profile (CRI-O). */
  | { kind: 'config'; path: string; key: string; fallbackToBuiltin: boolean }
  /** A Localhost profile named by the request (or privileged_seccomp_profile); must exist. */
  | { kind: 'localhost'; path: string };

/** The decision plus the value of the `io.kubernetes.cri-o.SeccompProfilePath` spec annotation. */
export interface SeccompChoice {
  source: SeccompSource;
  /** `RuntimeDefault`, `Unconfined`, the Localhost path, or '' for an unset field (as CRI-O records it). */
  ref: string;
  warnings: string[];
}

function localhostPath(ref: string | undefined, what: string): string {
  const p = ref ?? '';
  if (p === '') throw new InvalidArgumentError(`${what}: Localhost seccomp profile without localhost_ref`);
  // The kubelet sends absolute paths under its seccomp root; a relative one would depend on our cwd.
  if (!path.isAbsolute(p)) throw new InvalidArgumentError(`${what}: Localhost seccomp profile ${quote(p)} is not an absolute path`);
  return path.normalize(p);
}

/**
 * The deprecated CRI `seccomp_profile_path` string as a request (older kubelets and critest still
 * send it when `seccomp` is unset): "unconfined", "runtime/default" or "docker/default", or
 * "localhost/<absolute path>"; '' means unset. Anything else is refused, as CRI-O does.
 */
export function seccompRequestFromPath(profilePath: string): SecurityProfileRequest | undefined {
  if (profilePath === '') return undefined;
  if (profilePath === 'unconfined') return { profileType: 'Unconfined' };
  if (profilePath === 'runtime/default' || profilePath === 'docker/default') return { profileType: 'RuntimeDefault' };
  if (profilePath.startsWith('localhost/')) return { profileType: 'Localhost', localhostRef: profilePath.slice('localhost/'.length) };
  throw new InvalidArgumentError(
    `seccomp_profile_path ${quote(profilePath)} is not "unconfined", "runtime/default", "docker/default" or "localhost/<path>"`,
  );
}

/** Chooses the seccomp profile source for one container. */
export function chooseSeccomp(input: SeccompChoiceInput): SeccompChoice {
  const warnings: string[] = [];
  let request = input.request;
  if (input.privileged) {
    if (input.privilegedProfile === '') return { source: { kind: 'unconfined' }, ref: 'Unconfined', warnings };
    request = { profileType: 'Localhost', localhostRef: input.privilegedProfile };
  }
  if (request === undefined && (!input.securityContextSet || input.useDefaultWhenEmpty)) {
    request = { profileType: 'RuntimeDefault' };
  }
  if (request === undefined) return { source: { kind: 'unconfined' }, ref: '', warnings };

  if (!input.hostSupportsSeccomp) {
    if (request.profileType === 'Localhost' && !input.privileged) {
      throw new FailedPreconditionError(`seccomp is not enabled on this host, cannot run with profile ${quote(request.localhostRef ?? '')}`);
    }
    if (request.profileType !== 'Unconfined') warnings.push('seccomp is not enabled on this host; running the container without a seccomp profile');
    return { source: { kind: 'unconfined' }, ref: 'Unconfined', warnings };
  }

  switch (request.profileType) {
    case 'Unconfined':
      return { source: { kind: 'unconfined' }, ref: 'Unconfined', warnings };
    case 'Localhost': {
      const what = input.privileged ? 'privileged_seccomp_profile' : 'seccomp';
      const p = localhostPath(request.localhostRef, what);
      return { source: { kind: 'localhost', path: p }, ref: p, warnings };
    }
    case 'RuntimeDefault':
      if (input.handlerProfile !== '') {
        const key = `crio.runtime.runtimes.${input.handlerName}.seccomp_profile`;
        return { source: { kind: 'config', path: input.handlerProfile, key, fallbackToBuiltin: false }, ref: 'RuntimeDefault', warnings };
      }
      if (input.globalProfile !== '') {
        return { source: { kind: 'config', path: input.globalProfile, key: 'crio.runtime.seccomp_profile', fallbackToBuiltin: true }, ref: 'RuntimeDefault', warnings };
      }
      return { source: { kind: 'builtin' }, ref: 'RuntimeDefault', warnings };
  }
}
