import { promises as fs } from 'node:fs';
import path from 'node:path';
import { FailedPreconditionError, UnavailableError, errnoCode } from '../errors';
import { runProgram, stderrTail } from '../process';
import { DEFAULT_APPARMOR_PROFILE } from './apparmor';
import { parseAppArmorParserVersion, renderDefaultAppArmorProfile } from './apparmor-profile';
import { quote } from '../quote';

/**
 * AppArmor on the host: which profiles the kernel has loaded, and installing `crio-default` with
 * apparmor_parser. Used only when AppArmor is enabled (CRI-O ignores AppArmor entirely otherwise).
 */

/** Where the kernel lists loaded profiles ("name (mode)" per line). */
export const APPARMOR_PROFILES_FILE = '/sys/kernel/security/apparmor/profiles';

/** Paths and binaries, overridable for tests. */
export interface AppArmorHostOptions {
  parser?: string;
  profilesFile?: string;
  /** Directory of AppArmor includes (tunables/global, abstractions/base). */
  includeDir?: string;
}

/** Whether the kernel has a profile of this name loaded. */
export async function isAppArmorProfileLoaded(name: string, profilesFile = APPARMOR_PROFILES_FILE): Promise<boolean> {
  let text: string;
  try {
    text = await fs.readFile(profilesFile, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return false;
    throw err;
  }
  return text.split('\n').some((line) => line.startsWith(`${name} `));
}

const exists = (p: string): Promise<boolean> => fs.access(p).then(() => true, () => false);

/** Renders crio-default for this host (parser version, available includes). */
export async function renderHostDefaultProfile(name: string, options: AppArmorHostOptions = {}): Promise<string> {
  const parser = options.parser ?? 'apparmor_parser';
  const includeDir = options.includeDir ?? '/etc/apparmor.d';
  const version = await runProgram(parser, ['--version'], { timeoutMs: 10_000 }).catch((err: unknown) => {
    throw new UnavailableError(`AppArmor is enabled but ${parser} cannot be run (install the apparmor package)`, { cause: err });
  });
  if (version.exitCode !== 0) throw new UnavailableError(`${parser} --version failed: ${stderrTail(version)}`);
  return renderDefaultAppArmorProfile({
    name,
    parserVersion: parseAppArmorParserVersion(version.stdout.toString('utf8')),
    hasTunablesGlobal: await exists(path.join(includeDir, 'tunables/global')),
    hasAbstractionsBase: await exists(path.join(includeDir, 'abstractions/base')),
  });
}

/** Loads (or replaces) the default profile into the kernel: `apparmor_parser -Kr`, text on stdin. */
export async function installDefaultAppArmorProfile(name: string, options: AppArmorHostOptions = {}): Promise<void> {
  const parser = options.parser ?? 'apparmor_parser';
  const text = await renderHostDefaultProfile(name, options);
  const r = await runProgram(parser, ['-Kr'], { input: text, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new UnavailableError(`installing AppArmor profile ${quote(name)} failed: ${stderrTail(r)}`);
}

/**
 * Makes sure the profile a container will use is loaded: the default one is (re)installed when missing,
 * as CRI-O does on use; any other name must already be loaded, else runc would fail at start.
 */
export async function ensureAppArmorProfile(profile: string, defaultName: string, options: AppArmorHostOptions = {}): Promise<void> {
  if (profile === 'unconfined') return;
  const profilesFile = options.profilesFile ?? APPARMOR_PROFILES_FILE;
  if (await isAppArmorProfileLoaded(profile, profilesFile)) return;
  if (profile === defaultName) {
    await installDefaultAppArmorProfile(profile, options);
    return;
  }
  throw new FailedPreconditionError(`AppArmor profile ${quote(profile)} is not loaded (load it with apparmor_parser first)`);
}

/**
 * Start-up step for hosts with AppArmor (CRI-O `apparmor.Config.LoadProfile`): `unconfined` needs
 * nothing, the default profile is (re)installed, any other configured profile must already be loaded.
 * Failing here should stop the daemon, as in CRI-O.
 */
export async function setupAppArmorAtStart(configuredProfile: string, options: AppArmorHostOptions = {}): Promise<void> {
  if (configuredProfile === 'unconfined') return;
  if (configuredProfile === '' || configuredProfile === DEFAULT_APPARMOR_PROFILE) {
    await installDefaultAppArmorProfile(DEFAULT_APPARMOR_PROFILE, options);
    return;
  }
  if (!(await isAppArmorProfileLoaded(configuredProfile, options.profilesFile ?? APPARMOR_PROFILES_FILE))) {
    throw new FailedPreconditionError(`crio.runtime.apparmor_profile: AppArmor profile ${quote(configuredProfile)} is not loaded`);
  }
}
