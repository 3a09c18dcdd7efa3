import { promises as fs } from 'node:fs';
import { errnoCode, FailedPreconditionError, InvalidArgumentError } from '../errors';
import { repositoryName, type ImageReference } from './reference';

/**
 * containers-policy.json(5): which images may be pulled, parsed as strictly as c/image does
 * (unknown fields or a malformed requirement reject the whole file), and the requirement list
 * that applies to a reference — the most specific `docker` transport scope wins: `repo:tag` /
 * `repo@digest`, then the repository, its parent namespaces, the host, `*.domain` wildcards,
 * the transport default `""`, and finally the global `default`.
 */

/** How a signature's claimed identity must relate to the image's name. */
export type SignedIdentity =
  | { type: 'matchExact' }
  | { type: 'matchRepoDigestOrExact' }
  | { type: 'matchRepository' }
  | { type: 'exactReference'; dockerReference: string }
  | { type: 'exactRepository'; dockerRepository: string }
  | { type: 'remapIdentity'; prefix: string; signedPrefix: string };

/** One policy requirement. Key material is kept as given (paths or base64 data). */
export type PolicyRequirement =
  | { type: 'insecureAcceptAnything' }
  | { type: 'reject' }
  | { type: 'signedBy'; keyType: 'GPGKeys'; keyPaths: string[]; keyDatas: string[]; signedIdentity: SignedIdentity }
  | {
      type: 'sigstoreSigned';
      keyPaths: string[];
      keyDatas: string[];
      /** Set when the policy uses fulcio/pki/Rekor, which crio-ts cannot verify (such images are rejected). */
      unsupported?: string;
      signedIdentity: SignedIdentity;
    };

/** A parsed policy.json. */
export interface SignaturePolicy {
  file: string;
  default: PolicyRequirement[];
  /** Scopes of the `docker` transport (other transports never apply to registry pulls). */
  docker: Map<string, PolicyRequirement[]>;
}

type Json = Record<string, unknown>;

class Reader {
  constructor(
    readonly file: string,
    readonly where: string,
  ) {}

  error(what: string): InvalidArgumentError {
    return new InvalidArgumentError(`policy ${this.file}: ${this.where}: ${what}`);
  }

  object(v: unknown, allowed: readonly string[]): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw this.error('want a JSON object');
    for (const k of Object.keys(v)) if (!allowed.includes(k)) throw this.error(`unknown field "${k}"`);
    return v as Json;
  }

  string(v: unknown, key: string): string {
    if (typeof v !== 'string' || v === '') throw this.error(`"${key}" must be a non-empty string`);
    return v;
  }

  strings(v: unknown, key: string): string[] {
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x !== '')) throw this.error(`"${key}" must be a non-empty array of strings`);
    return v as string[];
  }

  at(where: string): Reader {
    return new Reader(this.file, where);
  }
}

/** Exactly one of the key sources; `plural` variants are arrays. */
function keySources(r: Reader, o: Json, names: { path: string; paths: string; data: string; datas?: string }): { keyPaths: string[]; keyDatas: string[] } | undefined {
  const present = [names.path, names.paths, names.data, names.datas].filter((k): k is string => k !== undefined && o[k] !== undefined);
  if (present.length === 0) return undefined;
  if (present.length > 1) throw r.error(`only one of ${present.join(', ')} may be set`);
  const k = present[0] ?? '';
  if (k === names.path) return { keyPaths: [r.string(o[k], k)], keyDatas: [] };
  if (k === names.paths) return { keyPaths: r.strings(o[k], k), keyDatas: [] };
  if (k === names.data) return { keyPaths: [], keyDatas: [r.string(o[k], k)] };
  return { keyPaths: [], keyDatas: r.strings(o[k], k) };
}

function parseIdentity(r: Reader, v: unknown): SignedIdentity {
  if (v === undefined) return { type: 'matchRepoDigestOrExact' };
  const head = r.at(`${r.where}.signedIdentity`);
  const t = head.object(v, ['type', 'dockerReference', 'dockerRepository', 'prefix', 'signedPrefix']).type;
  switch (t) {
    case 'matchExact':
    case 'matchRepoDigestOrExact':
    case 'matchRepository':
      head.object(v, ['type']);
      return { type: t };
    case 'exactReference':
      return { type: t, dockerReference: head.string(head.object(v, ['type', 'dockerReference']).dockerReference, 'dockerReference') };
    case 'exactRepository':
      return { type: t, dockerRepository: head.string(head.object(v, ['type', 'dockerRepository']).dockerRepository, 'dockerRepository') };
    case 'remapIdentity': {
      const o = head.object(v, ['type', 'prefix', 'signedPrefix']);
      return { type: t, prefix: head.string(o.prefix, 'prefix'), signedPrefix: head.string(o.signedPrefix, 'signedPrefix') };
    }
    default:
      throw head.error(`unknown signedIdentity type ${JSON.stringify(t)}`);
  }
}

function parseRequirement(r: Reader, v: unknown): PolicyRequirement {
  const t = r.object(v, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'keyDatas', 'signedIdentity', 'fulcio', 'pki', 'rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas', 'layerTypes', 'baseLayerIdentity']).type;
  if (t === 'insecureAcceptAnything' || t === 'reject') {
    r.object(v, ['type']);
    return { type: t };
  }
  if (t === 'signedBy') {
    const o = r.object(v, ['type', 'keyType', 'keyPath', 'keyPaths', 'keyData', 'signedIdentity']);
    if (o.keyType !== 'GPGKeys') throw r.error(`keyType ${JSON.stringify(o.keyType)} is not supported (GPGKeys only)`);
    const keys = keySources(r, o, { path: 'keyPath', paths: 'keyPaths', data: 'keyData' });
    if (!keys) throw r.error('signedBy needs one of keyPath, keyPaths, keyData');
    return { type: t, keyType: 'GPGKeys', ...keys, signedIdentity: parseIdentity(r, o.signedIdentity) };
  }
  if (t === 'sigstoreSigned') {
    const o = r.object(v, ['type', 'keyPath', 'keyPaths', 'keyData', 'keyDatas', 'fulcio', 'pki', 'rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas', 'signedIdentity']);
    const keys = keySources(r, o, { path: 'keyPath', paths: 'keyPaths', data: 'keyData', datas: 'keyDatas' });
    const others = ['fulcio', 'pki'].filter((k) => o[k] !== undefined);
    if ((keys ? 1 : 0) + others.length !== 1) throw r.error('sigstoreSigned needs exactly one of keyPath(s), keyData(s), fulcio, pki');
    const rekor = ['rekorPublicKeyPath', 'rekorPublicKeyPaths', 'rekorPublicKeyData', 'rekorPublicKeyDatas'].filter((k) => o[k] !== undefined);
    if (o.fulcio !== undefined && rekor.length === 0) throw r.error('fulcio requires a Rekor public key');
    const req: PolicyRequirement = { type: t, keyPaths: keys?.keyPaths ?? [], keyDatas: keys?.keyDatas ?? [], signedIdentity: parseIdentity(r, o.signedIdentity) };
    if (others.length > 0 || rekor.length > 0) req.unsupported = `${[...others, ...rekor].join(', ')} verification is not supported by crio-ts`;
    return req;
  }
  if (t === 'signedBaseLayer') throw r.error('signedBaseLayer is not supported');
  throw r.error(`unknown requirement type ${JSON.stringify(t)}`);
}

function parseRequirements(r: Reader, v: unknown): PolicyRequirement[] {
  if (!Array.isArray(v)) throw r.error('want an array of requirements');
  if (v.length === 0) throw r.error('an empty requirement list is not allowed (use insecureAcceptAnything)');
  return v.map((x, i) => parseRequirement(r.at(`${r.where}[${i}]`), x));
}

/** Parses policy.json text (pure). */
export function parsePolicy(text: string, file: string): SignaturePolicy {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`policy ${file}: not valid JSON`, { cause: err });
  }
  const r = new Reader(file, 'top level');
  const o = r.object(doc, ['default', 'transports']);
  const policy: SignaturePolicy = { file, default: parseRequirements(r.at('default'), o.default), docker: new Map() };
  if (o.transports === undefined) return policy;
  const transports = r.at('transports').object(o.transports, ['docker', 'atomic', 'containers-storage', 'dir', 'docker-archive', 'docker-daemon', 'oci', 'oci-archive', 'sif', 'tarball']);
  for (const [name, scopes] of Object.entries(transports)) {
    const tr = r.at(`transports.${name}`);
    const scopeMap = tr.object(scopes, Object.keys(scopes as Json));
    for (const [scope, reqs] of Object.entries(scopeMap)) {
      const parsed = parseRequirements(tr.at(`transports.${name}["${scope}"]`), reqs);
      if (name === 'docker') policy.docker.set(scope, parsed);
    }
  }
  return policy;
}

/** Reads a policy file; FailedPreconditionError naming it when it is missing. */
export async function loadPolicy(file: string): Promise<SignaturePolicy> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') throw new FailedPreconditionError(`signature policy ${file} does not exist`, { cause: err });
    throw err;
  }
  return parsePolicy(text, file);
}

/** The scopes to try for a reference, most specific first (c/image PolicyConfigurationNamespaces). */
export function policyScopes(ref: ImageReference): string[] {
  const repo = repositoryName(ref);
  const out: string[] = [];
  if (ref.digest !== undefined) out.push(`${repo}@${ref.digest}`);
  else if (ref.tag !== undefined) out.push(`${repo}:${ref.tag}`);
  const parts = repo.split('/');
  for (let n = parts.length; n >= 1; n--) out.push(parts.slice(0, n).join('/'));
  // `*.example.com` wildcards; the port is dropped first, as c/image does.
  const labels = (ref.domain.split(':')[0] ?? '').split('.');
  for (let i = 1; i < labels.length; i++) out.push(`*.${labels.slice(i).join('.')}`);
  return out;
}

/** The requirements that apply to `ref`, and the scope that chose them ('' = transport default, 'default'). */
export function requirementsFor(policy: SignaturePolicy, ref: ImageReference): { scope: string; requirements: PolicyRequirement[] } {
  for (const scope of policyScopes(ref)) {
    const reqs = policy.docker.get(scope);
    if (reqs) return { scope, requirements: reqs };
  }
  const transportDefault = policy.docker.get('');
  if (transportDefault) return { scope: '', requirements: transportDefault };
  return { scope: 'default', requirements: policy.default };
}
