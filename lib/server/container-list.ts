import { Container, ContainerState, type ListContainersRequest, type ListContainersResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { isClaimed, type ContainerRecord } from '../state/records';
import { criContainerState, toCriContainer } from './container-convert';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';

/**
 * ListContainers, the RPC the kubelet calls most. Records are immutable (every change makes a new
 * object), so each record's CRI message and its protobuf bytes are cached per record object: a
 * list of hundreds of containers is then a concatenation instead of hundreds of encodings. The
 * last few whole answers are kept too: the kubelet asks the same question every second and the
 * answer rarely changes, and a fresh 250 KiB concatenation (500 containers) costs about 1 ms in
 * page faults alone.
 */

const messages = new WeakMap<ContainerRecord, Container>();
/** Each container's bytes as a field of the response: key, length, message. */
const encoded = new WeakMap<Container, Uint8Array>();

function criContainer(record: ContainerRecord): Container {
  let c = messages.get(record);
  if (c === undefined) {
    c = toCriContainer(record);
    messages.set(record, c);
  }
  return c;
}

/** ListContainers: filters by ID prefix, pod ID prefix, state and label selector. */
export async function listContainers(deps: ServerDeps, _ctx: OpContext, req: ListContainersRequest): Promise<ListContainersResponse> {
  const f = req.filter;
  const containers = [];
  for (const record of deps.containers.list()) {
    if (!isClaimed(record)) continue;
    if (!matchesIdPrefix(record.id, f?.id)) continue;
    if (!matchesIdPrefix(record.podSandboxId, f?.podSandboxId)) continue;
    if (f?.state && f.state.state !== ContainerState.UNRECOGNIZED && f.state.state !== criContainerState(record)) continue;
    if (!matchesLabelSelector(record.labels, f?.labelSelector)) continue;
    containers.push(criContainer(record));
  }
  return { containers };
}

/** Whole encoded answers, newest first, with the messages they hold (in order). */
const recentAnswers: { containers: Container[]; bytes: Buffer }[] = [];
/** The kubelet's usual questions: everything, running only, and one more (a pod's containers). */
const RECENT_ANSWERS = 3;

function sameContainers(a: Container[], b: Container[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The protobuf key and length prefix of a length-delimited field. */
function fieldPrefix(field: number, length: number): Uint8Array {
  const bytes = [(field << 3) | 2];
  let n = length;
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Uint8Array.from(bytes);
}

/** Wire bytes of a ListContainersResponse (field 1 repeated Container), reusing a recent answer or each container's cached encoding. */
export function encodeListContainersResponse(res: ListContainersResponse): Buffer {
  const hit = recentAnswers.findIndex((a) => sameContainers(a.containers, res.containers));
  if (hit >= 0) {
    const [answer] = recentAnswers.splice(hit, 1);
    if (answer) {
      recentAnswers.unshift(answer);
      return answer.bytes;
    }
  }
  const parts: Uint8Array[] = [];
  for (const c of res.containers) {
    let field = encoded.get(c);
    if (field === undefined) {
      const message = Container.encode(c).finish();
      field = Buffer.concat([fieldPrefix(1, message.length), message]);
      encoded.set(c, field);
    }
    parts.push(field);
  }
  const bytes = Buffer.concat(parts);
  // A copy of the list: the caller's array is not ours to keep.
  recentAnswers.unshift({ containers: [...res.containers], bytes });
  recentAnswers.length = Math.min(recentAnswers.length, RECENT_ANSWERS);
  return bytes;
}
