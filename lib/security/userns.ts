import { InvalidArgumentError, UnimplementedError } from '../errors';
import { hostIdOf, type IdMapping, type IdMappings } from '../idmap';
import { quote } from '../quote';

export { hostIdOf, idMapText, type IdMapping, type IdMappings } from '../idmap';

/**
 * User namespaces of pods, pure: what the kubelet's `userns_options` (hostUsers: false) or
 * CRI-O's `userns-mode.crio.io` annotation ask for, validated, and the id arithmetic the rest
 * of the runtime needs (host ids of container ids, the id map lines of /proc/<pid>/uid_map).
 * A pod has one user namespace shared by all its containers, as in CRI-O.
 */

/** What a pod asked for. `auto` needs a host range allocated from /etc/subuid and /etc/subgid. */
export type UsernsRequest =
  | { mode: 'host' }
  | { mode: 'mapped'; mappings: IdMappings }
  | { mode: 'auto'; size: number };

/** The kernel's limit on lines in a uid_map or gid_map file. */
const MAX_LINES = 340;
const MAX_ID = 0xffff_ffff; // (uid_t)-1 is never a valid id
/** c/storage's default and upper bound for `auto` (auto-userns-max-size); 65536 covers every id images use. */
export const AUTO_USERNS_DEFAULT_SIZE = 65536;
/** c/storage's auto-userns-min-size. */
export const AUTO_USERNS_MIN_SIZE = 1024;

/** CRI NamespaceMode values, repeated here so lib/security stays free of the generated code. */
export const CRI_NAMESPACE_MODE = { POD: 0, CONTAINER: 1, NODE: 2, TARGET: 3 } as const;

/** CRI `UserNamespace` as this module reads it. */
export interface CriUserNamespace {
  mode: number;
  uids: readonly IdMapping[];
  gids: readonly IdMapping[];
}

function checkMap(what: string, map: readonly IdMapping[]): void {
  if (map.length === 0) throw new InvalidArgumentError(`${what}: no mapping given`);
  if (map.length > MAX_LINES) throw new InvalidArgumentError(`${what}: ${map.length} mappings, the kernel allows at most ${MAX_LINES}`);
  for (const m of map) {
    for (const [k, v] of [['containerId', m.containerId], ['hostId', m.hostId], ['length', m.length]] as const) {
      if (!Number.isInteger(v) || v < 0) throw new InvalidArgumentError(`${what}: ${k} ${v} is not a non-negative integer`);
    }
    if (m.length === 0) throw new InvalidArgumentError(`${what}: mapping ${describe(m)} has length 0`);
    if (m.containerId + m.length > MAX_ID || m.hostId + m.length > MAX_ID) {
      throw new InvalidArgumentError(`${what}: mapping ${describe(m)} goes past the largest id ${MAX_ID - 1}`);
    }
    if (m.hostId === 0) throw new InvalidArgumentError(`${what}: mapping ${describe(m)} maps onto host id 0; a user namespace must not contain host root`);
  }
  const overlaps = (key: 'containerId' | 'hostId') => {
    const sorted = [...map].sort((a, b) => a[key] - b[key]);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1] as IdMapping;
      const cur = sorted[i] as IdMapping;
      if (prev[key] + prev.length > cur[key]) return [prev, cur] as const;
    }
    return undefined;
  };
  for (const key of ['containerId', 'hostId'] as const) {
    const o = overlaps(key);
    if (o) throw new InvalidArgumentError(`${what}: mappings ${describe(o[0])} and ${describe(o[1])} overlap in their ${key === 'hostId' ? 'host' : 'container'} ids`);
  }
  if (hostIdOf(map, 0) === undefined) throw new InvalidArgumentError(`${what}: container id 0 is not mapped`);
}

function describe(m: IdMapping): string {
  return `${m.containerId}:${m.hostId}:${m.length}`;
}

/** Validates uid and gid maps (each: 1..340 non-overlapping lines mapping container id 0, never host id 0). */
export function validateIdMappings(what: string, mappings: IdMappings): void {
  checkMap(`${what} uid mappings`, mappings.uids);
  checkMap(`${what} gid mappings`, mappings.gids);
}

/** Like hostIdOf, for ownership of files the container must use: an unmapped id is an error naming it. */
export function requireHostId(map: readonly IdMapping[], containerId: number, what: string): number {
  const id = hostIdOf(map, containerId);
  if (id === undefined) throw new InvalidArgumentError(`${what} ${containerId} is not mapped in the pod's user namespace`);
  return id;
}

/** A mapping of `size` ids from container id 0 to `hostId` (what `auto` gives a pod). */
export function singleRange(hostId: number, size: number): IdMappings {
  return { uids: [{ containerId: 0, hostId, length: size }], gids: [{ containerId: 0, hostId, length: size }] };
}

function parseAnnotation(value: string): UsernsRequest {
  const v = value.trim();
  if (v === '' || v === 'host') return { mode: 'host' };
  const [mode, rest] = v.split(/:(.*)/s, 2) as [string, string | undefined];
  if (mode !== 'auto') {
    throw new InvalidArgumentError(`annotation userns-mode.crio.io: mode ${quote(mode)} is not one of "auto", "host"`);
  }
  let size = AUTO_USERNS_DEFAULT_SIZE;
  for (const opt of (rest ?? '').split(/[,;]/).map((s) => s.trim()).filter((s) => s !== '')) {
    const [key, val] = opt.split(/=(.*)/s, 2) as [string, string | undefined];
    if (key === 'size') {
      if (val === undefined || !/^[0-9]+$/.test(val)) throw new InvalidArgumentError(`annotation userns-mode.crio.io: size ${quote(val ?? '')} is not a number`);
      size = Number(val);
      if (size < AUTO_USERNS_MIN_SIZE || size > AUTO_USERNS_DEFAULT_SIZE) {
        throw new InvalidArgumentError(`annotation userns-mode.crio.io: size ${size} is outside ${AUTO_USERNS_MIN_SIZE}..${AUTO_USERNS_DEFAULT_SIZE}`);
      }
    } else if (key === 'keep-id' || key === 'map-to-root' || key === 'uidmapping' || key === 'gidmapping') {
      throw new UnimplementedError(`annotation userns-mode.crio.io: option ${quote(key)} is not supported by crio-ts (size= is)`);
    } else {
      throw new InvalidArgumentError(`annotation userns-mode.crio.io: unknown option ${quote(opt)}`);
    }
  }
  return { mode: 'auto', size };
}

/** Inputs of resolveUsernsRequest. */
export interface UsernsRequestInput {
  cri?: CriUserNamespace;
  /** The pod's `userns-mode.crio.io` (or v1 name) annotation, already filtered by allowed_annotations. */
  annotation?: string;
  hostNetwork: boolean;
  hostIpc: boolean;
  hostPid: boolean;
}

/**
 * The pod's user namespace request. The kubelet's CRI field wins over the annotation (a warning
 * says so); NODE means the host's; CONTAINER and TARGET do not exist for user namespaces; a user
 * namespace cannot be combined with host network, IPC or PID (Kubernetes forbids it too: the
 * pod's namespaces must be owned by its user namespace).
 */
export function resolveUsernsRequest(input: UsernsRequestInput): { request: UsernsRequest; warnings: string[] } {
  const warnings: string[] = [];
  let request: UsernsRequest = { mode: 'host' };
  const cri = input.cri;
  if (cri !== undefined && cri.mode !== CRI_NAMESPACE_MODE.NODE) {
    if (cri.mode !== CRI_NAMESPACE_MODE.POD) {
      const name = cri.mode === CRI_NAMESPACE_MODE.CONTAINER ? 'CONTAINER' : cri.mode === CRI_NAMESPACE_MODE.TARGET ? 'TARGET' : String(cri.mode);
      throw new InvalidArgumentError(`userns_options: mode ${name} is not supported for user namespaces (POD or NODE)`);
    }
    const mappings = { uids: cri.uids.map((m) => ({ ...m })), gids: cri.gids.map((m) => ({ ...m })) };
    validateIdMappings('userns_options', mappings);
    request = { mode: 'mapped', mappings };
    if (input.annotation !== undefined && input.annotation.trim() !== '') warnings.push('annotation userns-mode.crio.io ignored: the pod has userns_options');
  } else if (input.annotation !== undefined) {
    request = parseAnnotation(input.annotation);
  }
  if (request.mode !== 'host') {
    const shared = [input.hostNetwork && 'network', input.hostIpc && 'IPC', input.hostPid && 'PID'].filter((s): s is string => typeof s === 'string');
    if (shared.length > 0) throw new InvalidArgumentError(`a user namespace cannot be combined with the host's ${shared.join(', ')} namespace`);
  }
  return { request, warnings };
}
