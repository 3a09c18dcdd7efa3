import { Writable } from 'node:stream';
import type { RawData, WebSocket } from 'ws';

/**
 * The kubelet's WebSocket channel framing (k8s.io/apiserver wsstream): every message starts with a
 * channel number; binary protocols carry it as a byte, base64 protocols as an ASCII digit followed by
 * the base64 data in a text message.
 */

/** A decoded message: channel and payload. */
export interface ChannelMessage {
  channel: number;
  data: Buffer;
}

function rawToBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Decodes one incoming message; undefined for an empty or malformed one (ignored, as wsstream does). */
export function decodeChannelMessage(data: RawData, base64: boolean): ChannelMessage | undefined {
  const buf = rawToBuffer(data);
  if (buf.length === 0) return undefined;
  if (!base64) return { channel: buf[0] as number, data: buf.subarray(1) };
  const channel = (buf[0] as number) - 0x30;
  if (channel < 0 || channel > 9) return undefined;
  return { channel, data: Buffer.from(buf.subarray(1).toString('latin1'), 'base64') };
}

/** Sends data on a channel; a closed socket swallows it (the session notices the close itself). */
export function sendOnChannel(ws: WebSocket, channel: number, data: Buffer, base64: boolean, done?: () => void): void {
  if (ws.readyState !== ws.OPEN) {
    if (done) process.nextTick(done);
    return;
  }
  const callback = (): void => done?.();
  if (base64) ws.send(String.fromCharCode(0x30 + channel) + data.toString('base64'), callback);
  else ws.send(Buffer.concat([Buffer.from([channel]), data]), { binary: true }, callback);
}

/** A Writable whose chunks go out on one channel, each once the previous one was handed to the socket. */
export function channelWriter(ws: WebSocket, channel: number, base64: boolean): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      sendOnChannel(ws, channel, chunk, base64, () => callback());
    },
  });
}

/** Resolves once a Writable has flushed everything written to it (after end()). */
export function finished(w: Writable | undefined): Promise<void> {
  if (!w || w.writableFinished) return Promise.resolve();
  return new Promise((resolve) => {
    w.once('finish', resolve);
    w.once('close', resolve);
    w.once('error', resolve);
  });
}
