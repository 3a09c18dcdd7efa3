import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerState, NamespaceMode, PodSandboxState } from '../../lib/cri/gen/api';
import { runProgram } from '../../lib/process';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, type BuiltImage } from '../harness/test-images';
import { layerIds as chainIds, layerStoreState, mountsUnder } from './storage-fixtures';

/*
 * The daemon killed with SIGKILL in the middle of a layer unpack and in the middle of
 * CreateContainer, then started again: the store must be consistent (no half layers, no
 * leaked mounts or writable layers) and images usable. Then the two node events: a reboot
 * (version file gone) drops pods and containers but keeps images; an unclean stop with a
 * damaged layer drops exactly the damaged layer and its image, and the daemon still starts.
 */

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
let registry: TestRegistry;
let daemon: TestDaemon;
let busybox: BuiltImage;
let big: BuiltImage;
const FILES = 5_000;

const graphRoot = (): string => path.join(daemon.dir, 'root');
const layersDir = (): string => path.join(graphRoot(), 'overlay');

/** containers.json: container ID → its writable layer. */
async function storedContainers(): Promise<Map<string, string>> {
  const text = await fs.readFile(path.join(graphRoot(), 'overlay-containers', 'containers.json'), 'utf8').catch(() => '[]');
  return new Map((JSON.parse(text || '[]') as { id: string; layer: string }[]).map((c) => [c.id, c.layer]));
}
const bundlesDir = (): string => path.join(daemon.dir, 'run', 'crio-bundles');

async function ls(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
}

/** Polls until `pred` holds (or fails after `ms`). */
async function waitFor(what: string, pred: () => Promise<boolean>, ms = 120_000, everyMs = 3): Promise<void> {
  const until = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function podConfig(name: string) {
  return {
    metadata: { name, namespace: 'crash', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(daemon.dir, 'pod-logs', name),
    // No infra (pause) container: these tests run without a pause image.
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
}

function ctrConfig(name: string, image: string) {
  return { metadata: { name, attempt: 0 }, image: { image }, command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'], logPath: `${name}.log` };
}

/** A consistent store: only complete layers (exactly `want` when given), no dangling links, no orphan writable layers or mounts. */
async function assertConsistent(want?: string[]): Promise<void> {
  const st = await layerStoreState(graphRoot());
  assert.deepEqual(st.incomplete, [], 'no half layers');
  assert.deepEqual(st.danglingLinks, [], 'no dangling links');
  const containers = (await daemon.cri.runtime.listContainers({})).containers.map((c) => c.id).sort();
  const stored = await storedContainers();
  assert.deepEqual([...stored.keys()].sort(), containers, 'a store container exactly for each container');
  const writable = containers.map((id) => stored.get(id) ?? '');
  if (want) assert.deepEqual(st.complete, [...new Set([...want, ...writable])].sort());
  assert.deepEqual(await ls(bundlesDir()), containers, 'a bundle exactly for each container');
  const real = await fs.realpath(layersDir());
  const mounts = (await mountsUnder(layersDir())).filter((m) => m !== real).map((m) => path.relative(real, m)).sort();
  assert.deepEqual(mounts, writable.map((l) => `${l}/merged`).sort(), 'a rootfs mount exactly for each container');
}

async function runIn(podSandboxId: string, name: string, image: string): Promise<string> {
  const { containerId } = await daemon.cri.runtime.createContainer({ podSandboxId, sandboxConfig: podConfig(name), config: ctrConfig(name, image) });
  await daemon.cri.runtime.startContainer({ containerId });
  return containerId;
}

before(async () => {
  if (skip) return;
  registry = await startRegistry();
  busybox = await buildBusyboxImage();
  await registry.push('library/busybox', 'latest', busybox);
  // busybox plus a layer of many small files: unpacking it takes long enough to be killed midway.
  big = await buildBusyboxImage({ extraLayers: [{ files: Array.from({ length: FILES }, (_, i) => ({ path: `data/f${i}`, content: `file ${i}\n` })) }] });
  await registry.push('library/big', 'latest', big);
  daemon = await startDaemon({
    netIndex: 131,
    registriesConf: `[[registry]]\nprefix = "docker.io/library"\nlocation = "${registry.host}/library"\ninsecure = true\n`,
  });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
});

test('SIGKILL in the middle of a layer unpack leaves no half layer; the image pulls again and runs', { skip }, async () => {
  await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
  const pull = daemon.cri.image.pullImage({ image: { image: 'big' } }).then(
    () => 'finished',
    () => 'failed',
  );
  await waitFor('an unpack in progress', async () => (await fs.readdir(path.join(layersDir(), 'crio-staging')).catch(() => [])).length > 0);
  await daemon.kill();
  assert.equal(await pull, 'failed');
  assert.ok((await layerStoreState(graphRoot())).incomplete.length > 0, 'killed mid-unpack');

  await daemon.restart();
  await assertConsistent(chainIds(busybox));
  assert.equal((await daemon.cri.image.imageStatus({ image: { image: 'big' } })).image, undefined, 'no image from the interrupted pull');
  assert.ok((await daemon.cri.image.imageStatus({ image: { image: 'busybox' } })).image, 'the other image stays');

  await daemon.cri.image.pullImage({ image: { image: 'big' } });
  await assertConsistent(chainIds(big));
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config: podConfig('unpack') });
  const id = await runIn(podSandboxId, 'unpack', 'big');
  const r = await daemon.cri.runtime.execSync({ containerId: id, cmd: ['sh', '-c', 'ls /data | wc -l; cat /data/f123'], timeout: 20n });
  assert.equal(r.stdout.toString(), `${FILES}\nfile 123\n`);
  await daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
});

test('SIGKILL in the middle of CreateContainer leaks no mount or layer; the image stays usable', { skip }, async () => {
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config: podConfig('create') });
  // Early (writable layer being made) and late (layer mounted, runtime being set up).
  const stages: { what: string; seen: () => Promise<boolean> }[] = [
    { what: 'writable layer record', seen: async () => (await storedContainers()).size > 0 },
    { what: 'bundle dir', seen: async () => (await ls(bundlesDir())).length > 0 },
  ];
  for (const stage of stages) {
    const create = daemon.cri.runtime.createContainer({ podSandboxId, sandboxConfig: podConfig('create'), config: ctrConfig('victim', 'busybox') }).then(
      () => 'finished',
      () => 'failed',
    );
    await waitFor(stage.what, stage.seen, 60_000, 1);
    await daemon.kill();
    await create;
    await daemon.restart();
    await assertConsistent(chainIds(big));
    const pod = await daemon.cri.runtime.podSandboxStatus({ podSandboxId });
    assert.equal(pod.status?.state, PodSandboxState.SANDBOX_READY, `pod survives (${stage.what})`);
    // The name may or may not have been recorded; either way the image must still run a container.
    for (const c of (await daemon.cri.runtime.listContainers({})).containers) await daemon.cri.runtime.removeContainer({ containerId: c.id });
  }
  const id = await runIn(podSandboxId, 'create', 'busybox');
  const r = await daemon.cri.runtime.execSync({ containerId: id, cmd: ['echo', 'alive'], timeout: 20n });
  assert.equal(r.stdout.toString(), 'alive\n');
  await assertConsistent();
});

/** PIDs on the host whose command line is exactly `argv`. */
async function pidsOf(argv: string[]): Promise<number[]> {
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    if ((await fs.readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '')) === want) out.push(Number(name));
  }
  return out;
}

test('SIGKILL while an ExecSync runs: the next start kills the orphaned exec; the container keeps running', { skip }, async () => {
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config: podConfig('exec-orphan') });
  const containerId = await runIn(podSandboxId, 'exec-orphan', 'busybox');
  const argv = ['sleep', '4242'];
  const exec = daemon.cri.runtime.execSync({ containerId, cmd: argv, timeout: 600n }).catch(() => undefined);
  await waitFor('the exec process', async () => (await pidsOf(argv)).length === 1, 30_000, 20);
  await daemon.kill();
  await exec;
  assert.equal((await pidsOf(argv)).length, 1, 'the exec outlives the daemon');
  await daemon.restart();
  await waitFor('the orphaned exec to be gone', async () => (await pidsOf(argv)).length === 0, 10_000, 20);
  assert.deepEqual((await ls(path.join(bundlesDir(), containerId))).filter((f) => f.startsWith('exec-')), [], 'its files are removed');
  const st = await daemon.cri.runtime.containerStatus({ containerId });
  assert.equal(st.status?.state, ContainerState.CONTAINER_RUNNING);
  const r = await daemon.cri.runtime.execSync({ containerId, cmd: ['echo', 'alive'], timeout: 20n });
  assert.equal(r.stdout.toString(), 'alive\n');
  assert.match(daemon.logs(), /execs left running by the previous daemon killed/);
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
});

test('a reboot (version file gone) drops stale pods and containers but keeps images', { skip }, async () => {
  assert.equal((await daemon.cri.runtime.listContainers({})).containers.length, 1);
  await daemon.kill();
  await fs.rm(path.join(daemon.dir, 'run', 'version'));
  await daemon.restart();
  assert.deepEqual((await daemon.cri.runtime.listPodSandbox({})).items, []);
  assert.deepEqual((await daemon.cri.runtime.listContainers({})).containers, []);
  assert.equal((await daemon.cri.image.listImages({})).images.length, 2, 'images kept');
  await assertConsistent(chainIds(big));
  // Only the driver home itself stays mounted (private, as c/storage keeps it).
  assert.deepEqual(await mountsUnder(path.join(daemon.dir, 'root')), [await fs.realpath(layersDir())], 'no mount left under root');
  const runc = await runProgram('runc', ['--root', path.join(daemon.dir, 'runc'), 'list', '-q']);
  assert.equal(runc.stdout.toString().trim(), '', 'no runtime container left');
  // And the node works: a new pod and container.
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config: podConfig('after-reboot') });
  const id = await runIn(podSandboxId, 'after-reboot', 'busybox');
  assert.equal((await daemon.cri.runtime.containerStatus({ containerId: id })).status?.state, ContainerState.CONTAINER_RUNNING);
  await daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
});

test('an unclean stop: a damaged layer and its image are dropped, everything else stays', { skip }, async () => {
  const chains = chainIds(big);
  const top = chains[chains.length - 1] ?? '';
  await daemon.kill();
  await fs.rm(path.join(layersDir(), top, 'diff', 'data', 'f7'));
  await daemon.restart();
  assert.ok((await daemon.cri.image.imageStatus({ image: { image: 'busybox' } })).image, 'undamaged image kept');
  assert.equal((await daemon.cri.image.imageStatus({ image: { image: 'big' } })).image, undefined, 'damaged image dropped');
  await assertConsistent(chainIds(busybox));
  const logLines = daemon.logs().split('\n');
  assert.ok(logLines.some((l) => l.includes('"damaged layer removed"') && l.includes(top) && l.includes('content changed')), 'the log names the layer and why');
  assert.ok(logLines.some((l) => l.includes('"damaged image removed"') && l.includes(big.configDigest.slice(7))), 'the log names the image');
  await daemon.cri.image.pullImage({ image: { image: 'big' } });
  await assertConsistent(chainIds(big));
  // A clean restart checks nothing.
  const checks = (): number => (daemon.logs().match(/"layers checked"/g) ?? []).length;
  const before = checks();
  await daemon.restart();
  assert.equal(checks(), before);
});
