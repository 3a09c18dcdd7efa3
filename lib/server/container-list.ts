import { Container, ContainerState, type ListContainersRequest, type ListContainersResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ContainerRecord } from '../state/records';
import { criContainerState, toCriContainer } from './container-convert';
import type { ServerDeps } from './deps';
import { matchesIdPrefix, matchesLabelSelector } from './filters';

/**
 * ListContainers, the RPC the kubelet calls most. Records are immutable (every change makes a new
 * object), so each record's CRI message and its protobuf bytes are cached per record object: a
 * list of hundreds of containers is then a concatenation instead of hundreds of encodings.
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
    if (!matchesIdPrefix(record.id, f?.id)) continue;
    if (!matchesIdPrefix(record.podSandboxId, f?.podSandboxId)) continue;
    if (f?.state && f.state.state !== ContainerState.UNRECOGNIZED && f.state.state !== criContainerState(record)) continue;
    if (!matchesLabelSelector(record.labels, f?.labelSelector)) continue;
    containers.push(criContainer(record));
  }
  return { containers };
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

/** Wire bytes of a ListContainersResponse (field 1 repeated Container), reusing each container's cached encoding. */
export function encodeListContainersResponse(res: ListContainersResponse): Buffer {
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
  return Buffer.concat(parts);
}
