import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
import { backgroundContext } from '../../lib/context';
import { nullLogger } from '../../lib/log';
import { ContainerLayers } from '../../lib/storage/container-layers';
import type { CrioMetadata } from '../../lib/storage/container-records';
import { ImageRecords } from '../../lib/storage/image-records';
import { LayerGc } from '../../lib/storage/layer-gc';
import { LayerStore } from '../../lib/storage/layer-store';
import { layerIdOf, layerIdsOf } from '../../lib/storage/store-records';
import type { BuiltImage } from '../harness/test-images';

/**
 * Helpers shared by the storage and crash integration tests (no side effects at load): images
 * made of arbitrary layer tars, including hostile ones, and checks of the on-disk store.
 */

/** One entry of a tar built with tar-stream. */
export interface RawEntry {
  header: Partial<Header> & { name: string };
  body?: string | Buffer;
}

const sha256 = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Builds a tar in memory. */
export async function rawTar(entries: readonly RawEntry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const e of entries) {
    await new Promise<void>((resolve, reject) => {
      p.entry({ mtime: new Date(0), mode: 0o644, uid: 0, gid: 0, ...e.header }, e.body ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A GNU long-name record (typeflag L) followed by a file entry, as raw tar bytes (tar-stream cannot write these). */
export function gnuLongNameEntry(name: string, body: string): Buffer {
  const block = (n: string, size: number, type: string): Buffer => {
    const b = Buffer.alloc(512);
    b.write(n.slice(0, 99), 0, 'utf8');
    b.write('0000644\0', 100, 'latin1');
    b.write('0000000\0', 108, 'latin1');
    b.write('0000000\0', 116, 'latin1');
    b.write(size.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    b.write('00000000000\0', 136, 'latin1');
    b.write(type, 156, 'latin1');
    b.write('ustar  \0', 257, 'latin1');
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of b) sum += x;
    b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    return b;
  };
  const pad = (buf: Buffer): Buffer => Buffer.concat([buf, Buffer.alloc((512 - (buf.length % 512)) % 512)]);
  const longName = Buffer.from(name + '\0');
  return Buffer.concat([
    block('././@LongLink', longName.length, 'L'),
    pad(longName),
    block('placeholder', body.length, '0'),
    pad(Buffer.from(body)),
    Buffer.alloc(1024),
  ]);
}

/** An OCI image whose layers are the given (uncompressed) tars, gzip-compressed. */
export function rawImage(layerTars: readonly Buffer[], cmd: string[] = ['sh']): BuiltImage {
  const layers = layerTars.map((tar) => {
    const bytes = gzipSync(tar, { level: 1 });
    return { bytes, digest: sha256(bytes), diffId: sha256(tar), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' };
  });
  const platform = { os: 'linux', architecture: 'amd64' };
  const config = {
    ...platform,
    config: { Env: ['PATH=/bin:/usr/bin'], Cmd: cmd },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(configBytes), size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest,
    manifestBytes,
    manifestDigest: sha256(manifestBytes),
    manifestMediaType: manifest.mediaType,
    config,
    configBytes,
    configDigest: sha256(configBytes),
    layers,
    platform,
  };
}

/** Storage layer IDs of an image's layers (containers/image's rule), bottom first. */
export function layerIds(image: BuiltImage): string[] {
  return layerIdsOf(image.layers.map((l) => l.diffId));
}

/**
 * What a graph root's layer store holds: complete layers (in layers.json, not flagged incomplete,
 * with a directory), incomplete leftovers (flagged records, directories without a record, staged
 * unpacks), and dangling links.
 */
export async function layerStoreState(graphRoot: string): Promise<{ complete: string[]; incomplete: string[]; danglingLinks: string[] }> {
  const out = { complete: [] as string[], incomplete: [] as string[], danglingLinks: [] as string[] };
  const home = path.join(graphRoot, 'overlay');
  const text = await fs.readFile(path.join(graphRoot, 'overlay-layers', 'layers.json'), 'utf8').catch(() => '[]');
  const records = (text.trim() === '' ? [] : JSON.parse(text)) as { id: string; flags?: Record<string, unknown> }[];
  // Layer directories only (the home also holds l/, crio-staging/, podman's .has-mount-program).
  const dirs = new Set((await fs.readdir(home).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{64}$/.test(n)));
  for (const r of records) {
    if (r.flags?.incomplete === true || !dirs.has(r.id)) out.incomplete.push(`record ${r.id}`);
    else out.complete.push(r.id);
  }
  for (const d of dirs) if (!records.some((r) => r.id === d)) out.incomplete.push(`dir ${d}`);
  for (const s of await fs.readdir(path.join(home, 'crio-staging')).catch(() => [] as string[])) out.incomplete.push(`staged ${s}`);
  for (const link of await fs.readdir(path.join(home, 'l')).catch(() => [] as string[])) {
    if (!(await fs.stat(path.join(home, 'l', link)).then(() => true, () => false))) out.danglingLinks.push(link);
  }
  out.complete.sort();
  return out;
}

/** Mount points at or below `dir` (from /proc/self/mountinfo). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const real = await fs.realpath(dir);
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => (l.split(' ')[4] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === real || m.startsWith(real + '/'));
}

/** A whole store (graph root `<dir>/graph`, run root `<dir>/run`) as the daemon opens it. */
export async function openTestStore(dir: string, log = nullLogger(), options: { volatileRecords?: boolean } = {}): Promise<{ graphRoot: string; runRoot: string; layers: LayerStore; images: ImageRecords; containers: ContainerLayers; gc: LayerGc }> {
  const graphRoot = path.join(dir, 'graph');
  const runRoot = path.join(dir, 'run');
  let gc: LayerGc | undefined;
  const layers = new LayerStore({ graphRoot, log, onCommit: async (id) => gc?.addCandidates([id]) });
  await layers.init();
  const images = new ImageRecords(graphRoot, log);
  await images.init();
  const containers = new ContainerLayers({ graphRoot, runRoot, layerStore: layers, images, log, ...options });
  gc = new LayerGc({ layers, images, containers: containers.store, log });
  await containers.init();
  return { graphRoot, runRoot, layers, images, containers, gc };
}

/** Records an image on `topLayer` (its big data is a stand-in: the storage tests never read it). */
export async function recordImage(images: ImageRecords, id: string, topLayer: string, names: string[] = []): Promise<void> {
  await images.createImage({ id, names, topLayer, created: new Date(0), metadata: '{}', bigData: [{ key: 'manifest', data: Buffer.from('{}') }] });
}

/** A one-file base layer (`hello`: "world") applied to `layers` and an image `imageId` on it; returns the layer ID. */
export async function applyOneFileImage(layers: LayerStore, images: ImageRecords, imageId: string): Promise<string> {
  const p = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  p.entry({ name: 'hello', mode: 0o644 }, 'world');
  p.finalize();
  await done;
  const tar = Buffer.concat(chunks);
  const diff = 'sha256:' + createHash('sha256').update(tar).digest('hex');
  const layerId = layerIdOf(undefined, diff);
  await layers.applyLayer({ layerId, parentLayerId: undefined, diffId: diff, tar: Readable.from([tar]) }, backgroundContext(nullLogger()));
  await recordImage(images, imageId, layerId);
  return layerId;
}

/** CRI-O-style names and metadata for a test container. */
export function testContainer(name: string, imageId: string): { imageId: string; names: string[]; metadata: CrioMetadata } {
  return {
    imageId,
    names: [`k8s_${name}_pod_ns_uid_0`],
    metadata: { 'pod-name': 'k8s_pod_ns_uid_0', 'pod-id': 'p'.repeat(64), 'image-name': 'test', 'image-id': imageId, name: `k8s_${name}_pod_ns_uid_0`, 'metadata-name': name, 'created-at': 0 },
  };
}
