import { spawn } from '../spawn';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import { UnavailableError } from '../errors';
import { findExecutable } from '../process';

/**
 * The data path of port-forward: a TCP connection to 127.0.0.1:<port> inside the pod's network
 * namespace, relayed to the client's stream.
 *
 * Node cannot enter a namespace (setns is per thread) nor receive a socket from a helper that did,
 * so a small helper process opens the connection inside the namespace and relays it over its
 * stdio: `nsenter --net=<pinned netns> socat - TCP4:127.0.0.1:<port>`. This is how the kubelet's
 * dockershim forwarded ports for years; socat is a small, long-maintained Debian package that
 * propagates half-closes and reports connect errors ("Connection refused") on stderr. A pod on the
 * host network is reached directly.
 */

/**
 * How long socat keeps the pod-side connection readable after the client half-closed, waiting for
 * the server's response. The client ending the stream or the connection kills it sooner.
 */
const HALF_CLOSE_LINGER_SEC = 300;

let helpers: Promise<{ nsenter: string; socat: string }> | undefined;

async function findHelpers(): Promise<{ nsenter: string; socat: string }> {
  const [nsenter, socat] = await Promise.all([findExecutable('nsenter'), findExecutable('socat')]);
  if (!nsenter) throw new UnavailableError('port-forward needs nsenter (util-linux) in PATH');
  if (!socat) throw new UnavailableError('port-forward needs socat in PATH (apt-get install socat)');
  return { nsenter, socat };
}

/**
 * Relays `stream` to 127.0.0.1:`port` in the network namespace pinned at `netnsPath` (undefined:
 * the host's) until the pod side closes or the signal aborts; rejects with the reason if the
 * connection failed. The caller ends `stream` afterwards.
 */
export async function forwardToPort(netnsPath: string | undefined, port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  if (netnsPath === undefined) return forwardOnHost(port, stream, signal);
  helpers ??= findHelpers();
  const { nsenter, socat } = await helpers.catch((err: unknown) => {
    helpers = undefined; // installed later: look again next time
    throw err;
  });
  // shut-close: socat closes its stdout as soon as the pod side closes (by default it keeps it open
  // until stdin ends too), so the client sees the end of the response at once.
  const child = spawn(nsenter, [`--net=${netnsPath}`, '--', socat, '-t', String(HALF_CLOSE_LINGER_SEC), '-,shut-close', `TCP4:127.0.0.1:${port}`], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString('utf8')).slice(-2048)));
  child.stdin.on('error', () => undefined); // socat may be gone while the client still sends
  stream.pipe(child.stdin);
  child.stdout.pipe(stream, { end: false });
  // The pod side is done: stop feeding socat so it exits now instead of after the linger time.
  child.stdout.on('end', () => {
    stream.unpipe(child.stdin);
    child.stdin.end();
  });
  const kill = (): void => void child.kill('SIGKILL');
  signal.addEventListener('abort', kill, { once: true });
  // A client that resets or drops its stream takes the pod-side connection with it.
  stream.once('close', kill);
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    if (code !== 0 && !signal.aborted && !stream.destroyed) throw new Error(socatError(stderr, code));
  } finally {
    signal.removeEventListener('abort', kill);
    stream.off('close', kill);
    stream.unpipe(child.stdin);
  }
}

/** socat's "2024/01/01 00:00:00 socat[12] E connect(...): Connection refused" without the prefix. */
function socatError(stderr: string, code: number | null): string {
  const line = stderr.split('\n').find((l) => / E /.test(l));
  const message = line ? line.slice(line.indexOf(' E ') + 3) : stderr.trim() || `exit status ${code ?? 'signal'}`;
  return `socat: ${message}`;
}

function forwardOnHost(port: number, stream: Duplex, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    let connected = false;
    const kill = (): void => void sock.destroy();
    signal.addEventListener('abort', kill, { once: true });
    stream.once('close', kill);
    sock.once('connect', () => {
      connected = true;
      stream.pipe(sock);
      sock.pipe(stream, { end: false });
    });
    sock.on('end', () => {
      stream.unpipe(sock);
      sock.end();
    });
    sock.once('error', (err) => {
      if (!connected) reject(err);
    });
    sock.once('close', () => {
      signal.removeEventListener('abort', kill);
      stream.off('close', kill);
      stream.unpipe(sock);
      resolve();
    });
  });
}
