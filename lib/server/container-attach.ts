import path from 'node:path';
import type { AttachRequest, AttachResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { FailedPreconditionError } from '../errors';
import { attachSocketPath } from '../oci/conmon-args';
import { connectAttachSocket, forwardResizes, pumpAttachSocket } from '../oci/conmon-attach';
import type { ContainerRecord } from '../state/records';
import type { StreamRuntime } from '../streaming/runtime';
import type { StreamingServer } from '../streaming/server';
import { containerConfig } from './container-convert';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/**
 * Attach: connects the client to the container's own stdio through conmon's attach socket (and
 * its ctl fifo for terminal resizes). Only created or running containers can be attached to,
 * as with CRI-O.
 */
export async function attach(deps: ServerDeps, streaming: StreamingServer, _ctx: OpContext, req: AttachRequest): Promise<AttachResponse> {
  const record = attachable(deps, req.containerId);
  return { url: streaming.attachUrl({ ...req, containerId: record.id }) };
}

function attachable(deps: ServerDeps, containerId: string): ContainerRecord {
  const record = findContainer(deps, containerId);
  if (record.state !== 'running' && record.state !== 'created') {
    throw new FailedPreconditionError(`Attach: container ${record.id} is ${record.state}, not created or running`);
  }
  return record;
}

/** The streaming side of Attach: copies until the container exits or the client leaves. */
export function attachToContainer(deps: ServerDeps): StreamRuntime['attach'] {
  return async (req, io) => {
    const record = attachable(deps, req.containerId);
    const config = containerConfig(record);
    const sock = await connectAttachSocket(attachSocketPath(record.bundleDir));
    if (req.tty) void forwardResizes(path.join(record.bundleDir, 'ctl'), io.resize).catch(() => undefined);
    io.log.debug('attached', { containerId: record.id });
    // CRI-O: a non-tty container that keeps stdin open (not stdin_once) ends the attach when the client's stdin ends.
    await pumpAttachSocket(sock, io, { signal: io.signal, returnOnStdinEnd: config.stdin && !config.stdinOnce && !req.tty });
  };
}
