import { InvalidArgumentError } from '../errors';

/** AppArmor profile selection (CRI-O `internal/config/apparmor` Apply), pure. */

/** CRI SecurityProfile for AppArmor, with the profile type spelled out. */
export interface AppArmorRequest {
  profileType: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostRef?: string;
}

/** CRI-O's built-in default profile name. */
export const DEFAULT_APPARMOR_PROFILE = 'crio-default';

/** Pod annotation prefix of the pre-1.30 AppArmor API (`…/<container name>`: runtime/default, localhost/x, unconfined). */
export const LEGACY_APPARMOR_ANNOTATION_PREFIX = 'container.apparmor.security.beta.kubernetes.io/';

const LOCALHOST_PREFIX = 'localhost/';
const RUNTIME_DEFAULT = 'runtime/default';
const UNCONFINED = 'unconfined';

/** Where the AppArmor choice comes from: the CRI fields, then the legacy pod annotation. */
export interface AppArmorInput {
  /** CRI `apparmor` (structured field). */
  request?: AppArmorRequest;
  /** CRI deprecated `apparmor_profile` string. */
  deprecated?: string;
  /** The pod's `container.apparmor.security.beta.kubernetes.io/<ctr>` annotation value, if any. */
  legacyAnnotation?: string;
  /** crio.conf `apparmor_profile`. */
  defaultProfile: string;
}

/**
 * The profile name for `process.apparmorProfile`. The structured field wins over the deprecated string
 * (kubelet fills both); with neither, the legacy annotation is read. RuntimeDefault maps to the configured
 * default; `localhost/` is stripped; an empty Localhost name is refused. Any other deprecated string is
 * taken as a profile name, as CRI-O does.
 */
export function resolveAppArmorProfile(input: AppArmorInput): string {
  const { request } = input;
  if (request?.profileType === 'RuntimeDefault') return input.defaultProfile;
  if (request?.profileType === 'Unconfined') return UNCONFINED;
  let name: string;
  if (request?.profileType === 'Localhost') {
    name = request.localhostRef ?? '';
  } else {
    const legacy = input.deprecated || input.legacyAnnotation || '';
    if (legacy === '' || legacy === RUNTIME_DEFAULT) return input.defaultProfile;
    if (legacy.toLowerCase() === UNCONFINED) return UNCONFINED;
    name = legacy;
  }
  const profile = name.startsWith(LOCALHOST_PREFIX) ? name.slice(LOCALHOST_PREFIX.length) : name;
  if (profile.trim() === '') throw new InvalidArgumentError('empty localhost AppArmor profile is forbidden');
  return profile;
}
