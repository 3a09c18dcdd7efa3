import { InvalidArgumentError } from '../errors';

/** AppArmor profile selection (CRI-O `internal/config/apparmor`), pure. */

/** CRI SecurityProfile for AppArmor, with the profile type spelled out. */
export interface AppArmorRequest {
  profileType: 'RuntimeDefault' | 'Unconfined' | 'Localhost';
  localhostRef?: string;
}

/** CRI-O's built-in default profile name. */
export const DEFAULT_APPARMOR_PROFILE = 'crio-default';

const LOCALHOST_PREFIX = 'localhost/';

function localhost(name: string): string {
  const profile = name.startsWith(LOCALHOST_PREFIX) ? name.slice(LOCALHOST_PREFIX.length) : name;
  if (profile.trim() === '') throw new InvalidArgumentError('empty localhost AppArmor profile is forbidden');
  return profile;
}

/**
 * The profile name for `process.apparmorProfile`. The structured field wins over the deprecated
 * string (kubelet fills both); RuntimeDefault maps to the configured default profile.
 */
export function resolveAppArmorProfile(request: AppArmorRequest | undefined, deprecated: string | undefined, defaultProfile: string): string {
  if (request !== undefined) {
    switch (request.profileType) {
      case 'RuntimeDefault':
        return defaultProfile;
      case 'Unconfined':
        return 'unconfined';
      case 'Localhost':
        return localhost(request.localhostRef ?? '');
    }
  }
  const legacy = deprecated ?? '';
  if (legacy === '' || legacy === 'runtime/default') return defaultProfile;
  if (legacy === 'unconfined') return 'unconfined';
  if (legacy.startsWith(LOCALHOST_PREFIX)) return localhost(legacy);
  throw new InvalidArgumentError(`invalid AppArmor profile "${legacy}": want runtime/default, unconfined or localhost/<name>`);
}
