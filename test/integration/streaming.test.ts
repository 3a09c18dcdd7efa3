import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { NamespaceMode } from '../../lib/cri/gen/api';
import { nullLogger } from '../../lib/log';
import { StreamingServer } from '../../lib/streaming/server';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { readAll, spdyConnect, spdyForward, spdyRemoteCommand, wsConnect, type RemoteCommand } from '../harness/stream-client';
import { buildBusyboxImage } from '../harness/test-images';

/**
 * The streaming server end to end against the real daemon: Exec/Attach/PortForward hand out URLs,
 * and clients built from the same libraries as the server (spdy-transport, ws) drive exec (exit
 * codes, stdin close, a terminal with resizes), attach and port-forward into the pod's network
 * namespace; tokens are single-use and expire; a vanished client leaves no process behind.
 */

let registry: TestRegistry;
let daemon: TestDaemon;
let podSandboxId: string;
let web: string;
let echo: string;

const SUCCESS = { metadata: {}, status: 'Success' };
/** A hang fails one test, not the file (so `after` still cleans up). */
const LIMIT = { timeout: 30_000 };

before(async () => {
  registry = await startRegistry();
  await registry.push('library/busybox', 'latest', await buildBusyboxImage());
  daemon = await startDaemon({
    netIndex: 110,
    registriesConf: `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
  });
  const rt = daemon.cri.runtime;
  await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
  const config = {
    metadata: { name: 'stream', namespace: 'default', uid: 'uid-stream', attempt: 0 },
    logDirectory: path.join(daemon.dir, 'pod-logs'),
    // No pause container: the test needs no image beyond busybox.
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
  ({ podSandboxId } = await rt.runPodSandbox({ config }));
  const start = async (name: string, command: string[], extra: Record<string, unknown> = {}): Promise<string> => {
    const { containerId } = await rt.createContainer({ podSandboxId, sandboxConfig: config, config: { metadata: { name }, image: { image: 'busybox' }, command, logPath: `${name}.log`, ...extra } });
    await rt.startContainer({ containerId });
    return containerId;
  };
  web = await start('web', ['sh', '-c', 'mkdir -p /www && echo hello-from-pod > /www/index.html && exec httpd -f -p 8080 -h /www']);
  echo = await start('echo', ['sh', '-c', 'while read line; do echo "got: $line"; done'], { stdin: true });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
});

async function execUrl(cmd: string[], opts: { tty?: boolean; stdin?: boolean; stderr?: boolean } = {}): Promise<string> {
  const { url } = await daemon.cri.runtime.exec({ containerId: web, cmd, stdout: true, stdin: opts.stdin ?? false, stderr: opts.stderr ?? false, tty: opts.tty ?? false });
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/exec\/[\w-]+$/);
  return url;
}

async function finish(rc: RemoteCommand): Promise<{ stdout: string; stderr: string; status: unknown }> {
  const [stdout, stderr, error] = await Promise.all([rc.stdout ? readAll(rc.stdout) : '', rc.stderr ? readAll(rc.stderr) : '', rc.error]);
  rc.client.socket.destroy();
  return { stdout, stderr, status: JSON.parse(error) };
}

test('exec over SPDY returns output and the exit code', LIMIT, async () => {
  const ok = await finish(await spdyRemoteCommand(await execUrl(['echo', 'hello']), {}));
  assert.deepEqual(ok, { stdout: 'hello\n', stderr: '', status: SUCCESS });
  const failed = await finish(await spdyRemoteCommand(await execUrl(['sh', '-c', 'echo oops >&2; exit 3'], { stderr: true }), { stderr: true }));
  assert.equal(failed.stderr, 'oops\n');
  assert.deepEqual(failed.status, {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: exit status 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
});

test('exec over WebSocket v5: stdin, its close signal, exit code', LIMIT, async () => {
  const s = await wsConnect(await execUrl(['sh', '-c', 'cat; exit 3'], { stdin: true }), ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  assert.equal(s.protocol, 'v5.channel.k8s.io');
  s.send(0, 'abc');
  s.send(255, Buffer.from([0])); // close stdin: cat sees EOF
  await s.closed;
  assert.equal(s.channels.get(1)?.toString(), 'abc');
  assert.equal(JSON.parse(s.channels.get(3)?.toString() ?? '{}').details.causes[0].message, '3');
});

/** Sends `input` until `out` matches (the resize travels through conmon's fifo, the input through its socket). */
async function typeUntil(rc: RemoteCommand, out: () => string, input: string, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 100 && !pattern.test(out()); i++) {
    rc.stdin?.write(input);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(out(), pattern);
}

test('exec with a terminal: resizes reach the pty (stty size)', LIMIT, async () => {
  const rc = await spdyRemoteCommand(await execUrl(['sh'], { tty: true, stdin: true }), { stdin: true, tty: true });
  let out = '';
  rc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  rc.resize?.write(JSON.stringify({ Width: 100, Height: 40 }) + '\n');
  await typeUntil(rc, () => out, 'stty size\n', /^40 100\r$/m);
  rc.resize?.write(JSON.stringify({ Width: 90, Height: 30 }) + '\n');
  await typeUntil(rc, () => out, 'stty size\n', /^30 90\r$/m);
  rc.stdin?.write('exit 4\n');
  const status = JSON.parse(await rc.error);
  assert.equal(status.details.causes[0].message, '4');
  rc.client.socket.destroy();
});

test('attach to a container echoing its stdin', LIMIT, async () => {
  const { url } = await daemon.cri.runtime.attach({ containerId: echo, stdin: true, stdout: true });
  const rc = await spdyRemoteCommand(url, { stdin: true });
  let out = '';
  rc.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  rc.stdin?.write('hello\n');
  while (!out.includes('got: hello\n')) await new Promise((r) => rc.stdout?.once('data', r));
  rc.stdin?.end(); // the container keeps stdin open: ending ours ends the attach
  assert.deepEqual(JSON.parse(await rc.error), SUCCESS);
  rc.client.socket.destroy();
});

test('port-forward over SPDY: two concurrent fetches and a closed port', LIMIT, async () => {
  const { url } = await daemon.cri.runtime.portForward({ podSandboxId, port: [8080] });
  const { session, socket } = await spdyConnect(url, ['portforward.k8s.io']);
  const get = 'GET /index.html HTTP/1.0\r\n\r\n';
  const [a, b, refused] = await Promise.all([spdyForward(session, 8080, 1, get), spdyForward(session, 8080, 2, get), spdyForward(session, 8081, 3, get)]);
  for (const r of [a, b]) {
    assert.match(r.data, /^HTTP\/1\.[01] 200 OK/);
    assert.match(r.data, /hello-from-pod\n$/);
    assert.equal(r.error, '');
  }
  assert.equal(refused.data, '');
  assert.match(refused.error, new RegExp(`^error forwarding port 8081 to pod ${podSandboxId}, uid : .*Connection refused`));
  socket.destroy();
});

test('port-forward over WebSocket', LIMIT, async () => {
  // With the port in the query (kubectl to a kubelet), and without (the kubelet's proxy drops the
  // query: the ports of the PortForward request count).
  for (const query of ['?port=8080', '']) {
    const { url } = await daemon.cri.runtime.portForward({ podSandboxId, port: [8080] });
    const s = await wsConnect(`${url}${query}`, ['v4.channel.k8s.io']);
    s.send(0, 'GET /index.html HTTP/1.0\r\n\r\n');
    await s.closed;
    const data = s.channels.get(0) ?? Buffer.alloc(0);
    assert.equal(data.readUInt16LE(0), 8080); // each channel starts with the port
    assert.match(data.subarray(2).toString(), /hello-from-pod\n$/);
  }
});

test('a token works once', LIMIT, async () => {
  const url = await execUrl(['true']);
  await finish(await spdyRemoteCommand(url, {}));
  await assert.rejects(spdyConnect(url, ['v4.channel.k8s.io']), /HTTP 404/);
});

test('an expired token is refused', LIMIT, async () => {
  let now = 0;
  const server = await StreamingServer.start({
    address: '127.0.0.1',
    port: 0,
    idleTimeoutMs: 0,
    log: nullLogger(),
    now: () => now,
    runtime: { exec: async () => 0, attach: async () => undefined, portForward: async () => undefined },
  });
  try {
    const req = { containerId: 'c', cmd: ['true'], stdout: true, stdin: false, stderr: false, tty: false };
    const fresh = server.execUrl(req);
    const stale = server.execUrl(req);
    now += 60_000;
    await assert.rejects(spdyConnect(stale, ['v4.channel.k8s.io']), /HTTP 404/);
    now -= 60_000;
    assert.deepEqual((await finish(await spdyRemoteCommand(fresh, {}))).status, SUCCESS);
  } finally {
    await server.close();
  }
});

test('Exec and PortForward validate the request', LIMIT, async () => {
  const rt = daemon.cri.runtime;
  const code = (p: Promise<unknown>): Promise<number | undefined> => p.then(() => undefined, (err: { code?: number }) => err.code);
  assert.equal(await code(rt.exec({ containerId: web, cmd: ['true'], tty: true, stderr: true, stdout: true })), grpcStatus.INVALID_ARGUMENT);
  assert.equal(await code(rt.exec({ containerId: web, cmd: ['true'] })), grpcStatus.INVALID_ARGUMENT);
  assert.equal(await code(rt.exec({ containerId: 'nope', cmd: ['true'], stdout: true })), grpcStatus.NOT_FOUND);
  assert.equal(await code(rt.portForward({ podSandboxId: 'nope' })), grpcStatus.NOT_FOUND);
});

/** Host processes whose command line mentions `needle` (exec'd processes show up as their own argv). */
function processesWith(needle: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(needle)) found.push(`${pid} ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cond(), what);
}

test('a client that vanishes leaves no process behind', LIMIT, async () => {
  for (const tty of [false, true]) {
    const marker = `sleep ${tty ? 4242 : 4343}`;
    const rc = await spdyRemoteCommand(await execUrl(['sh', '-c', `${marker}; echo never`], { tty, stdin: tty }), { tty, stdin: tty });
    await waitFor(`${marker} started`, () => processesWith(marker).length > 0);
    rc.client.socket.destroy();
    await waitFor(`${marker} and its runc/conmon are gone`, () => processesWith(marker).length === 0 && processesWith(web).every((p) => !/ exec |--exec-attach/.test(p)));
  }
});
