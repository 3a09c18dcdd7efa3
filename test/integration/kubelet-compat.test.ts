import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, watch } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { ContainerState, NamespaceMode } from '../../lib/cri/gen/api';
import { buildBusyboxImage } from '../harness/test-images';
import { grpcCode, rejectsWith, startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * What the real kubelet needs beyond the CRI (issue 12): CRI-O's inspect API on the CRI socket
 * (cAdvisor's /info and /containers/<id>, /config) and `crio status`, the pod cgroup cAdvisor
 * finds pods by, image names in statuses, the kubelet's termination-log mount, image IDs from
 * crictl, CRI-O's default log path, and creates whose caller gave up.
 */

const run = promisify(execFile);
const CRIO_JS = path.resolve(__dirname, '..', '..', 'cmd', 'crio.js');
const PAUSE = `#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n`;
/** Short, so the removal of an abandoned create is seen within the test. */
const ABANDON_MS = 6_000;
const NS_WITH_POLICY = 'signed-only';

let fx: ContainerFixture;
let policyDir: string;
let busyboxId: string;
let taggedId: string;

before(async () => {
  policyDir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-policies-'));
  await fs.writeFile(path.join(policyDir, `${NS_WITH_POLICY}.json`), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  fx = await startContainerFixture({
    netIndex: 161,
    dropIn: `[crio.image]\npause_image = "docker.io/library/pause:latest"\nsignature_policy_dir = "${policyDir}"\n`,
    extra: { pause: { entrypoint: ['/pause'], extraLayers: [{ files: [{ path: 'pause', content: PAUSE, mode: 0o755 }] }] } },
    env: { CRIO_TS_ABANDONED_CREATE_TIMEOUT_MS: String(ABANDON_MS) },
  });
  // A second tag of other content: the kubelet's `busybox:1.29-2` case.
  await fx.registry.push('library/busybox', '1.29-2', await buildBusyboxImage({ labels: { version: '1.29-2' } }));
  taggedId = (await fx.daemon.cri.image.pullImage({ image: { image: 'docker.io/library/busybox:1.29-2' } })).imageRef;
  busyboxId = (await fx.daemon.cri.image.imageStatus({ image: { image: 'busybox' } })).image?.id ?? '';
  assert.match(busyboxId, /^[0-9a-f]{64}$/);
  assert.notEqual(taggedId, busyboxId);
});

after(async () => {
  agent.destroy();
  await fx?.cleanup();
  if (policyDir) await fs.rm(policyDir, { recursive: true, force: true });
});

/** GET on the CRI socket over HTTP/1.1, on a keep-alive agent (as cAdvisor's Go client) or a connection of its own. */
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
  assert.equal((await fx.daemon.cri.runtime.version({})).runtimeName, 'crio-ts');
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
  assert.equal(readFileSync(`/proc/${String(info.pid)}/cmdline`, 'utf8').split('\0')[0], 'sleep');
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
  const answers = new Map<string, number>();
  const asked: Promise<void>[] = [];
  // As cAdvisor: an inotify watch on the cgroup tree, a question per new crio-<id> directory.
  const watcher = watch(dir, (_event, name) => {
    const id = /^crio-([0-9a-f]{64})$/.exec(String(name))?.[1];
    if (!id || answers.has(id)) return;
    answers.set(id, 0);
    asked.push(inspect(`/containers/${id}`, false).then((r) => void answers.set(id, r.status)));
  });
  try {
    const { podSandboxId, config } = await fx.runPod('watched');
    const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'c' }, command: ['sleep', '3600'] });
    await Promise.all(asked);
    // Other work on the host may add cgroups too: only this pod's are looked at.
    assert.equal(answers.get(podSandboxId), 200, 'the pod cgroup');
    assert.equal(answers.get(id), 200, 'the container cgroup');
  } finally {
    watcher.close();
  }
});

test('GET /containers/<pod id> with an infra container: the pause process and its rootfs', async () => {
  const { podSandboxId } = await fx.runPod('with-infra', { linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.POD } } } });
  const p = JSON.parse((await inspect(`/containers/${podSandboxId}`)).body) as Record<string, unknown>;
  assert.ok(typeof p.pid === 'number' && p.pid > 0);
  assert.match(readFileSync(`/proc/${String(p.pid)}/cmdline`, 'utf8'), /pause/);
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

test('image names: a tag when created from the ID (the kubelet), the name given otherwise', async () => {
  const { podSandboxId, config } = await fx.runPod('names');
  const byId = await fx.runContainer(podSandboxId, config, { metadata: { name: 'by-id' }, image: { image: taggedId }, command: ['sleep', '3600'] }, false);
  const byName = await fx.runContainer(podSandboxId, config, { metadata: { name: 'by-name' }, image: { image: 'busybox' }, command: ['sleep', '3600'] }, false);
  const userSpecified = await fx.runContainer(
    podSandboxId,
    config,
    { metadata: { name: 'user-specified' }, image: { image: taggedId, userSpecifiedImage: 'busybox:1.29-2' }, command: ['sleep', '3600'] },
    false,
  );
  const image = async (id: string) => (await fx.daemon.cri.runtime.containerStatus({ containerId: id })).status;
  const st = await image(byId);
  assert.equal(st?.image?.image, 'docker.io/library/busybox:1.29-2', 'the kubelet shows the tag, not the ID');
  assert.equal(st?.imageId, taggedId);
  assert.match(st?.imageRef ?? '', /^docker\.io\/library\/busybox@sha256:[0-9a-f]{64}$/);
  assert.equal((await image(byName))?.image?.image, 'busybox');
  assert.equal((await image(userSpecified))?.image?.image, 'busybox:1.29-2');
  const listed = (await fx.daemon.cri.runtime.listContainers({ filter: { podSandboxId } })).containers;
  assert.equal(listed.find((c) => c.id === byId)?.image?.image, 'docker.io/library/busybox:1.29-2');
});

test("termination message: the kubelet's own termination-log mount is not reported twice", async () => {
  const { podSandboxId, config } = await fx.runPod('term-kubelet');
  const hostFile = path.join(fx.daemon.dir, 'kubelet-termination-log');
  await fs.writeFile(hostFile, '', { mode: 0o666 });
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'dies' },
    command: ['sh', '-c', 'echo -n going-down > /dev/termination-log; exit 3'],
    mounts: [{ containerPath: '/dev/termination-log', hostPath: hostFile }],
    annotations: { 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log' },
  });
  const st = await waitFor('exit', async () => {
    const s = (await fx.daemon.cri.runtime.containerStatus({ containerId: id })).status;
    return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
  });
  assert.equal(st.exitCode, 3);
  assert.equal(st.reason, 'Error');
  // The kubelet reads its file itself and appends it to this message: CRI-O leaves it empty.
  assert.equal(st.message, '');
  assert.equal(readFileSync(hostFile, 'utf8'), 'going-down');
});

test('crictl by image ID: full ID, sha256:ID and unique prefixes as image and user_specified_image', async () => {
  const { podSandboxId, config } = await fx.runPod('by-id');
  const forms = [busyboxId, `sha256:${busyboxId}`, busyboxId.slice(0, 12)];
  for (const [i, form] of forms.entries()) {
    const id = await fx.runContainer(podSandboxId, config, { metadata: { name: `id-${i}` }, image: { image: form, userSpecifiedImage: form }, command: ['true'] }, false);
    const st = (await fx.daemon.cri.runtime.containerStatus({ containerId: id })).status;
    assert.equal(st?.imageId, busyboxId, form);
    assert.equal(st?.image?.image, 'docker.io/library/busybox:latest', `${form}: the first tag is shown`);
    assert.equal((await fx.daemon.cri.image.imageStatus({ image: { image: form } })).image?.id, busyboxId, `ImageStatus ${form}`);
  }
  await rejectsWith(
    fx.runContainer(podSandboxId, config, { metadata: { name: 'id-short' }, image: { image: busyboxId.slice(0, 2) }, command: ['true'] }, false),
    5,
    /not found/,
  );
  // An explicit signature policy (here the namespace's own file) is checked for a name: an ID cannot be.
  const signed = await fx.runPod('policy', { metadata: { name: 'policy', namespace: NS_WITH_POLICY, uid: 'uid-policy', attempt: 0 } });
  await rejectsWith(
    fx.runContainer(signed.podSandboxId, signed.config, { metadata: { name: 'p' }, image: { image: busyboxId, userSpecifiedImage: busyboxId }, command: ['true'] }, false),
    9,
    /SignatureValidationFailed: .*specified by ID/,
  );
  await fx.runContainer(signed.podSandboxId, signed.config, { metadata: { name: 'p' }, image: { image: busyboxId, userSpecifiedImage: 'busybox' }, command: ['true'] }, false);
});

test("log path without the pod's log_directory: <log_dir>/<pod id>/<container id>.log", async () => {
  const { podSandboxId, config } = await fx.runPod('no-log-dir', { logDirectory: '' });
  const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'c' }, command: ['echo', 'logged'] });
  const st = (await fx.daemon.cri.runtime.containerStatus({ containerId: id })).status;
  const want = path.join(fx.daemon.dir, 'logs', podSandboxId, `${id}.log`);
  assert.equal(st?.logPath, want);
  await waitFor('log line', async () => (existsSync(want) && readFileSync(want, 'utf8').includes('logged') ? true : undefined));
});

/**
 * Creates until one outlives its caller's deadline (a create takes a few hundred ms; on an
 * idle machine a very short deadline may also expire before the request is even handled, which
 * creates nothing, so shorter and longer deadlines are tried). Returns the hidden container's ID.
 */
async function abandonCreate(req: { podSandboxId: string; sandboxConfig: Record<string, unknown>; config: { metadata: { name: string } } }): Promise<string> {
  for (const deadlineMs of [100, 40, 200, 20, 400, 10, 800]) {
    const logBefore = fx.daemon.logs().length;
    const err = await fx.daemon.cri.runtime.createContainer(req, deadlineMs).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (err === undefined) {
      // The create was faster than the deadline: remove it and try a shorter one.
      const ids = (await fx.daemon.cri.runtime.listContainers({ filter: { podSandboxId: req.podSandboxId } })).containers;
      for (const c of ids.filter((c) => c.metadata?.name === req.config.metadata.name)) await fx.daemon.cri.runtime.removeContainer({ containerId: c.id });
      continue;
    }
    assert.equal(grpcCode(err), 4, String(err));
    const id = await waitFor(
      'the abandoned create to finish',
      async () => {
        const line = fx.daemon
          .logs()
          .slice(logBefore)
          .split('\n')
          .find((l) => l.includes('hidden until the retry'));
        if (line) return /"containerId":"([0-9a-f]{64})"/.exec(line)?.[1] ?? '';
        // Nothing was created when the request expired before it was handled.
        const taken = fx.daemon.logs().slice(logBefore).includes('container created');
        return taken ? '' : undefined;
      },
      30_000,
    ).catch(() => '');
    if (id !== '') return id;
  }
  throw new Error('no CreateContainer outlived its deadline');
}

test('a create whose caller gave up stays hidden until the identical retry claims it; without one it is removed', async () => {
  const { podSandboxId, config } = await fx.runPod('abandoned');
  const request = (name: string, cmd: string[]) => ({ podSandboxId, sandboxConfig: config, config: { metadata: { name }, image: { image: 'busybox' }, command: cmd } });
  const claimed = request('claimed', ['sleep', '3600']);
  const hidden = await abandonCreate(claimed);
  const listed = async () => (await fx.daemon.cri.runtime.listContainers({ filter: { podSandboxId } })).containers.map((c) => c.id);
  assert.deepEqual(await listed(), [], 'not listed');
  await rejectsWith(fx.daemon.cri.runtime.containerStatus({ containerId: hidden }), 5, /not found: its create is not finished/);
  assert.deepEqual((await fx.daemon.cri.runtime.podSandboxStatus({ podSandboxId })).containersStatuses, []);
  // Hidden across a daemon restart too, then the identical retry gets the very container.
  await fx.daemon.restart();
  assert.deepEqual(await listed(), []);
  const { containerId } = await fx.daemon.cri.runtime.createContainer(claimed);
  assert.equal(containerId, hidden);
  assert.deepEqual(await listed(), [hidden]);
  await fx.daemon.cri.runtime.startContainer({ containerId });
  assert.equal((await fx.daemon.cri.runtime.containerStatus({ containerId })).status?.state, ContainerState.CONTAINER_RUNNING);

  // No retry: removed after the timeout, with its rootfs and bundle; the name is free again.
  const forgotten = await abandonCreate(request('forgotten', ['sleep', '1']));
  const bundle = path.join(fx.daemon.dir, 'run', 'crio-bundles', forgotten);
  const layer = path.join(fx.daemon.dir, 'root', 'crio-containers', forgotten);
  const record = path.join(fx.daemon.dir, 'root', 'crio-state', 'containers', `${forgotten}.json`);
  assert.ok(existsSync(bundle) && existsSync(layer) && existsSync(record));
  await waitFor('the abandoned container to be removed', async () => ([bundle, layer, record].some((p) => existsSync(p)) ? undefined : true), ABANDON_MS + 30_000);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(forgotten), 'its rootfs is unmounted');
  const again = await fx.daemon.cri.runtime.createContainer(request('forgotten', ['sleep', '2']));
  assert.notEqual(again.containerId, forgotten);
  assert.deepEqual((await listed()).sort(), [hidden, again.containerId].sort());
});
