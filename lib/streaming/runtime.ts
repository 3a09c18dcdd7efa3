import type { Duplex } from 'node:stream';
import type { AttachRequest, ExecRequest } from '../cri/gen/api';
import type { Logger } from '../log';
import type { StreamIo } from '../oci/conmon-attach';

/**
 * What the streaming server asks of the runtime once a client has connected (the kubelet's
 * streaming.Runtime). Implementations re-check the container or pod: it may have changed since
 * the RPC handed out the URL.
 */

/** The client's streams plus the session's signal (aborted when the client goes away or the server closes). */
export interface SessionIo extends StreamIo {
  signal: AbortSignal;
  log: Logger;
}

/** The runtime side of exec, attach and port-forward sessions. */
export interface StreamRuntime {
  /** Runs `req.cmd`; resolves with its exit code, rejects when it could not run. */
  exec(req: ExecRequest, io: SessionIo): Promise<number>;
  /** Attaches to the container's own stdio until it exits or the client leaves. */
  attach(req: AttachRequest, io: SessionIo): Promise<void>;
  /** Relays `stream` to `port` in the pod's network namespace until either side closes. */
  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal, log: Logger): Promise<void>;
}
