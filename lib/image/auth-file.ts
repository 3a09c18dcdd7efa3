import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errnoCode, InvalidArgumentError } from '../errors';
import { credentialsFromHelper } from './credential-helper';
import type { AuthConfig } from './registry-auth';

/**
 * containers-auth.json(5): registry credentials on disk. Which files are read (c/image
 * pkg/docker/config getAuthFilePaths) and which entry applies to a repository: keys match
 * most-specific first, `host/ns/repo` → `host/ns` → `host`; legacy Docker keys such as
 * `https://index.docker.io/v1/` are normalised to their host. Files are re-read on every pull,
 * as c/image does, so credentials rotated on disk apply without a restart.
 */

/** One auth file's credentials, by normalised key. */
export type AuthEntries = Map<string, AuthConfig>;

/** Where to look for auth files. */
export interface AuthFileLocations {
  /** `[crio.image] global_auth_file`: when set, the only file read. */
  globalAuthFile?: string;
  env?: NodeJS.ProcessEnv;
  uid?: number;
  home?: string;
}

/** A file to read and whether it is the legacy `.dockercfg` format (no `auths` wrapper). */
export interface AuthFilePath {
  path: string;
  legacy: boolean;
}

/**
 * The auth files to consult, in order. An explicit file (`global_auth_file`, else
 * `REGISTRY_AUTH_FILE`) is the only one read; otherwise the runtime-dir file
 * (`/run/containers/<uid>/auth.json` for root), `$XDG_CONFIG_HOME/containers/auth.json`,
 * `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, then `~/.dockercfg`.
 */
export function authFilePaths(loc: AuthFileLocations = {}): AuthFilePath[] {
  const env = loc.env ?? process.env;
  if (loc.globalAuthFile) return [{ path: loc.globalAuthFile, legacy: false }];
  if (env.REGISTRY_AUTH_FILE) return [{ path: env.REGISTRY_AUTH_FILE, legacy: false }];
  const uid = loc.uid ?? process.getuid?.() ?? 0;
  const home = loc.home ?? env.HOME ?? os.homedir();
  const runtimeDir = env.XDG_RUNTIME_DIR ? path.join(env.XDG_RUNTIME_DIR, 'containers') : `/run/containers/${uid}`;
  const configHome = env.XDG_CONFIG_HOME ?? path.join(home, '.config');
  return [
    { path: path.join(runtimeDir, 'auth.json'), legacy: false },
    { path: path.join(configHome, 'containers', 'auth.json'), legacy: false },
    { path: env.DOCKER_CONFIG ? path.join(env.DOCKER_CONFIG, 'config.json') : path.join(home, '.docker', 'config.json'), legacy: false },
    { path: path.join(home, '.dockercfg'), legacy: true },
  ];
}

/** `https://index.docker.io/v1/` → `docker.io`; `host/ns/repo` stays (c/image normalizeAuthFileKey). */
export function normalizeAuthKey(key: string): string {
  let k = key;
  const scheme = /^https?:\/\//.exec(k);
  if (scheme) {
    // Keys with a scheme are Docker-style: only the host part counts.
    k = k.slice(scheme[0].length).split('/')[0] ?? '';
  }
  if (k === 'index.docker.io' || k === 'registry-1.docker.io') return 'docker.io';
  return k.replace(/\/+$/, '');
}

/** Parses an auth file's text (pure); errors name the file. */
export function parseAuthFile(text: string, file: string, legacy = false): AuthEntries {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`auth file ${file}: not valid JSON`, { cause: err });
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InvalidArgumentError(`auth file ${file}: not a JSON object`);
  const obj = doc as Record<string, unknown>;
  const auths = legacy ? obj : obj.auths;
  const out: AuthEntries = new Map();
  if (auths === undefined) return out;
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw new InvalidArgumentError(`auth file ${file}: "auths" is not an object`);
  for (const [key, value] of Object.entries(auths)) {
    if (typeof value !== 'object' || value === null) continue;
    const v = value as Record<string, unknown>;
    const entry: AuthConfig = {};
    if (typeof v.auth === 'string' && v.auth !== '') {
      const decoded = Buffer.from(v.auth, 'base64').toString('utf8');
      if (!decoded.includes(':')) throw new InvalidArgumentError(`auth file ${file}: entry "${key}": "auth" is not base64("user:password")`);
      entry.auth = v.auth;
    }
    if (typeof v.identitytoken === 'string' && v.identitytoken !== '') entry.identityToken = v.identitytoken;
    if (entry.auth === undefined && entry.identityToken === undefined) continue;
    const norm = normalizeAuthKey(key);
    // An exact key written by podman wins over a legacy one normalised to the same name.
    if (!out.has(norm) || !/^https?:\/\//.test(key)) out.set(norm, entry);
  }
  return out;
}

/** `credHelpers` of an auth file: registry host → helper name (`docker-credential-<name>`), pure. */
export function parseCredHelpers(text: string, file: string): Map<string, string> {
  const out = new Map<string, string>();
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`auth file ${file}: not valid JSON`, { cause: err });
  }
  const helpers = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>).credHelpers : undefined;
  if (helpers === undefined) return out;
  if (typeof helpers !== 'object' || helpers === null || Array.isArray(helpers)) throw new InvalidArgumentError(`auth file ${file}: "credHelpers" is not an object`);
  for (const [key, value] of Object.entries(helpers)) {
    if (typeof value === 'string' && value !== '') out.set(normalizeAuthKey(key), value);
  }
  return out;
}

/** One auth file: its credentials and its credential helpers. */
export interface AuthFileContent {
  entries: AuthEntries;
  credHelpers: Map<string, string>;
}

/** Reads one file; undefined when it does not exist. */
export async function readAuthFileContent(p: AuthFilePath): Promise<AuthFileContent | undefined> {
  let text: string;
  try {
    text = await fs.readFile(p.path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
  return { entries: parseAuthFile(text, p.path, p.legacy), credHelpers: p.legacy ? new Map() : parseCredHelpers(text, p.path) };
}

/** Reads one file's credentials; undefined when it does not exist. */
export async function readAuthFile(p: AuthFilePath): Promise<AuthEntries | undefined> {
  return (await readAuthFileContent(p))?.entries;
}

/** The keys that may hold credentials for `host/path`, most specific first. */
export function authKeysFor(repository: string): string[] {
  const parts = repository.split('/');
  const keys: string[] = [];
  for (let n = parts.length; n >= 1; n--) keys.push(parts.slice(0, n).join('/'));
  return keys;
}

/** The credentials for `repository` (`host/path`) in one file's entries, if any. */
export function lookupAuth(entries: AuthEntries, repository: string): AuthConfig | undefined {
  for (const key of authKeysFor(repository)) {
    const hit = entries.get(key);
    if (hit) return hit;
  }
  return undefined;
}

/** Looks credentials up in the configured files; the first file with a matching entry wins. */
export class AuthFiles {
  constructor(private readonly locations: AuthFileLocations = {}) {}

  /**
   * Credentials for `repository` (`host/path` of the registry actually contacted). In each file a
   * credential helper for the host comes before the stored entries, as in containers/image.
   */
  async lookup(repository: string): Promise<AuthConfig | undefined> {
    const host = normalizeAuthKey(repository.split('/')[0] ?? '');
    for (const p of authFilePaths(this.locations)) {
      const content = await readAuthFileContent(p);
      if (!content) continue;
      const helper = content.credHelpers.get(host);
      const fromHelper = helper === undefined ? undefined : await credentialsFromHelper(helper, host);
      if (fromHelper) return fromHelper;
      const hit = lookupAuth(content.entries, repository);
      if (hit) return hit;
    }
    return undefined;
  }
}
