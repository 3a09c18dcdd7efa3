import { Duplex, PassThrough } from 'node:stream';
import type { WebSocket } from 'ws';
import type { Logger } from '../log';
import { forwardErrorMessage } from './portforward-spdy';
import { isBase64Protocol } from './protocols';
import type { StreamRuntime } from './runtime';
import { channelWriter, decodeChannelMessage, finished, sendOnChannel } from './ws-channels';

/**
 * Port forwarding over WebSocket (the kubelet's portforward websocket handler): one connection per
 * `port` query parameter; port i uses channel 2i for data and 2i+1 for errors, and each channel
 * first carries the port number as two little-endian bytes. The socket closes once every
 * connection has ended.
 */
export function servePortForwardWs(ws: WebSocket, protocol: string, ports: number[], podSandboxId: string, runtime: StreamRuntime, closed: AbortSignal, log: Logger): void {
  const base64 = isBase64Protocol(protocol);
  const inbound = ports.map(() => new PassThrough());
  ws.on('message', (raw) => {
    const msg = decodeChannelMessage(raw, base64);
    const target = msg && msg.channel % 2 === 0 ? inbound[msg.channel / 2] : undefined;
    if (msg && target?.writable) target.write(msg.data);
  });
  closed.addEventListener('abort', () => inbound.forEach((s) => s.end()));

  const forwards = ports.map(async (port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    sendOnChannel(ws, 2 * i, portBytes, base64);
    sendOnChannel(ws, 2 * i + 1, portBytes, base64);
    const outbound = channelWriter(ws, 2 * i, base64);
    const stream = Duplex.from({ readable: inbound[i], writable: outbound });
    try {
      await runtime.portForward(podSandboxId, port, stream, closed, log);
    } catch (err) {
      log.debug('port forward failed', { podSandboxId, port, err: err instanceof Error ? err.message : String(err) });
      sendOnChannel(ws, 2 * i + 1, Buffer.from(forwardErrorMessage(port, podSandboxId, err)), base64);
    } finally {
      outbound.end();
      await finished(outbound);
    }
  });
  void Promise.all(forwards).then(() => ws.close(1000));
}
