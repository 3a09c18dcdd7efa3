import { PassThrough } from 'node:stream';
import type { WebSocket } from 'ws';
import type { TerminalSize } from '../oci/conmon-attach';
import { AsyncQueue } from './async-queue';
import { hasCloseSignal, isBase64Protocol } from './protocols';
import { ResizeDecoder } from './resize-decoder';
import type { ClientStreams, StreamOptions } from './session';
import { encodeOutcome } from './status';
import { channelWriter, decodeChannelMessage, finished, sendOnChannel } from './ws-channels';

/**
 * remotecommand over WebSocket (the kubelet's createWebSocketStreams, plus v5's close signal):
 * channel 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 clients half-close stdin by sending
 * channel 255 with the channel number.
 */

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

/** The client's streams on an accepted WebSocket; `closed` aborts when the socket closes. */
export function wsClientStreams(ws: WebSocket, protocol: string, opts: StreamOptions, closed: AbortSignal): ClientStreams {
  const base64 = isBase64Protocol(protocol);
  const stdin = opts.stdin ? new PassThrough() : undefined;
  const stdout = opts.stdout ? channelWriter(ws, STDOUT, base64) : undefined;
  const stderr = opts.stderr ? channelWriter(ws, STDERR, base64) : undefined;
  const resize = opts.tty ? new AsyncQueue<TerminalSize>() : undefined;
  const decoder = resize && new ResizeDecoder((size) => resize.push(size));

  ws.on('message', (raw) => {
    const msg = decodeChannelMessage(raw, base64);
    if (!msg) return;
    if (msg.channel === CLOSE && hasCloseSignal(protocol)) {
      if (msg.data[0] === STDIN) stdin?.end();
    } else if (msg.channel === STDIN) {
      if (stdin?.writable) stdin.write(msg.data);
    } else if (msg.channel === RESIZE) {
      decoder?.write(msg.data);
    }
  });
  closed.addEventListener('abort', () => {
    stdin?.end();
    resize?.close();
  });
  // Like the kubelet: an empty message on the lowest writable channel tells the client the streams are up.
  sendOnChannel(ws, opts.stdout ? STDOUT : opts.stderr ? STDERR : ERROR, Buffer.alloc(0), base64);

  let done = false;
  return {
    stdin,
    stdout,
    stderr,
    resize,
    signal: closed,
    finish: (outcome) => {
      if (done) return;
      done = true;
      resize?.close();
      stdout?.end();
      stderr?.end();
      // The status must not overtake output still queued in the channel writers.
      void Promise.all([finished(stdout), finished(stderr)]).then(() => {
        const payload = encodeOutcome(protocol, outcome);
        if (payload) sendOnChannel(ws, ERROR, payload, base64);
        ws.close(1000);
      });
    },
  };
}
