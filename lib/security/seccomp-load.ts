import { promises as fs } from 'node:fs';
import { FailedPreconditionError, NotFoundError, errnoCode } from '../errors';
import { DEFAULT_SECCOMP_PROFILE } from './seccomp-default';
import type { SeccompSource } from './seccomp';
import { type SeccompProfile, parseSeccompProfileText } from './seccomp-profile';
import { quote } from '../quote';

/** Reads the profile chooseSeccomp picked. Files are read at every create so edits apply without a restart. */

/** Profiles are small (the default is ~20 KiB); a huge file is a mistake, not a profile. */
const MAX_PROFILE_BYTES = 4 * 1024 * 1024;

async function readProfile(file: string): Promise<string> {
  const st = await fs.stat(file);
  if (!st.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EISDIR' });
  if (st.size > MAX_PROFILE_BYTES) throw Object.assign(new Error(`${file} is larger than ${MAX_PROFILE_BYTES} bytes`), { code: 'EFBIG' });
  return fs.readFile(file, 'utf8');
}

/** The result of loading: the profile (undefined = unconfined) and what should be logged. */
export interface LoadedSeccomp {
  profile?: Readonly<SeccompProfile>;
  warnings: string[];
}

/** Loads the profile for a seccomp source; errors name the file and, for config files, the crio.conf key. */
export async function loadSeccompProfile(source: SeccompSource): Promise<LoadedSeccomp> {
  switch (source.kind) {
    case 'unconfined':
      return { warnings: [] };
    case 'builtin':
      return { profile: DEFAULT_SECCOMP_PROFILE, warnings: [] };
    case 'localhost': {
      let text: string;
      try {
        text = await readProfile(source.path);
      } catch (err) {
        throw new NotFoundError(`unable to load local profile ${quote(source.path)}: ${(err as Error).message}`, { cause: err });
      }
      return { profile: parseSeccompProfileText(text, source.path), warnings: [] };
    }
    case 'config': {
      let text: string;
      try {
        text = await readProfile(source.path);
      } catch (err) {
        // CRI-O keeps upgrades working when the packaged global profile was removed.
        if (source.fallbackToBuiltin && errnoCode(err) === 'ENOENT') {
          return { profile: DEFAULT_SECCOMP_PROFILE, warnings: [`seccomp profile ${source.path} (${source.key}) does not exist; using the built-in profile`] };
        }
        throw new FailedPreconditionError(`${source.key}: unable to load seccomp profile ${quote(source.path)}: ${(err as Error).message}`, { cause: err });
      }
      try {
        return { profile: parseSeccompProfileText(text, source.path), warnings: [] };
      } catch (err) {
        throw new FailedPreconditionError(`${source.key}: ${(err as Error).message}`, { cause: err });
      }
    }
  }
}
