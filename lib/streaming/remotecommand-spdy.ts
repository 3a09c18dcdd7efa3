import type { Readable } from 'node:stream';
import type { TerminalSize } from '../oci/conmon-attach';
import { AsyncQueue } from './async-queue';
import { supportsResize } from './protocols';
import { ResizeDecoder } from './resize-decoder';
import type { ClientStreams, StreamOptions } from './session';
import { replyToStream, type SpdySession, type SpdyStream } from './spdy-session';
import { encodeOutcome } from './status';

/**
 * remotecommand over SPDY (the kubelet's createHTTPStreamStreams): the client opens an `error`
 * stream, one per requested std stream and, with a terminal on v3+, a `resize` stream; the session
 * starts once all expected streams exist.
 */

type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/** Waits for the client's streams; rejects if they do not all arrive within `timeoutMs` or the client leaves. */
export function spdyClientStreams(session: SpdySession, protocol: string, opts: StreamOptions, timeoutMs: number, closed: AbortSignal): Promise<ClientStreams> {
  const expected = new Set<StreamType>(['error']);
  if (opts.stdin) expected.add('stdin');
  if (opts.stdout) expected.add('stdout');
  if (opts.stderr) expected.add('stderr');
  if (opts.tty && supportsResize(protocol, false)) expected.add('resize');
  const got = new Map<StreamType, SpdyStream>();

  return new Promise<ClientStreams>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`timed out waiting for client streams (have ${[...got.keys()].join(',') || 'none'})`)), timeoutMs);
    const onClosed = (): void => fail(new Error('client disconnected before opening its streams'));
    closed.addEventListener('abort', onClosed, { once: true });
    const fail = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      closed.removeEventListener('abort', onClosed);
      session.off('stream', onStream);
    };
    const onStream = (stream: SpdyStream): void => {
      replyToStream(stream);
      const type = stream.headers['streamtype'] as StreamType;
      if (!expected.has(type) || got.has(type)) return; // the kubelet ignores unexpected streams too
      got.set(type, stream);
      if (got.size < expected.size) return;
      cleanup();
      resolve(buildStreams(protocol, got, closed));
    };
    session.on('stream', onStream);
  });
}

function buildStreams(protocol: string, got: Map<StreamType, SpdyStream>, closed: AbortSignal): ClientStreams {
  const errorStream = got.get('error') as SpdyStream;
  const stdout = got.get('stdout');
  const stderr = got.get('stderr');
  const resizeStream = got.get('resize');
  let resize: AsyncQueue<TerminalSize> | undefined;
  if (resizeStream) {
    const queue = new AsyncQueue<TerminalSize>();
    decodeResizes(resizeStream, queue);
    resize = queue;
  }
  // The client closes its write side of the streams only we write to; drain them so they can close.
  for (const s of [errorStream, stdout, stderr]) s?.resume();
  let finished = false;
  return {
    stdin: got.get('stdin'),
    stdout,
    stderr,
    resize,
    signal: closed,
    finish: (outcome) => {
      if (finished) return;
      finished = true;
      resize?.close();
      stdout?.end();
      stderr?.end();
      const payload = encodeOutcome(protocol, outcome);
      if (payload) errorStream.write(payload);
      errorStream.end();
      // No GOAWAY here: spdy-transport drops frames still queued once all streams are closed, which
      // could lose the end of stdout. The client closes the connection once it has read the error
      // stream; the server drops it after a grace period otherwise.
    },
  };
}

function decodeResizes(stream: Readable, queue: AsyncQueue<TerminalSize>): void {
  const decoder = new ResizeDecoder((size) => queue.push(size));
  stream.on('data', (chunk: Buffer) => {
    if (!decoder.write(chunk)) stream.resume();
  });
  stream.on('end', () => queue.close());
  stream.on('close', () => queue.close());
}
