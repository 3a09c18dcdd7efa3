import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { NamespaceMode } from '../../lib/cri/gen/api';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { podmanSkipReason, podmanTools, writeOciLayout, type PodmanTools } from '../harness/podman';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, type BuiltImage } from '../harness/test-images';
import { layerIds, layerStoreState } from './storage-fixtures';

/*
 * One image store shared with Debian's podman and skopeo (containers/storage 1.43): what either
 * side puts in it the other lists, runs, tags and removes, under the same locks, and a crash of
 * crio-ts mid-pull leaves a store podman still reads. The daemon's graph root and run root are
 * the store; podman and skopeo get them on the command line and everything else from files of
 * the test (test/harness/podman.ts).
 */

const skip = podmanSkipReason();
let registry: TestRegistry;
let daemon: TestDaemon;
let tools: PodmanTools;
let scratch = '';
const built = new Map<string, BuiltImage>();

/** A small image: busybox plus one file naming it (all share the busybox layer). */
async function image(name: string, files = 1): Promise<BuiltImage> {
  const files_ = Array.from({ length: files }, (_, i) => ({ path: `data/${name}-${i}`, content: `${name} ${i}\n` }));
  const img = await buildBusyboxImage({ labels: { name }, extraLayers: [{ files: [{ path: 'etc/motd', content: `${name}\n` }, ...files_] }] });
  built.set(name, img);
  return img;
}

const hex = (d: string): string => d.replace(/^sha256:/, '');

function podConfig(name: string) {
  return {
    metadata: { name, namespace: 'interop', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(daemon.dir, 'pod-logs', name),
    // No CNI in this test: the host network; no pause image: no infra container.
    linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER } } },
  };
}

/** Runs `image` in a new pod through the CRI; returns the pod and container IDs. */
async function runViaCri(name: string, image: string): Promise<{ podSandboxId: string; containerId: string }> {
  const rt = daemon.cri.runtime;
  const { podSandboxId } = await rt.runPodSandbox({ config: podConfig(name) });
  const { containerId } = await rt.createContainer({
    podSandboxId,
    sandboxConfig: podConfig(name),
    config: { metadata: { name, attempt: 0 }, image: { image }, command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'], logPath: `${name}.log` },
  });
  await rt.startContainer({ containerId });
  return { podSandboxId, containerId };
}

async function exec(containerId: string, cmd: string): Promise<string> {
  const r = await daemon.cri.runtime.execSync({ containerId, cmd: ['sh', '-c', cmd], timeout: 30n });
  assert.equal(r.exitCode, 0, r.stderr.toString());
  return r.stdout.toString();
}

async function removePod(podSandboxId: string): Promise<void> {
  await daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
}

/** podman's view: image ID → sorted names. */
async function podmanImages(): Promise<Map<string, string[]>> {
  const out = (await tools.podman(['images', '--format', 'json'])).stdout;
  const list = JSON.parse(out || '[]') as { Id: string; Names?: string[] }[];
  return new Map(list.map((i) => [i.Id, [...(i.Names ?? [])].sort()]));
}

/** The CRI's view: image ID → sorted tags and digested names. */
async function criImages(): Promise<Map<string, string[]>> {
  const { images } = await daemon.cri.image.listImages({});
  return new Map(images.map((i) => [i.id, [...i.repoTags].sort()]));
}

before(async () => {
  if (skip) return;
  scratch = await fs.mkdtemp(path.join('/tmp', 'crio-interop-'));
  registry = await startRegistry();
  for (const name of ['pulled', 'used', 'podmade', 'killed']) await registry.push(`interop/${name}`, '1', await image(name, name === 'killed' ? 4000 : 1));
  for (let i = 0; i < 4; i++) await registry.push(`interop/round${i}`, '1', await image(`round${i}`));
  daemon = await startDaemon({ netIndex: 150, noCni: true, registriesConf: `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n` });
  tools = await podmanTools(daemon.dir, registry.host);
});

after(async () => {
  try {
    if (tools) await tools.podman(['rm', '-a', '-f'], { allowFail: true });
    await daemon?.cleanup();
  } finally {
    await registry?.stop();
    if (scratch) await fs.rm(scratch, { recursive: true, force: true });
  }
});

test('podman load and skopeo copy: the CRI lists them (ID, tags, digests, size as podman reports) and runs them', { skip }, async () => {
  const loaded = await image('loaded');
  const { archive } = await writeOciLayout(loaded, path.join(scratch, 'loaded'), 'localhost/loaded:1');
  await tools.podman(['load', '-i', archive]);
  const copied = await image('copied');
  const { layout } = await writeOciLayout(copied, path.join(scratch, 'copied'), 'v2');
  await tools.skopeo(['copy', `oci:${layout}:v2`, tools.storageRef('localhost/copied:2')]);

  for (const [img, name] of [
    [loaded, 'localhost/loaded:1'],
    [copied, 'localhost/copied:2'],
  ] as const) {
    const st = (await daemon.cri.image.imageStatus({ image: { image: name } })).image;
    assert.ok(st, `${name} visible through the CRI`);
    assert.equal(st.id, hex(img.configDigest));
    assert.deepEqual(st.repoTags, [name]);
    assert.deepEqual(st.repoDigests, [`${name.split(':')[0]}@${img.manifestDigest}`]);
    const inspected = JSON.parse((await tools.podman(['image', 'inspect', name])).stdout) as { Size: number }[];
    assert.equal(Number(st.size), inspected[0]?.Size, 'the size podman reports');
    assert.ok((await daemon.cri.image.listImages({})).images.some((i) => i.id === st.id));
  }
  const { podSandboxId, containerId } = await runViaCri('loaded', 'localhost/loaded:1');
  assert.equal(await exec(containerId, 'cat /etc/motd'), 'loaded\n');
  // podman sees the CRI-O container (with its metadata) and never takes it for its own.
  const ps = (await tools.podman(['ps', '--all', '--external', '--format', '{{.ID}} {{.Names}}', '--no-trunc'])).stdout;
  assert.match(ps, new RegExp(`^${containerId} k8s_loaded_loaded_interop_uid-loaded_0$`, 'm'));
  await removePod(podSandboxId);
});

test('PullImage through the CRI: podman lists it, runs it, and podman save gives back the original layer digests', { skip }, async () => {
  const img = built.get('pulled') as BuiltImage;
  const ref = `${registry.host}/interop/pulled:1`;
  const { imageRef } = await daemon.cri.image.pullImage({ image: { image: ref } });
  assert.equal(imageRef, hex(img.configDigest));
  const inspected = JSON.parse((await tools.podman(['image', 'inspect', ref])).stdout) as { Id: string; Digest: string; RepoTags: string[]; RepoDigests: string[] }[];
  assert.equal(inspected[0]?.Id, imageRef);
  assert.equal(inspected[0]?.Digest, img.manifestDigest);
  assert.deepEqual(inspected[0]?.RepoTags, [ref]);
  const out = await tools.podman(['run', '--rm', '--network', 'none', ref, 'cat', '/etc/motd']);
  assert.equal(out.stdout, 'pulled\n');
  const saved = path.join(scratch, 'saved');
  await tools.podman(['save', '--format', 'oci-dir', '--uncompressed', '-o', saved, ref]);
  const blobs = await fs.readdir(path.join(saved, 'blobs', 'sha256'));
  for (const l of img.layers) assert.ok(blobs.includes(hex(l.diffId)), `layer ${l.diffId} rebuilt byte for byte from its tar-split`);
});

test('podman rmi of an image a CRI container uses is refused and leaves its layers; RemoveImage of a podman-made image works', { skip }, async () => {
  const used = `${registry.host}/interop/used:1`;
  await daemon.cri.image.pullImage({ image: { image: used } });
  const { podSandboxId, containerId } = await runViaCri('user', used);
  const rmi = await tools.podman(['rmi', used], { allowFail: true });
  assert.notEqual(rmi.exitCode, 0, 'podman refuses');
  assert.match(rmi.stderr, /in use by a container|used by/);
  const state = await layerStoreState(path.join(daemon.dir, 'root'));
  for (const id of layerIds(built.get('used') as BuiltImage)) assert.ok(state.complete.includes(id), `layer ${id} kept`);
  assert.equal(await exec(containerId, 'cat /etc/motd'), 'used\n');
  await removePod(podSandboxId);

  const podmade = `${registry.host}/interop/podmade:1`;
  await tools.podman(['pull', podmade]);
  const st = (await daemon.cri.image.imageStatus({ image: { image: podmade } })).image;
  assert.equal(st?.id, hex((built.get('podmade') as BuiltImage).configDigest));
  await daemon.cri.image.removeImage({ image: { image: podmade } });
  assert.equal((await tools.podman(['image', 'exists', podmade], { allowFail: true })).exitCode, 1, 'gone for podman too');
  const top = layerIds(built.get('podmade') as BuiltImage).at(-1) ?? '';
  assert.ok(!(await layerStoreState(path.join(daemon.dir, 'root'))).complete.includes(top), 'its own layer removed');
});

test('20 rounds of pulls and removals from both sides at once leave a store both list identically', { skip }, async () => {
  const names = [0, 1, 2, 3].map((i) => `${registry.host}/interop/round${i}:1`);
  for (let round = 0; round < 20; round++) {
    const a = names[round % 4] as string;
    const b = names[(round + 1) % 4] as string;
    const c = names[(round + 2) % 4] as string;
    // Each side pulls one image and removes another the other side may be pulling or using.
    await Promise.allSettled([
      daemon.cri.image.pullImage({ image: { image: a } }),
      tools.podman(['pull', '-q', b], { allowFail: true }),
      daemon.cri.image.removeImage({ image: { image: c } }),
      tools.podman(['rmi', a], { allowFail: true }),
    ]);
  }
  const [p, c] = [await podmanImages(), await criImages()];
  assert.deepEqual([...c.keys()].sort(), [...p.keys()].sort(), 'the same images');
  for (const [id, tags] of c) assert.deepEqual(tags, p.get(id), `the same names for ${id}`);
  const st = await layerStoreState(path.join(daemon.dir, 'root'));
  assert.deepEqual(st.incomplete, [], 'no half layer');
  // Every image's layers are all there: each side can still run any of them.
  const listed = (await daemon.cri.image.listImages({})).images.filter((i) => i.repoTags.some((t) => t.includes('/interop/round')));
  for (const i of listed) {
    const img = [...built.values()].find((b) => hex(b.configDigest) === i.id);
    for (const id of layerIds(img as BuiltImage)) assert.ok(st.complete.includes(id), `layer ${id} of ${i.repoTags.join(',')}`);
  }
  const any = listed[0];
  if (any) await tools.podman(['run', '--rm', '--network', 'none', any.id, 'true']);
});

test('an additional (read-only) image store: its images are listed and run, never changed', { skip }, async () => {
  const ro = path.join(scratch, 'ro');
  const roTools = await podmanTools(daemon.dir, registry.host, { root: path.join(ro, 'root'), run: path.join(ro, 'run') });
  const roImage = await image('readonly');
  await registry.push('interop/readonly', '1', roImage);
  const name = `${registry.host}/interop/readonly:1`;
  await roTools.podman(['pull', '-q', name]);
  const plain = await fs.readFile(path.join(daemon.dir, 'storage.conf'), 'utf8');
  const before = await fs.readFile(path.join(ro, 'root', 'overlay-images', 'images.json'));
  await fs.writeFile(path.join(daemon.dir, 'storage.conf'), `${plain}[storage.options]\nadditionalimagestores = ["${ro}/root"]\n`);
  await daemon.restart();
  try {
    await checkReadOnlyStore(ro, roImage, name, before);
  } finally {
    // Back to the plain store for the tests after this one.
    await fs.writeFile(path.join(daemon.dir, 'storage.conf'), plain);
    await daemon.restart();
  }
});

/** What the daemon does with an image of a read-only store; `before` is that store's images.json before the daemon saw it. */
async function checkReadOnlyStore(ro: string, roImage: BuiltImage, name: string, before: Buffer): Promise<void> {
  const st = (await daemon.cri.image.imageStatus({ image: { image: name } })).image;
  assert.equal(st?.id, hex(roImage.configDigest), 'listed from the read-only store');
  const { podSandboxId, containerId } = await runViaCri('readonly', name);
  assert.equal(await exec(containerId, 'cat /etc/motd'), 'readonly\n');
  await removePod(podSandboxId);
  await assert.rejects(daemon.cri.image.removeImage({ image: { image: name } }), /read-only/);
  assert.ok((await fs.readFile(path.join(ro, 'root', 'overlay-images', 'images.json'))).equals(before), 'the read-only store is untouched');
  const own = layerIds(roImage).at(-1) ?? '';
  assert.ok(!(await layerStoreState(path.join(daemon.dir, 'root'))).complete.includes(own), 'its own layer was not copied');
}

test('a SIGKILL of crio-ts mid-pull leaves a store podman reads, pulls into and removes from', { skip }, async () => {
  const killed = `${registry.host}/interop/killed:1`;
  const pull = daemon.cri.image.pullImage({ image: { image: killed } }).then(
    () => 'finished',
    () => 'failed',
  );
  const staging = path.join(daemon.dir, 'root', 'overlay', 'crio-staging');
  for (let i = 0; i < 6000 && (await fs.readdir(staging).catch(() => [])).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  await daemon.kill();
  await pull;
  const before = await podmanImages();
  assert.ok(before.size > 0, 'podman reads the store');
  await tools.podman(['pull', '-q', killed]);
  assert.ok((await podmanImages()).has(hex((built.get('killed') as BuiltImage).configDigest)));
  await tools.podman(['rmi', killed]);
  await daemon.restart();
  const st = await layerStoreState(path.join(daemon.dir, 'root'));
  assert.deepEqual(st.incomplete, [], 'nothing half-made after both sides loaded the store');
  const [p, c] = [await podmanImages(), await criImages()];
  assert.deepEqual([...c.keys()].sort(), [...p.keys()].sort(), `CRI ${JSON.stringify([...c])} podman ${JSON.stringify([...p])}`);
});
