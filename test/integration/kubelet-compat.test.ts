import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerState } from '../../lib/cri/gen/api';
import { buildBusyboxImage } from '../harness/test-images';
import { grpcCode, rejectsWith, startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * CRI behaviour the real kubelet and newer crictl showed wrong (issue 12): image names in
 * statuses, the kubelet's termination-log mount, image IDs as crictl sends them, CRI-O's default
 * log path, and creates whose caller gave up (hidden until the identical retry, removed without).
 */

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
    netIndex: 163,
    dropIn: `[crio.image]\nsignature_policy_dir = "${policyDir}"\n`,
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
  await fx?.cleanup();
  if (policyDir) await fs.rm(policyDir, { recursive: true, force: true });
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
        if (line) return /containerId[=":]+([0-9a-f]{64})/.exec(line)?.[1] ?? '';
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
  // Its writable layer in the containers/storage store (containers.json names it).
  const stored = JSON.parse(readFileSync(path.join(fx.daemon.dir, 'root', 'overlay-containers', 'containers.json'), 'utf8')) as { id: string; layer: string }[];
  const layerId = stored.find((c) => c.id === forgotten)?.layer ?? '';
  const layer = path.join(fx.daemon.dir, 'root', 'overlay', layerId);
  const record = path.join(fx.daemon.dir, 'root', 'crio-state', 'containers', `${forgotten}.json`);
  assert.ok(layerId !== '' && existsSync(bundle) && existsSync(layer) && existsSync(record));
  await waitFor('the abandoned container to be removed', async () => ([bundle, layer, record].some((p) => existsSync(p)) ? undefined : true), ABANDON_MS + 30_000);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(layerId), 'its rootfs is unmounted');
  const again = await fx.daemon.cri.runtime.createContainer(request('forgotten', ['sleep', '2']));
  assert.notEqual(again.containerId, forgotten);
  assert.deepEqual((await listed()).sort(), [hidden, again.containerId].sort());
});
