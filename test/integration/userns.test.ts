import assert from 'node:assert/strict';
import { promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ContainerState, NamespaceMode } from '../../lib/cri/gen/api';
import { criLogText } from '../harness/cri-log';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage } from '../harness/test-images';
import { rejectsWith } from './container-fixture';
import { inSubnet } from '../harness/slot';

/**
 * User namespaces through the daemon with the real kernel and runc: the kubelet's
 * `userns_options` (hostUsers: false) and CRI-O's `userns-mode.crio.io: auto` annotation. The
 * pod's namespaces are owned by its user namespace, the image is seen through idmapped layers
 * with the owners it was built with, files the container writes belong to its host ids, and
 * everything survives a daemon restart and is gone after removal.
 */

let registry: TestRegistry;
let daemon: TestDaemon;
const HOST_ID = 300_000;
const LENGTH = 65536;
const MAPPING = [{ containerId: 0, hostId: HOST_ID, length: LENGTH }];
const PAUSE = `#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n`;
const SUBID_FILES = ['/etc/subuid', '/etc/subgid'];
const savedSubIds = new Map<string, string | undefined>();

function podConfig(name: string, extra: Record<string, unknown> = {}, namespaceOptions: Record<string, unknown> = {}) {
  return {
    metadata: { name, namespace: 'userns', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(daemon.dir, 'pod-logs', name),
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER, ...namespaceOptions } } },
    ...extra,
  };
}

const usernsPod = (name: string, pid = NamespaceMode.CONTAINER, sysctls: Record<string, string> = {}) => {
  const config = podConfig(name, {}, { pid, usernsOptions: { mode: NamespaceMode.POD, uids: MAPPING, gids: MAPPING } });
  return { ...config, linux: { ...config.linux, sysctls } };
};

let seq = 0;
async function create(podSandboxId: string, command: string[], securityContext: Record<string, unknown> = {}): Promise<string> {
  const name = `c${++seq}`;
  const { containerId } = await daemon.cri.runtime.createContainer({
    podSandboxId,
    config: { metadata: { name }, image: { image: 'busybox' }, command, logPath: `${name}.log`, linux: { securityContext } },
  });
  return containerId;
}

/** Runs a one-shot container; its exit code and output. */
async function run(podSandboxId: string, script: string, securityContext: Record<string, unknown> = {}): Promise<{ exitCode: number; out: string }> {
  const containerId = await create(podSandboxId, ['sh', '-c', script], securityContext);
  await daemon.cri.runtime.startContainer({ containerId });
  const until = Date.now() + 20_000;
  for (;;) {
    const st = await daemon.cri.runtime.containerStatus({ containerId });
    if (st.status?.state === ContainerState.CONTAINER_EXITED) return { exitCode: st.status.exitCode, out: criLogText(st.status.logPath) };
    if (Date.now() > until) throw new Error(`container did not exit:\n${daemon.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function hostPidOf(containerId: string): Promise<number> {
  const st = await daemon.cri.runtime.containerStatus({ containerId, verbose: true });
  return (JSON.parse(st.info.info ?? '{}') as { pid: number }).pid;
}

function hostUid(pid: number): number {
  const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1]);
}

before(async () => {
  for (const f of SUBID_FILES) savedSubIds.set(f, await fs.readFile(f, 'utf8').catch(() => undefined));
  registry = await startRegistry();
  await registry.push(
    'library/busybox',
    'latest',
    await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'home/alice/owned', content: 'alice\n', uid: 1000, gid: 1000 }, { path: 'etc/image-file', content: 'image\n' }] }] }),
  );
  await registry.push('test/pause', '1', await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'pause', content: PAUSE, mode: 0o755 }] }] }));
  daemon = await startDaemon({
    netIndex: 234,
    registriesConf: [
      `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
      `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`,
    ].join('\n'),
    dropIn: [
      `[crio.image]\npause_image = "${registry.host}/test/pause:1"\n`,
      `[crio.runtime.runtimes.runc]\nallowed_annotations = ["io.kubernetes.cri-o.userns-mode"]\n`,
    ].join('\n'),
  });
  await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
});

after(async () => {
  try {
    await daemon?.cleanup();
    await registry?.stop();
  } finally {
    for (const [f, content] of savedSubIds) {
      if (content === undefined) await fs.rm(f, { force: true });
      else await fs.writeFile(f, content);
    }
  }
});

test('the runtime handler advertises user namespaces', async () => {
  const st = await daemon.cri.runtime.status({ verbose: false });
  const handler = st.runtimeHandlers.find((h) => h.name === '');
  assert.equal(handler?.features?.userNamespaces, true);
});

test('hostUsers: false — the pod has its own user namespace owning its other namespaces', async () => {
  const rt = daemon.cri.runtime;
  // The usual "all groups may ping" value is cut to the pod's gids (the kernel refuses unmapped ones).
  const { podSandboxId } = await rt.runPodSandbox({ config: usernsPod('mapped', NamespaceMode.CONTAINER, { 'net.ipv4.ping_group_range': '0 2147483647' }) });
  const pod = await rt.podSandboxStatus({ podSandboxId });
  const ip = pod.status?.network?.ip ?? '';
  assert.match(ip, inSubnet(daemon.subnet));

  const script = [
    'cat /proc/self/uid_map /proc/self/gid_map',
    'id -u; id -g',
    "stat -c '%u:%g' /home/alice/owned /etc/image-file /",
    'echo new > /etc/new-file && echo appended >> /etc/image-file && echo ok-write',
    'echo shm > /dev/shm/x && echo ok-shm',
    'echo "1.2.3.4 extra" >> /etc/hosts && echo ok-hosts',
    'ip -4 -o addr show eth0',
    'ip link set lo down && echo ok-netadmin',
    'cat /proc/sys/net/ipv4/ping_group_range',
    'echo "host=$(hostname)"',
  ].join('; ');
  const { exitCode, out } = await run(podSandboxId, script, { capabilities: { addCapabilities: ['NET_ADMIN'] } });
  assert.equal(exitCode, 0, out);
  const lines = out.split('\n');
  assert.match(lines[0] ?? '', new RegExp(`^\\s*0\\s+${HOST_ID}\\s+${LENGTH}$`));
  assert.match(lines[1] ?? '', new RegExp(`^\\s*0\\s+${HOST_ID}\\s+${LENGTH}$`));
  assert.deepEqual(lines.slice(2, 4), ['0', '0']);
  // The image's owners, unchanged inside: idmapped layers, no chown copy.
  assert.deepEqual(lines.slice(4, 7), ['1000:1000', '0:0', '0:0']);
  for (const ok of ['ok-write', 'ok-shm', 'ok-hosts', 'ok-netadmin']) assert.ok(lines.includes(ok), `${ok} missing in:\n${out}`);
  // The pod's network namespace is the pod root's to administer (NET_ADMIN over it), and has the pod IP.
  assert.ok(out.includes(`inet ${ip}/`), out);
  assert.match(out, new RegExp(`\n0\\s+${LENGTH - 1}\n`));
  // Set with sethostname(2) by the userns helper: /proc/sys/kernel/hostname is not the pod's to write.
  assert.match(out, /^host=mapped$/m);

  // Outside, what the container wrote belongs to the mapped ids; the image layer itself is untouched.
  const [ctr] = (await rt.listContainers({ filter: { podSandboxId } })).containers;
  const stored = JSON.parse(await fs.readFile(path.join(daemon.dir, 'root', 'overlay-containers', 'containers.json'), 'utf8')) as { id: string; layer: string }[];
  const upper = path.join(daemon.dir, 'root', 'overlay', stored.find((c) => c.id === ctr?.id)?.layer ?? '', 'diff');
  const st = await fs.stat(path.join(upper, 'etc', 'new-file'));
  assert.deepEqual([st.uid, st.gid], [HOST_ID, HOST_ID]);
  assert.equal((await fs.stat(path.join(upper, 'etc', 'image-file'))).uid, HOST_ID);

  // A long-running container: its process is the mapped host uid; a second container shares the user namespace.
  const sleeper = await create(podSandboxId, ['sleep', '600'], { runAsUser: { value: 1000n } });
  await rt.startContainer({ containerId: sleeper });
  assert.equal(hostUid(await hostPidOf(sleeper)), HOST_ID + 1000);
  const inside = await rt.execSync({ containerId: sleeper, cmd: ['sh', '-c', 'id -u; readlink /proc/self/ns/user'], timeout: 10n });
  const [uid, userNs] = inside.stdout.toString().trim().split('\n');
  assert.equal(uid, '1000');
  const other = await run(podSandboxId, 'readlink /proc/self/ns/user');
  assert.equal(other.out.trim(), userNs);

  // Survives a restart: state, mounts and exec still work.
  await daemon.restart();
  const again = await rt.execSync({ containerId: sleeper, cmd: ['cat', '/home/alice/owned'], timeout: 10n });
  assert.equal(again.stdout.toString(), 'alice\n');
  const afterRestart = await run(podSandboxId, "stat -c '%u' /home/alice/owned");
  assert.equal(afterRestart.out.trim(), '1000');

  await rt.stopContainer({ containerId: sleeper, timeout: 0n });
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
  assert.deepEqual(await fs.readdir(path.join(daemon.dir, 'ns', 'userns')), []);
});

test('PID mode POD: the infra container runs in the pod user namespace too', async () => {
  const rt = daemon.cri.runtime;
  const { podSandboxId } = await rt.runPodSandbox({ config: usernsPod('infra', NamespaceMode.POD) });
  const { exitCode, out } = await run(podSandboxId, 'cat /proc/1/cmdline | tr "\\0" " "; echo; cat /proc/1/uid_map', {
    namespaceOptions: { pid: NamespaceMode.POD },
  });
  assert.equal(exitCode, 0, out);
  assert.match(out, /\/pause/);
  assert.match(out, new RegExp(`0\\s+${HOST_ID}\\s+${LENGTH}`));
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
});

test('NODE mode keeps the host user namespace', async () => {
  const rt = daemon.cri.runtime;
  const { podSandboxId } = await rt.runPodSandbox({ config: podConfig('node', {}, { usernsOptions: { mode: NamespaceMode.NODE } }) });
  const { out } = await run(podSandboxId, 'cat /proc/self/uid_map');
  assert.equal(out.trim().split(/\s+/).join(' '), readFileSync('/proc/self/uid_map', 'utf8').trim().split(/\s+/).join(' '));
  await rt.removePodSandbox({ podSandboxId });
});

test('bad user namespace requests are refused and leave nothing behind', async () => {
  const rt = daemon.cri.runtime;
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['mode CONTAINER', { usernsOptions: { mode: NamespaceMode.CONTAINER } }, /mode CONTAINER is not supported/],
    ['mode TARGET', { usernsOptions: { mode: NamespaceMode.TARGET } }, /mode TARGET is not supported/],
    ['id 0 unmapped', { usernsOptions: { mode: NamespaceMode.POD, uids: [{ containerId: 1, hostId: 1000, length: 100 }], gids: MAPPING } }, /container id 0 is not mapped/],
    [
      'overlapping',
      { usernsOptions: { mode: NamespaceMode.POD, uids: [...MAPPING, { containerId: 0, hostId: 500_000, length: 10 }], gids: MAPPING } },
      /overlap/,
    ],
    ['host network', { network: NamespaceMode.NODE, usernsOptions: { mode: NamespaceMode.POD, uids: MAPPING, gids: MAPPING } }, /host's network/],
  ];
  for (const [name, nsOptions, pattern] of cases) {
    await rejectsWith(rt.runPodSandbox({ config: podConfig(`bad-${name.replace(/ /g, '-')}`, {}, nsOptions) }), grpcStatus.INVALID_ARGUMENT, pattern);
  }
  const { podSandboxId } = await rt.runPodSandbox({ config: usernsPod('priv') });
  await rejectsWith(create(podSandboxId, ['true'], { privileged: true }), grpcStatus.INVALID_ARGUMENT, /privileged container cannot run/);
  await rt.removePodSandbox({ podSandboxId });
  assert.deepEqual((await rt.listPodSandbox({})).items, []);
  assert.deepEqual(await fs.readdir(path.join(daemon.dir, 'ns', 'userns')), []);
});

test('userns-mode.crio.io: auto gives each pod its own range from /etc/subuid', async () => {
  const rt = daemon.cri.runtime;
  const auto = (name: string, value = 'auto') => podConfig(name, { annotations: { 'io.kubernetes.cri-o.userns-mode': value } });
  for (const f of SUBID_FILES) await fs.rm(f, { force: true });
  await rejectsWith(rt.runPodSandbox({ config: auto('auto-none') }), grpcStatus.FAILED_PRECONDITION, /subordinate ids for the user "containers"/);
  for (const f of SUBID_FILES) await fs.writeFile(f, `${savedSubIds.get(f) ?? ''}containers:400000:131072\n`);

  const a = (await rt.runPodSandbox({ config: auto('auto-a') })).podSandboxId;
  const b = (await rt.runPodSandbox({ config: auto('auto-b', 'auto:size=65536') })).podSandboxId;
  await rejectsWith(rt.runPodSandbox({ config: auto('auto-c') }), grpcStatus.RESOURCE_EXHAUSTED, /no 65536 free subordinate ids/);
  // The failed pod's CNI cache record (written from the start of RunPodSandbox, before its ids
  // were sought) is gone again: only the two pods' records remain.
  const cniRecords = (await fs.readdir(path.join(daemon.dir, 'root', 'crio-state', 'cni'))).filter((n) => n.endsWith('.json'));
  assert.deepEqual(cniRecords.sort(), [`${a}.json`, `${b}.json`].sort());
  const mapOf = async (pod: string) => (await run(pod, 'cat /proc/self/uid_map')).out.trim().split(/\s+/).join(' ');
  assert.deepEqual([await mapOf(a), await mapOf(b)].sort(), ['0 400000 65536', '0 465536 65536']);

  // A removed pod's range is free again.
  await rt.removePodSandbox({ podSandboxId: a });
  const c = (await rt.runPodSandbox({ config: auto('auto-c') })).podSandboxId;
  assert.equal(await mapOf(c), '0 400000 65536');
  await rejectsWith(rt.runPodSandbox({ config: auto('auto-bad', 'auto:size=12') }), grpcStatus.INVALID_ARGUMENT, /size 12 is outside/);
  for (const id of [b, c]) await rt.removePodSandbox({ podSandboxId: id });
});
