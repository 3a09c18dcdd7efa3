import { InvalidArgumentError, UnavailableError } from '../errors';
import { runProgram } from '../process';
import type { AuthConfig } from './registry-auth';

/**
 * Docker credential helpers (`credHelpers` in auth.json, as containers/image honours them):
 * `docker-credential-<name> get` reads the registry on stdin and prints
 * `{"ServerURL", "Username", "Secret"}`; a Username of `<token>` means Secret is an identity
 * (refresh) token. "Not found" is a normal answer: the lookup then goes on with the files.
 */

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const TIMEOUT_MS = 30_000;

/** Output that means the helper has nothing for this registry (docker-credential-helpers' wording). */
const NOT_FOUND = /credentials not found|not found in native keychain/i;

/** Parses a helper's `get` output (pure). */
export function parseHelperOutput(helper: string, stdout: string): AuthConfig | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (err) {
    throw new InvalidArgumentError(`credential helper docker-credential-${helper} printed something that is not JSON`, { cause: err });
  }
  const o = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const username = typeof o.Username === 'string' ? o.Username : '';
  const secret = typeof o.Secret === 'string' ? o.Secret : '';
  if (secret === '') return undefined;
  if (username === '<token>') return { identityToken: secret };
  return { auth: Buffer.from(`${username}:${secret}`).toString('base64') };
}

/** Asks `docker-credential-<helper>` for `registry`'s credentials; undefined when it has none. */
export async function credentialsFromHelper(helper: string, registry: string): Promise<AuthConfig | undefined> {
  if (!NAME.test(helper)) throw new InvalidArgumentError(`credential helper name ${JSON.stringify(helper)} is not valid`);
  const program = `docker-credential-${helper}`;
  let res;
  try {
    res = await runProgram(program, ['get'], { input: registry, timeoutMs: TIMEOUT_MS });
  } catch (err) {
    throw new UnavailableError(`credential helper ${program} for ${registry} cannot be run (is it in PATH?)`, { cause: err });
  }
  const stdout = res.stdout.toString();
  if (res.exitCode !== 0) {
    if (NOT_FOUND.test(stdout) || NOT_FOUND.test(res.stderr.toString())) return undefined;
    const why = (res.stderr.toString().trim() || stdout.trim()).slice(0, 300);
    throw new UnavailableError(`credential helper ${program} failed for ${registry} (exit ${res.exitCode}${res.timedOut ? ', timed out' : ''}): ${why}`);
  }
  return parseHelperOutput(helper, stdout);
}
