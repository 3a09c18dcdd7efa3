import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { credentials, status as grpcStatus } from '@grpc/grpc-js';
import { CgroupDriver, ContainerState, NamespaceMode, PodSandboxState, RuntimeServiceClient, VersionRequest, type VersionResponse } from '../../lib/cri/gen/api';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage } from '../harness/test-images';
import { inSubnet } from '../harness/slot';

/**
 * The foundation slice end to end, through the generated CRI client against the real daemon:
 * pull from a real registry, run a pod (namespaces + CNI bridge), create/start a container with
 * conmon + runc, exec, logs, stop, restart the daemon, remove; plus the bad-input contract.
 */

let registry: TestRegistry;
let daemon: TestDaemon;

function grpcCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? (err as { code: number }).code : undefined;
}

async function rejectsWith(p: Promise<unknown>, code: grpcStatus, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(grpcCode(err), code, `expected gRPC code ${grpcStatus[code]}, got ${String(err)}`);
    assert.match(String((err as Error).message), pattern);
    return true;
  });
}

function podConfig(name: string, extra: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(daemon.dir, 'pod-logs', name),
    dnsConfig: { servers: ['10.96.0.10'], searches: ['default.svc.cluster.local'], options: ['ndots:5'] },
    labels: { app: name },
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
    ...extra,
  };
}

before(async () => {
  registry = await startRegistry();
  await registry.push('library/busybox', 'latest', await buildBusyboxImage());
  daemon = await startDaemon({
    netIndex: 211,
    registriesConf: `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
  });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
});

test('runtime reports version, readiness and the cgroupfs driver', async () => {
  const v = await daemon.cri.runtime.version({});
  assert.equal(v.runtimeApiVersion, 'v1');
  assert.equal(v.runtimeName, 'cri-o');
  const st = await daemon.cri.runtime.status({ verbose: false });
  const cond = Object.fromEntries((st.status?.conditions ?? []).map((c) => [c.type, c.status]));
  assert.deepEqual(cond, { RuntimeReady: true, NetworkReady: true });
  const rc = await daemon.cri.runtime.runtimeConfig({});
  assert.equal(rc.linux?.cgroupDriver, CgroupDriver.CGROUPFS);
});

test('clients sending the socket path as :authority (kubelet/crictl <= 1.26) are served', async () => {
  const client = new RuntimeServiceClient(`unix://${daemon.socket}`, credentials.createInsecure(), { 'grpc.default_authority': daemon.socket });
  try {
    for (let i = 0; i < 3; i++) {
      const v = await new Promise<VersionResponse>((resolve, reject) =>
        client.version(VersionRequest.fromPartial({}), (err, res) => (err ? reject(err) : resolve(res))),
      );
      assert.equal(v.runtimeName, 'cri-o');
    }
  } finally {
    client.close();
  }
});

test('unimplemented RPCs answer UNIMPLEMENTED naming the RPC', async () => {
  await rejectsWith(daemon.cri.runtime.checkpointPod({}), grpcStatus.UNIMPLEMENTED, /CheckpointPod/);
});

test('pull, run a pod and a container, exec, logs, stop, restart, remove', async () => {
  const { runtime: rt, image: im } = daemon.cri;
  const pulled = await im.pullImage({ image: { image: 'busybox' } });
  assert.match(pulled.imageRef, /^[0-9a-f]{64}$/);
  const st = await im.imageStatus({ image: { image: 'busybox' } });
  assert.equal(st.image?.id, pulled.imageRef);
  assert.ok(st.image?.repoTags.includes('docker.io/library/busybox:latest'));
  assert.ok((await im.listImages({})).images.some((i) => i.id === pulled.imageRef));

  const cfg = podConfig('web');
  const { podSandboxId } = await rt.runPodSandbox({ config: cfg });
  const ps = await rt.podSandboxStatus({ podSandboxId });
  assert.equal(ps.status?.state, PodSandboxState.SANDBOX_READY);
  assert.match(ps.status?.network?.ip ?? '', inSubnet(daemon.subnet));

  const { containerId } = await rt.createContainer({
    podSandboxId,
    sandboxConfig: cfg,
    config: {
      metadata: { name: 'main', attempt: 0 },
      image: { image: 'busybox' },
      // PID 1 of its own PID namespace: it must handle SIGTERM itself to stop gracefully.
      command: ['sh', '-c', 'trap "exit 0" TERM; echo hello from crio-ts; echo to-stderr >&2; while :; do sleep 1 & wait $!; done'],
      logPath: 'main/0.log',
      labels: { tier: 'web' },
    },
  });
  let cs = await rt.containerStatus({ containerId });
  assert.equal(cs.status?.state, ContainerState.CONTAINER_CREATED);
  await rt.startContainer({ containerId });
  cs = await rt.containerStatus({ containerId });
  assert.equal(cs.status?.state, ContainerState.CONTAINER_RUNNING);

  const echo = await rt.execSync({ containerId, cmd: ['echo', 'hi'], timeout: 10n });
  assert.equal(echo.exitCode, 0);
  assert.equal(echo.stdout.toString(), 'hi\n');
  const failing = await rt.execSync({ containerId, cmd: ['sh', '-c', 'echo oops >&2; exit 3'], timeout: 10n });
  assert.equal(failing.exitCode, 3);
  assert.equal(failing.stderr.toString(), 'oops\n');
  const hostname = await rt.execSync({ containerId, cmd: ['cat', '/etc/hostname'], timeout: 10n });
  assert.equal(hostname.stdout.toString().trim(), 'web');
  const resolv = await rt.execSync({ containerId, cmd: ['cat', '/etc/resolv.conf'], timeout: 10n });
  assert.match(resolv.stdout.toString(), /nameserver 10\.96\.0\.10/);
  assert.match(resolv.stdout.toString(), /search default\.svc\.cluster\.local/);
  const ip = await rt.execSync({ containerId, cmd: ['ip', '-4', 'addr', 'show', 'eth0'], timeout: 10n });
  assert.match(ip.stdout.toString(), new RegExp(`inet ${ps.status?.network?.ip.replace(/\./g, '\\.')}/`));

  const logPath = path.join(cfg.logDirectory, 'main/0.log');
  const log = readFileSync(logPath, 'utf8');
  assert.match(log, /^\S+ stdout F hello from crio-ts$/m);
  assert.match(log, /^\S+ stderr F to-stderr$/m);
  assert.equal(cs.status?.logPath, logPath);

  const list = await rt.listContainers({ filter: { labelSelector: { tier: 'web' } } });
  assert.deepEqual(list.containers.map((c) => c.id), [containerId]);

  await rt.stopContainer({ containerId, timeout: 5n });
  cs = await rt.containerStatus({ containerId });
  assert.equal(cs.status?.state, ContainerState.CONTAINER_EXITED);
  assert.equal(cs.status?.exitCode, 0); // the trap ran: a graceful stop
  assert.equal(cs.status?.reason, 'Completed');
  await rt.stopContainer({ containerId, timeout: 5n }); // idempotent

  await daemon.restart();
  const pods = await rt.listPodSandbox({});
  assert.deepEqual(pods.items.map((p) => p.id), [podSandboxId]);
  const after = await rt.containerStatus({ containerId });
  assert.equal(after.status?.state, ContainerState.CONTAINER_EXITED);
  assert.equal(after.status?.exitCode, 0);
  assert.equal(after.status?.createdAt, cs.status?.createdAt);

  await rt.removeContainer({ containerId });
  await rt.removeContainer({ containerId }); // idempotent
  await rt.stopPodSandbox({ podSandboxId });
  assert.equal((await rt.podSandboxStatus({ podSandboxId })).status?.state, PodSandboxState.SANDBOX_NOTREADY);
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
  assert.equal((await rt.listPodSandbox({})).items.length, 0);
  // Nothing of the pod is left: namespaces, pod dir, CNI allocation.
  assert.deepEqual(await leftovers(podSandboxId), []);
});

async function listDir(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch {
    return [];
  }
}

/** Files anywhere under the daemon's dirs that name the pod (namespaces, pod dir, records, IPAM). */
async function leftovers(podSandboxId: string): Promise<string[]> {
  const found: string[] = [];
  for (const d of ['ns/netns', 'ns/ipcns', 'ns/utsns', 'run/crio-pods', 'root/crio-state/sandboxes']) {
    for (const f of await listDir(path.join(daemon.dir, d))) if (f.startsWith(podSandboxId)) found.push(`${d}/${f}`);
  }
  for (const net of await listDir(path.join(daemon.dir, 'ipam'))) {
    for (const f of await listDir(path.join(daemon.dir, 'ipam', net))) {
      const content = await fs.readFile(path.join(daemon.dir, 'ipam', net, f), 'utf8').catch(() => '');
      if (content.includes(podSandboxId)) found.push(`ipam/${net}/${f}`);
    }
  }
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  if (mounts.includes(podSandboxId)) found.push('mount');
  return found;
}

test('bad input gets clear errors and leaves nothing behind', async () => {
  const { runtime: rt, image: im } = daemon.cri;
  await rejectsWith(rt.podSandboxStatus({ podSandboxId: 'f00d' }), grpcStatus.NOT_FOUND, /pod sandbox "f00d" not found/);
  await rejectsWith(rt.containerStatus({ containerId: 'beef' }), grpcStatus.NOT_FOUND, /container "beef" not found/);
  await rejectsWith(rt.startContainer({ containerId: 'beef' }), grpcStatus.NOT_FOUND, /beef/);
  await rejectsWith(im.pullImage({ image: { image: 'Bad//Ref' } }), grpcStatus.INVALID_ARGUMENT, /Bad\/\/Ref/);
  await rejectsWith(im.pullImage({ image: { image: '127.0.0.1:1/nothing:here' } }), grpcStatus.UNAVAILABLE, /127\.0\.0\.1:1/);
  await rejectsWith(rt.runPodSandbox({ config: podConfig('h'), runtimeHandler: 'kata' }), grpcStatus.INVALID_ARGUMENT, /kata/);
  await rejectsWith(rt.runPodSandbox({ config: { metadata: { name: '', namespace: 'x' } } }), grpcStatus.INVALID_ARGUMENT, /metadata\.name/);

  // A failed RunPodSandbox (hostname rejected after the name was reserved) leaves nothing.
  const bad = podConfig('badhost', { hostname: '-not valid-' });
  await rejectsWith(rt.runPodSandbox({ config: bad }), grpcStatus.INVALID_ARGUMENT, /hostname/);
  assert.equal((await rt.listPodSandbox({})).items.length, 0);
  assert.deepEqual(await listDir(path.join(daemon.dir, 'run', 'crio-pods')), []);

  const cfg = podConfig('dup');
  const { podSandboxId } = await rt.runPodSandbox({ config: cfg });
  // An identical retry (a kubelet whose call timed out) gets the same pod; changed settings do not.
  assert.equal((await rt.runPodSandbox({ config: cfg })).podSandboxId, podSandboxId);
  await rejectsWith(rt.runPodSandbox({ config: { ...cfg, labels: { app: 'other' } } }), grpcStatus.ALREADY_EXISTS, /reserved/);
  await rejectsWith(
    rt.createContainer({ podSandboxId, config: { metadata: { name: 'c' }, image: { image: 'never-pulled:1' } } }),
    grpcStatus.NOT_FOUND,
    /never-pulled/,
  );
  await rejectsWith(
    rt.createContainer({ podSandboxId: 'nope', config: { metadata: { name: 'c' }, image: { image: 'busybox' } } }),
    grpcStatus.NOT_FOUND,
    /nope/,
  );
  // runc refuses a command that does not exist: the failed create leaves no rootfs mount or bundle.
  const ourMounts = () => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(daemon.dir)).sort();
  const mountsBefore = ourMounts();
  await assert.rejects(
    rt.createContainer({ podSandboxId, config: { metadata: { name: 'c' }, image: { image: 'busybox' }, command: ['/no/such/binary'] } }),
  );
  assert.deepEqual(ourMounts(), mountsBefore);
  assert.deepEqual(await listDir(path.join(daemon.dir, 'run', 'crio-bundles')), []);
  // The name was released: the same container can be created now with a valid command.
  const ok = await rt.createContainer({ podSandboxId, config: { metadata: { name: 'c' }, image: { image: 'busybox' }, command: ['true'] } });
  assert.match(ok.containerId, /^[0-9a-f]{64}$/);
  await rt.removePodSandbox({ podSandboxId });
  assert.deepEqual(await leftovers(podSandboxId), []);
});
