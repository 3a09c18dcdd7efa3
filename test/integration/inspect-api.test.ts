import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, watch } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { NamespaceMode } from '../../lib/cri/gen/api';
import { startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * CRI-O's inspect API on the CRI socket, as the kubelet's cAdvisor uses it (issue 12): /info to
 * label the image filesystem, /containers/<id> to map a `crio-<id>` cgroup to its pod and
 * container (also the pod's own cgroup, and while a create is under way), /config; and
 * `crio status`, its client.
 */

const run = promisify(execFile);
const CRIO_JS = path.resolve(__dirname, '..', '..', 'cmd', 'crio.js');
const PAUSE = `#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n`;

let fx: ContainerFixture;
let busyboxId: string;

before(async () => {
  fx = await startContainerFixture({
    netIndex: 161,
    dropIn: `[crio.image]\npause_image = "docker.io/library/pause:latest"\n`,
    extra: { pause: { entrypoint: ['/pause'], extraLayers: [{ files: [{ path: 'pause', content: PAUSE, mode: 0o755 }] }] } },
  });
  busyboxId = (await fx.daemon.cri.image.imageStatus({ image: { image: 'busybox' } })).image?.id ?? '';
  assert.match(busyboxId, /^[0-9a-f]{64}$/);
});

after(async () => {
  agent.destroy();
  await fx?.cleanup();
});

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function inspect(p: string, keepAlive = true): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: fx.daemon.socket, path: p, headers: { Host: 'crio' }, agent: keepAlive ? agent : false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
  });
}

async function crioStatus(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const r = await run(process.execPath, [CRIO_JS, 'status', ...args]);
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: e.stdout ?? '', err: e.stderr ?? '' };
  }
}

function cgroupDir(controller: string, rel: string): string {
  return path.join('/sys/fs/cgroup', controller, rel);
}

test('GET /info: storage and cgroup driver with the field names and types cAdvisor decodes', async () => {
  const r = await inspect('/info');
  assert.equal(r.status, 200);
  assert.equal(r.type, 'application/json');
  const info = JSON.parse(r.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(info), ['storage_driver', 'storage_image', 'storage_root', 'cgroup_driver', 'default_id_mappings']);
  assert.equal(info.storage_driver, 'overlay');
  assert.equal(info.storage_root, path.join(fx.daemon.dir, 'root'));
  assert.ok(String(info.storage_image).startsWith(`${path.join(fx.daemon.dir, 'root')}/`));
  assert.ok(existsSync(String(info.storage_image)), 'storage_image is where the images are');
  assert.equal(info.cgroup_driver, 'cgroupfs');
  const full = [{ container_id: 0, host_id: 0, size: 4294967295 }];
  assert.deepEqual(info.default_id_mappings, { uids: full, gids: full });
  // The same keep-alive connection answers again, and gRPC still works on the socket.
  assert.equal((await inspect('/info')).status, 200);
  assert.equal((await fx.daemon.cri.runtime.version({})).runtimeName, 'cri-o');
});

test('GET /config: the effective crio.conf; unknown paths and IDs: 404 with CRI-O texts', async () => {
  const conf = await inspect('/config');
  assert.equal(conf.status, 200);
  assert.equal(conf.type, 'application/toml');
  assert.match(conf.body, /^\[crio\]$/m);
  assert.match(conf.body, /^pause_image = "docker.io\/library\/pause:latest"$/m);
  const missing = await inspect('/containers/notexists');
  assert.equal(missing.status, 404);
  assert.equal(missing.body, "can't find the container with id notexists\n");
  assert.equal((await inspect('/nothing')).status, 404);
});

test('GET /containers/<id>: a container and its pod, as cAdvisor maps a crio-<id> cgroup', async () => {
  const { podSandboxId, config } = await fx.runPod('inspected', { labels: { app: 'inspected', 'io.kubernetes.pod.name': 'inspected' } });
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'c' },
    image: { image: busyboxId },
    command: ['sleep', '3600'],
    labels: { 'io.kubernetes.container.name': 'c' },
    annotations: { 'io.kubernetes.container.restartCount': '0' },
  });
  const status = (await fx.daemon.cri.runtime.containerStatus({ containerId: id })).status;
  const pod = (await fx.daemon.cri.runtime.podSandboxStatus({ podSandboxId })).status;
  const r = await inspect(`/containers/${id}`);
  assert.equal(r.status, 200);
  // created_time is an int64 of nanoseconds: every digit as the CRI reports it.
  assert.match(r.body, new RegExp(`"created_time":${String(status?.createdAt)},`));
  const info = JSON.parse(r.body) as Record<string, unknown>;
  assert.deepEqual(Object.keys(info), [
    'name', 'pid', 'image', 'image_ref', 'created_time', 'labels', 'annotations', 'crio_annotations', 'log_path', 'root', 'sandbox', 'ip_addresses', 'host_network',
  ]);
  assert.equal(info.name, `k8s_c_inspected_default_uid-inspected_0`);
  assert.ok(typeof info.pid === 'number' && info.pid > 0);
  await waitFor('the container process', async () => (readFileSync(`/proc/${String(info.pid)}/cmdline`, 'utf8').split('\0')[0] === 'sleep' ? true : undefined));
  assert.equal(info.image, 'docker.io/library/busybox:latest');
  assert.equal(info.image_ref, status?.imageRef);
  assert.deepEqual(info.labels, { 'io.kubernetes.container.name': 'c' });
  assert.deepEqual(info.annotations, { 'io.kubernetes.container.restartCount': '0' });
  const crio = info.crio_annotations as Record<string, string>;
  assert.equal(crio['io.kubernetes.cri-o.ContainerID'], id);
  assert.equal(crio['io.kubernetes.cri-o.ContainerType'], 'container');
  assert.equal(info.log_path, status?.logPath);
  assert.equal(info.sandbox, podSandboxId);
  assert.deepEqual(info.ip_addresses, [pod?.network?.ip]);
  assert.equal(info.host_network, false);
  // cAdvisor measures <root without /merged>/diff on the filesystem it labels.
  assert.match(String(info.root), /\/merged$/);
  assert.ok(existsSync(path.join(path.dirname(String(info.root)), 'diff')));
  assert.ok(existsSync(cgroupDir('memory', `crio/crio-${id}`)), 'the container cgroup cAdvisor watches');

  // The pod: the infra container's entry (spoofed: no pause process with PID mode CONTAINER).
  const p = JSON.parse((await inspect(`/containers/${podSandboxId}`)).body) as Record<string, unknown>;
  assert.equal(p.name, 'k8s_POD_inspected_default_uid-inspected_0');
  assert.equal(p.pid, info.pid, 'a running container of the pod gives the network namespace');
  assert.deepEqual(p.labels, { app: 'inspected', 'io.kubernetes.pod.name': 'inspected', 'io.kubernetes.container.name': 'POD' });
  assert.equal((p.crio_annotations as Record<string, string>)['io.kubernetes.cri-o.ContainerType'], 'sandbox');
  assert.equal(p.sandbox, podSandboxId);
  assert.ok(existsSync(path.join(String(p.root), 'diff')), 'the pod root has the diff cAdvisor measures');
  assert.equal(p.log_path, '');
  for (const controller of ['memory', 'cpu', 'pids']) assert.ok(existsSync(cgroupDir(controller, `crio/crio-${podSandboxId}`)), `pod cgroup in ${controller}`);

  // crio status containers: CRI-O's text.
  const s = await crioStatus('--socket', fx.daemon.socket, 'containers', '--id', id);
  assert.equal(s.code, 0, s.err);
  assert.match(s.out, new RegExp(`^name: k8s_c_inspected_default_uid-inspected_0\\npid: ${String(info.pid)}\\nimage: docker.io/library/busybox:latest\\n`));
  assert.match(s.out, new RegExp(`^created: ${String(status?.createdAt)}$`, 'm'));
  assert.match(s.out, new RegExp(`^sandbox: ${podSandboxId}$`, 'm'));
  assert.match(s.out, new RegExp(`^ips: ${String(pod?.network?.ip).replace(/\./g, '\\.')}$`, 'm'));

  // Removing the pod removes its cgroup.
  await fx.daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await fx.daemon.cri.runtime.removePodSandbox({ podSandboxId });
  for (const controller of ['memory', 'cpu', 'pids']) assert.ok(!existsSync(cgroupDir(controller, `crio/crio-${podSandboxId}`)), `pod cgroup gone from ${controller}`);
  assert.equal((await inspect(`/containers/${podSandboxId}`)).status, 404);
});

test('a new crio-<id> cgroup is known to the inspect API the moment it appears (cAdvisor asks at once)', async () => {
  const dir = cgroupDir('memory', 'crio');
  await fs.mkdir(dir, { recursive: true });
  const answers = new Map<string, { status: number; body: string }>();
  const asked: Promise<void>[] = [];
  // As cAdvisor: an inotify watch on the cgroup tree, a question per new crio-<id> directory.
  const watcher = watch(dir, (_event, name) => {
    const id = /^crio-([0-9a-f]{64})$/.exec(String(name))?.[1];
    if (!id || answers.has(id)) return;
    answers.set(id, { status: 0, body: '' });
    asked.push(inspect(`/containers/${id}`, false).then((r) => void answers.set(id, r)));
  });
  try {
    const { podSandboxId, config } = await fx.runPod('watched');
    const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'c' }, command: ['sleep', '3600'] });
    const infra = await fx.runPod('watched-infra', { linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.POD } } } });
    await Promise.all(asked);
    // Other work on the host may add cgroups too: only these pods' are looked at.
    for (const [what, cgroup] of [['the pod cgroup', podSandboxId], ['the container cgroup', id], ['the infra container cgroup', infra.podSandboxId]]) {
      const a = answers.get(cgroup ?? '');
      assert.equal(a?.status, 200, what);
      // cAdvisor keeps its first answer and measures <root without /merged>/diff from then on.
      const root = String((JSON.parse(a?.body ?? '{}') as { root?: string }).root);
      assert.ok(existsSync(path.join(root.replace(/\/merged$/, ''), 'diff')), `${what}: ${root}/diff exists`);
    }
  } finally {
    watcher.close();
  }
});

test('GET /containers/<pod id> with an infra container: the pause process and its rootfs', async () => {
  const { podSandboxId } = await fx.runPod('with-infra', { linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.POD } } } });
  const p = JSON.parse((await inspect(`/containers/${podSandboxId}`)).body) as Record<string, unknown>;
  assert.ok(typeof p.pid === 'number' && p.pid > 0);
  // Right after the start the process may still be runc's init, about to exec the pause binary.
  await waitFor('the pause process', async () => (/pause/.test(readFileSync(`/proc/${String(p.pid)}/cmdline`, 'utf8')) ? true : undefined));
  assert.equal(p.image, 'docker.io/library/pause:latest');
  assert.match(String(p.root), /\/merged$/);
  assert.ok(existsSync(path.join(path.dirname(String(p.root)), 'diff')));
  assert.ok(existsSync(String(p.log_path)), 'the infra log cAdvisor measures exists');
  assert.ok(existsSync(cgroupDir('memory', `crio/crio-${podSandboxId}`)));
  await fx.daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await fx.daemon.cri.runtime.removePodSandbox({ podSandboxId });
});

test('crio status: info and config from the socket, CRI-O failures', async () => {
  const info = await crioStatus('--socket', fx.daemon.socket, 'info');
  assert.equal(info.code, 0, info.err);
  assert.match(info.out, /^cgroup driver: cgroupfs\nstorage driver: overlay\nstorage graph root: .*\/root\n/);
  const conf = await crioStatus(`--socket=${fx.daemon.socket}`, 'c');
  assert.equal(conf.code, 0, conf.err);
  assert.match(conf.out, /^\[crio\]$/m);
  const noId = await crioStatus('--socket', fx.daemon.socket, 'containers');
  assert.equal(noId.code, 1);
  assert.match(noId.err, /the argument --id cannot be empty/);
  const unknown = await crioStatus('--socket', fx.daemon.socket, 's', '--id', 'nosuch');
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /can't find the container with id nosuch/);
  const badSocket = await crioStatus('--socket', 'wrong.sock', 'i');
  assert.equal(badSocket.code, 1);
  assert.match(badSocket.err, /wrong\.sock/);
  const usage = await crioStatus();
  assert.equal(usage.code, 0);
  assert.match(usage.out, /^Usage: crio status/);
});
