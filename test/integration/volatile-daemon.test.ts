import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerState } from '../../lib/cri/gen/api';
import { listMountsUnder } from '../../lib/storage/mount';
import { startContainerFixture, type ContainerFixture } from './container-fixture';

/*
 * The daemon with `storage_option = ["crio-ts.volatile_records=true"]`: CreateContainer records
 * the container and its writable layer in volatile-containers.json / volatile-layers.json (as
 * c/storage ≥ 1.45 does for CRI-O), a restart keeps the container, RemoveContainer drops it, and
 * volatile files lost while the daemon was down (what c/storage allows after a crash) leave no
 * layer, mount or directory behind and the exited container removable.
 */

let fx: ContainerFixture;
const root = (): string => path.join(fx.daemon.dir, 'root');
const file = (kind: 'layers' | 'containers', volatile: boolean): string => path.join(root(), `overlay-${kind}`, `${volatile ? 'volatile-' : ''}${kind}.json`);

async function stored(kind: 'layers' | 'containers', volatile: boolean): Promise<{ id: string; layer?: string }[]> {
  return JSON.parse((await fs.readFile(file(kind, volatile), 'utf8').catch(() => '')) || '[]') as { id: string; layer?: string }[];
}

before(async () => {
  fx = await startContainerFixture({ netIndex: 148, dropIn: '[crio]\nstorage_option = ["crio-ts.volatile_records=true"]\n' });
});

after(async () => {
  await fx?.cleanup();
});

test('CreateContainer records go to the volatile files; a restart keeps the container; RemoveContainer drops it', async () => {
  const rt = fx.daemon.cri.runtime;
  const { podSandboxId, config } = await fx.runPod('vol');
  const layersIno = (await fs.stat(file('layers', false))).ino;
  const containerId = await fx.runContainer(podSandboxId, config, { metadata: { name: 'keeper' }, command: ['sleep', '3600'] });
  const rec = (await stored('containers', true)).find((c) => c.id === containerId);
  assert.ok(rec?.layer, 'in volatile-containers.json');
  assert.ok(!(await stored('containers', false)).some((c) => c.id === containerId), 'not in containers.json');
  assert.ok((await stored('layers', true)).some((l) => l.id === rec.layer), 'its writable layer in volatile-layers.json');
  assert.ok(!(await stored('layers', false)).some((l) => l.id === rec.layer), 'not in layers.json');
  assert.equal((await fs.stat(file('layers', false))).ino, layersIno, 'layers.json not rewritten by CreateContainer');

  await fx.daemon.restart();
  assert.equal((await rt.containerStatus({ containerId })).status?.state, ContainerState.CONTAINER_RUNNING, 'running after the restart');
  assert.equal((await rt.execSync({ containerId, cmd: ['cat', '/etc/hostname'], timeout: 30n })).exitCode, 0);

  await rt.stopContainer({ containerId, timeout: 0n });
  await rt.removeContainer({ containerId });
  assert.ok(!(await stored('containers', true)).some((c) => c.id === containerId), 'record removed');
  assert.ok(!(await stored('layers', true)).some((l) => l.id === rec.layer), 'layer record removed');
  assert.equal(await fs.stat(path.join(root(), 'overlay', rec.layer)).then(() => true, () => false), false, 'layer directory removed');
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
});

test('volatile files lost while the daemon is down: storage drops the container at start, RemoveContainer works, nothing of it left behind', async () => {
  const rt = fx.daemon.cri.runtime;
  const { podSandboxId, config } = await fx.runPod('lost');
  const containerId = await fx.runContainer(podSandboxId, config, { metadata: { name: 'gone' }, command: ['true'] });
  const layer = (await stored('containers', true)).find((c) => c.id === containerId)?.layer ?? '';
  assert.notEqual(layer, '');
  await rt.stopPodSandbox({ podSandboxId });
  await fx.daemon.stop();
  await fs.rm(file('containers', true));
  await fs.rm(file('layers', true));
  await fx.daemon.restart();
  // As for a writable layer lost any other way: storage forgets it at start; the runtime keeps the
  // exited container's record (its status and logs) until the kubelet removes it.
  const listed = (await rt.listContainers({ filter: { id: containerId } })).containers;
  assert.deepEqual(listed.map((c) => c.state), [ContainerState.CONTAINER_EXITED]);
  assert.ok(!(await stored('containers', true)).some((c) => c.id === containerId), 'no storage record');
  assert.ok(!(await stored('layers', true)).some((l) => l.id === layer), 'no layer record');
  await rt.removeContainer({ containerId });
  assert.deepEqual((await rt.listContainers({ filter: { id: containerId } })).containers, []);
  assert.equal(await fs.stat(path.join(root(), 'overlay', layer)).then(() => true, () => false), false, 'its layer directory removed');
  assert.deepEqual(await listMountsUnder(path.join(root(), 'overlay', layer)), [], 'no mount left');
  await rt.removePodSandbox({ podSandboxId });
  assert.deepEqual((await rt.listPodSandbox({})).items.filter((p) => p.id === podSandboxId), []);
});

test('an older copy of the volatile files (a crash lost the last renames) brings back a removed container: it is removed again at start', async () => {
  const rt = fx.daemon.cri.runtime;
  const { podSandboxId, config } = await fx.runPod('stale');
  const containerId = await fx.runContainer(podSandboxId, config, { metadata: { name: 'stale' }, command: ['true'] }, false);
  const layer = (await stored('containers', true)).find((c) => c.id === containerId)?.layer ?? '';
  const snapshot = { containers: await fs.readFile(file('containers', true)), layers: await fs.readFile(file('layers', true)) };
  await rt.removeContainer({ containerId });
  await fx.daemon.stop();
  await fs.writeFile(file('containers', true), snapshot.containers);
  await fs.writeFile(file('layers', true), snapshot.layers);
  await fx.daemon.restart();
  assert.deepEqual((await rt.listContainers({ filter: { id: containerId } })).containers, [], 'removed stays removed');
  assert.ok(!(await stored('containers', true)).some((c) => c.id === containerId), 'its resurrected record dropped');
  assert.ok(!(await stored('layers', true)).some((l) => l.id === layer), 'its resurrected layer record dropped');
  await rt.stopPodSandbox({ podSandboxId });
  await rt.removePodSandbox({ podSandboxId });
});
