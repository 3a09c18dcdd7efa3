import { promises as fs } from 'node:fs';
import { NamespaceMode, type PodSandboxConfig } from '../cri/gen/api';
import { errnoCode, FailedPreconditionError } from '../errors';
import { ANNOTATIONS, annotationValue } from '../security/annotations';
import { AUTO_USERNS_USER, allocateRange, intersectRanges, parseSubIds, type IdRange } from '../security/userns-auto';
import { hostIdOf, resolveUsernsRequest, singleRange, type IdMappings, type UsernsRequest } from '../security/userns';
import type { SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';

/**
 * The server side of pod user namespaces: reads the request from the RunPodSandbox config,
 * hands out host id ranges for `userns-mode.crio.io: auto` (from /etc/subuid and /etc/subgid,
 * never one used by another pod of this node), and gives the pod's root the files it must own.
 */

/** The pod's user namespace request (pure; throws InvalidArgument for what Kubernetes would refuse). */
export function podUsernsRequest(config: PodSandboxConfig): { request: UsernsRequest; warnings: string[] } {
  const ns = config.linux?.securityContext?.namespaceOptions;
  return resolveUsernsRequest({
    cri: ns?.usernsOptions,
    annotation: annotationValue(config.annotations, ANNOTATIONS.usernsMode),
    hostNetwork: ns?.network === NamespaceMode.NODE,
    hostIpc: ns?.ipc === NamespaceMode.NODE,
    hostPid: ns?.pid === NamespaceMode.NODE,
  });
}

/** Ranges handed out to pods whose record is not written yet, per sandbox store. */
const pending = new WeakMap<object, Map<string, IdRange>>();

async function readIfExists(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return '';
    throw err;
  }
}

/** Where the pod's ids come from: mapped as asked, or allocated for `auto`. `release` drops an unrecorded allocation. */
export async function podIdMappings(
  deps: ServerDeps,
  podSandboxId: string,
  request: UsernsRequest,
): Promise<{ mappings?: IdMappings; auto: boolean; release: () => void }> {
  if (request.mode === 'host') return { auto: false, release: () => undefined };
  if (!deps.host.userNamespaces) {
    throw new FailedPreconditionError('this node cannot give pods user namespaces: it needs Linux 5.19 or newer (idmapped overlay layers) and user.max_user_namespaces > 0');
  }
  if (request.mode === 'mapped') return { mappings: request.mappings, auto: false, release: () => undefined };
  const user = { name: AUTO_USERNS_USER };
  const available = intersectRanges(parseSubIds(await readIfExists('/etc/subuid'), user), parseSubIds(await readIfExists('/etc/subgid'), user));
  // From here to the reservation nothing awaits, so two pods never get the same range.
  let mine = pending.get(deps.sandboxes);
  if (!mine) pending.set(deps.sandboxes, (mine = new Map()));
  const used = [...autoRangesInUse(deps.sandboxes.list()), ...mine.values()];
  const start = allocateRange(available, used, request.size);
  const reserved = mine;
  reserved.set(podSandboxId, { start, length: request.size });
  return { mappings: singleRange(start, request.size), auto: true, release: () => reserved.delete(podSandboxId) };
}

function autoRangesInUse(pods: SandboxRecord[]): IdRange[] {
  const out: IdRange[] = [];
  for (const p of pods) {
    if (!p.userns?.auto) continue;
    for (const m of [...p.userns.uids, ...p.userns.gids]) out.push({ start: m.hostId, length: m.length });
  }
  return out;
}

/** How many gids from 0 up the pod has without a gap (what ping_group_range may cover). */
export function gidCount(mappings: IdMappings): number {
  let n = 0;
  while (hostIdOf(mappings.gids, n) !== undefined) {
    const m = mappings.gids.find((g) => n >= g.containerId && n < g.containerId + g.length);
    if (!m) break;
    n = m.containerId + m.length;
  }
  return n;
}

/** Host uid and gid of the pod's root. */
export function podRootIds(mappings: IdMappings): { uid: number; gid: number } {
  // validateIdMappings guarantees container id 0 is mapped; 0 only for a malformed record.
  return { uid: hostIdOf(mappings.uids, 0) ?? 0, gid: hostIdOf(mappings.gids, 0) ?? 0 };
}

/** hosts, resolv.conf and hostname belong to the pod's root, who may edit them as in a pod without a user namespace. */
export async function chownPodFiles(files: SandboxRecord['podFiles'], mappings: IdMappings): Promise<void> {
  const root = podRootIds(mappings);
  for (const f of [files.hostsPath, files.resolvPath, files.hostnamePath]) {
    if (f !== '') await fs.chown(f, root.uid, root.gid);
  }
}
