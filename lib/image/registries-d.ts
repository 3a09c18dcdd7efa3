import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode, InvalidArgumentError } from '../errors';
import { policyScopes } from './signature-policy';
import { digestHex, type ImageReference } from './reference';

/**
 * containers-registries.d(5): where signatures of an image live. Every `*.yaml` in the
 * directory (default /etc/containers/registries.d) is merged; per scope (the same namespaces
 * as policy.json, most specific first, then `default-docker`) each setting falls through to a
 * less specific scope when unset. `lookaside` (or its old name `sigstore`) is the base URL of
 * simple-signing signatures; `use-sigstore-attachments` turns on cosign `.sig` tags.
 */

/** Where c/image looks without configuration. */
export const DEFAULT_REGISTRIES_D = '/etc/containers/registries.d';
/** Lookaside used when no scope sets one (c/image's builtin default for root). */
export const DEFAULT_LOOKASIDE = 'file:///var/lib/containers/sigstore';

/** One scope's settings. */
export interface SignatureStorageConf {
  lookaside?: string;
  useSigstoreAttachments?: boolean;
}

/** The merged registries.d configuration. */
export interface RegistriesD {
  defaultDocker: SignatureStorageConf;
  docker: Map<string, SignatureStorageConf>;
}

function readScope(v: unknown, where: string): SignatureStorageConf {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new InvalidArgumentError(`${where}: want a mapping`);
  const o = v as Record<string, unknown>;
  const out: SignatureStorageConf = {};
  const lookaside = o.lookaside ?? o.sigstore;
  if (o.lookaside !== undefined && o.sigstore !== undefined) throw new InvalidArgumentError(`${where}: both lookaside and sigstore are set`);
  if (lookaside !== undefined) {
    if (typeof lookaside !== 'string' || lookaside === '') throw new InvalidArgumentError(`${where}: lookaside must be a URL`);
    out.lookaside = lookaside;
  }
  const att = o['use-sigstore-attachments'];
  if (att !== undefined) {
    if (typeof att !== 'boolean') throw new InvalidArgumentError(`${where}: use-sigstore-attachments must be true or false`);
    out.useSigstoreAttachments = att;
  }
  return out;
}

/** Parses one YAML file into `into` (pure apart from the error text naming `file`). */
export function parseRegistriesDFile(text: string, file: string, into: RegistriesD, seenDefault: { file?: string }): void {
  // js-yaml is loaded only when a registries.d file is read (signature checks): ~0.5 MiB an idle daemon never needs.
  const yaml = require('js-yaml') as typeof import('js-yaml');
  let doc: unknown;
  try {
    doc = yaml.load(text);
  } catch (err) {
    throw new InvalidArgumentError(`${file}: invalid YAML: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (doc === null || doc === undefined) return;
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new InvalidArgumentError(`${file}: want a mapping at the top level`);
  const o = doc as Record<string, unknown>;
  if (o['default-docker'] !== undefined) {
    if (seenDefault.file !== undefined) throw new InvalidArgumentError(`${file}: default-docker is also defined in ${seenDefault.file}`);
    seenDefault.file = file;
    into.defaultDocker = readScope(o['default-docker'], `${file}: default-docker`);
  }
  const docker = o.docker;
  if (docker === undefined || docker === null) return;
  if (typeof docker !== 'object' || Array.isArray(docker)) throw new InvalidArgumentError(`${file}: docker must be a mapping`);
  for (const [scope, v] of Object.entries(docker)) {
    if (into.docker.has(scope)) throw new InvalidArgumentError(`${file}: docker scope "${scope}" is defined twice`);
    into.docker.set(scope, readScope(v, `${file}: docker["${scope}"]`));
  }
}

/** Loads every `*.yaml` in `dir` (absent dir = empty configuration). */
export async function loadRegistriesD(dir: string): Promise<RegistriesD> {
  const conf: RegistriesD = { defaultDocker: {}, docker: new Map() };
  let names: string[];
  try {
    names = (await fs.readdir(dir)).filter((n) => n.endsWith('.yaml')).sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return conf;
    throw err;
  }
  const seenDefault: { file?: string } = {};
  for (const n of names) {
    const file = path.join(dir, n);
    parseRegistriesDFile(await fs.readFile(file, 'utf8'), file, conf, seenDefault);
  }
  return conf;
}

/** A setting for `ref`: the most specific scope that sets it, else default-docker. */
function setting<K extends keyof SignatureStorageConf>(conf: RegistriesD, ref: ImageReference, key: K): SignatureStorageConf[K] {
  for (const scope of policyScopes(ref)) {
    const v = conf.docker.get(scope)?.[key];
    if (v !== undefined) return v;
  }
  return conf.defaultDocker[key];
}

/** Whether cosign `.sig` attachments are read for `ref`. */
export function useSigstoreAttachments(conf: RegistriesD, ref: ImageReference): boolean {
  return setting(conf, ref, 'useSigstoreAttachments') ?? false;
}

/** URL of the `index`-th (0-based) simple signature of `manifestDigest` (c/image lookasideStorageURL). */
export function lookasideSignatureUrl(conf: RegistriesD, ref: ImageReference, manifestDigest: string, index: number): URL {
  const base = new URL(setting(conf, ref, 'lookaside') ?? DEFAULT_LOOKASIDE);
  const dir = base.pathname.replace(/\/+$/, '');
  base.pathname = `${dir}/${ref.path}@sha256=${digestHex(manifestDigest)}/signature-${index + 1}`;
  return base;
}
