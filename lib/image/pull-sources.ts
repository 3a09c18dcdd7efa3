import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { formatReference, isShortName, parseReference, type ImageReference } from './reference';
import type { RegistriesConf, RegistryConf, ShortNameMode } from './registries-conf';

/**
 * Turns an image name into what to fetch, as c/image does: short names expand through
 * aliases / unqualified-search-registries (pkg/shortnames), and a fully-qualified name maps to
 * its mirrors and then its (possibly rewritten) primary location (sysregistriesv2). Pure.
 */

/** A registry host to talk to, and whether it may be plain HTTP / unverified TLS. */
export interface RegistryEndpoint {
  host: string;
  insecure: boolean;
}

/** One place an image may be pulled from. */
export interface PullSource {
  endpoint: RegistryEndpoint;
  /** Repository path on that host (`library/busybox`). */
  repository: string;
  /** Tag or `sha256:` digest to ask for; a digest wins when the name has both. */
  reference: string;
  /** True for a `[[registry.mirror]]`: credentials for the logical registry are not sent there. */
  mirror: boolean;
}

/** c/image's refMatchingPrefix: the matched length, or -1. Tag, digest and path boundaries count. */
function matchPrefix(ref: string, prefix: string): number {
  if (prefix.startsWith('*.')) {
    const sub = prefix.slice(1);
    const index = ref.indexOf(sub);
    if (index === -1 || ref.slice(0, index).includes('/')) return -1;
    const end = index + sub.length;
    return end === ref.length || ':/@'.includes(ref.charAt(end)) ? end : -1;
  }
  if (!ref.startsWith(prefix)) return -1;
  if (ref.length === prefix.length) return prefix.length;
  return ':/@'.includes(ref.charAt(prefix.length)) ? prefix.length : -1;
}

/** The `[[registry]]` whose prefix matches `ref` longest, if any. */
export function findRegistry(conf: RegistriesConf, ref: ImageReference): { registry: RegistryConf; prefixLength: number } | undefined {
  const s = formatReference(ref);
  let best: { registry: RegistryConf; prefixLength: number } | undefined;
  for (const registry of conf.registries) {
    const n = matchPrefix(s, registry.prefix);
    if (n !== -1 && (best === undefined || n > best.prefixLength)) best = { registry, prefixLength: n };
  }
  return best;
}

/**
 * The ordered endpoints to try for a fully-qualified reference: mirrors first, then the primary
 * location (after prefix rewrite). Throws FailedPreconditionError when the registry is blocked.
 */
export function resolvePullSources(conf: RegistriesConf, ref: ImageReference): PullSource[] {
  const reference = ref.digest ?? ref.tag ?? 'latest';
  const found = findRegistry(conf, ref);
  if (!found) {
    return [{ endpoint: { host: ref.domain, insecure: false }, repository: ref.path, reference, mirror: false }];
  }
  const { registry, prefixLength } = found;
  if (registry.blocked) {
    throw new FailedPreconditionError(`registry ${registry.prefix} is blocked in registries.conf; refusing to pull ${formatReference(ref)}`);
  }
  const rest = formatReference(ref).slice(prefixLength);
  const rewrite = (location: string, insecure: boolean, mirror: boolean): PullSource => {
    // An empty location (wildcard prefix) keeps the reference's own host.
    const target = location === '' ? ref : parseRewritten(location + rest, registry.prefix);
    return { endpoint: { host: target.domain, insecure }, repository: target.path, reference, mirror };
  };
  const byDigest = ref.digest !== undefined;
  const sources: PullSource[] = [];
  if (!registry.mirrorByDigestOnly || byDigest) {
    for (const m of registry.mirrors) {
      if (m.pullFromMirror === 'digest-only' && !byDigest) continue;
      if (m.pullFromMirror === 'tag-only' && byDigest) continue;
      sources.push(rewrite(m.location, m.insecure, true));
    }
  }
  sources.push(rewrite(registry.location, registry.insecure, false));
  return sources;
}

function parseRewritten(s: string, prefix: string): ImageReference {
  try {
    return parseReference(s);
  } catch (err) {
    throw new InvalidArgumentError(`registries.conf prefix "${prefix}" rewrites to an invalid reference "${s}"`, { cause: err });
  }
}

/**
 * Search list when registries.conf defines none. c/image fails there ("no unqualified-search
 * registries are defined"); crio-ts falls back to Docker Hub like Docker and containerd, so a
 * node without registries.conf still runs `image: busybox`.
 */
export const FALLBACK_SEARCH_REGISTRIES: readonly string[] = ['docker.io'];

/**
 * The fully-qualified candidates for a possibly-short name, in the order to try them.
 * Qualified names give one candidate; aliases win over search registries; `enforcing` refuses
 * an ambiguous list (CRI-O never prompts), `permissive`/`disabled` try every candidate.
 */
export function resolveShortName(conf: RegistriesConf, name: string, mode: ShortNameMode = conf.shortNameMode): ImageReference[] {
  const parsed = parseReference(name);
  if (!isShortName(name)) return [parsed];
  const suffix = (parsed.tag !== undefined && hasExplicitTag(name) ? `:${parsed.tag}` : '') + (parsed.digest !== undefined ? `@${parsed.digest}` : '');
  const bare = stripTagAndDigest(name);
  const alias = conf.aliases[bare];
  if (alias !== undefined) {
    try {
      return [parseReference(alias + suffix)];
    } catch (err) {
      throw new InvalidArgumentError(`short-name alias "${bare}" = "${alias}" is not a valid reference`, { cause: err });
    }
  }
  const search = conf.unqualifiedSearchRegistries.length > 0 ? conf.unqualifiedSearchRegistries : FALLBACK_SEARCH_REGISTRIES;
  const candidates = search.map((reg) => parseReference(`${reg}/${bare}${suffix}`));
  if (mode === 'enforcing' && candidates.length > 1) {
    throw new InvalidArgumentError(
      `short name mode is enforcing, but image name ${name} returns ambiguous list: [${candidates.map(formatReference).join(' ')}]`,
    );
  }
  return candidates;
}

function stripTagAndDigest(name: string): string {
  const noDigest = name.split('@')[0] ?? name;
  const colon = noDigest.lastIndexOf(':');
  return colon > noDigest.lastIndexOf('/') ? noDigest.slice(0, colon) : noDigest;
}

function hasExplicitTag(name: string): boolean {
  return stripTagAndDigest(name) !== (name.split('@')[0] ?? name);
}
