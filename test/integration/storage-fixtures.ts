import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { pack, type Header } from 'tar-stream';
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

/** Chain IDs of an image's layers, bottom first. */
export function chainIds(image: BuiltImage): string[] {
  const out: string[] = [];
  for (const l of image.layers) out.push(out.length === 0 ? l.diffId : sha256(`${out[out.length - 1] ?? ''} ${l.diffId}`));
  return out;
}

/** What the layer store directory holds: complete layers, incomplete leftovers, and dangling links. */
export async function layerStoreState(root: string): Promise<{ complete: string[]; incomplete: string[]; danglingLinks: string[] }> {
  const out = { complete: [] as string[], incomplete: [] as string[], danglingLinks: [] as string[] };
  for (const name of await fs.readdir(root).catch(() => [] as string[])) {
    if (name === 'l') continue;
    const complete = /^[0-9a-f]{64}$/.test(name) && (await fs.stat(path.join(root, name, 'layer.json')).then(() => true, () => false));
    (complete ? out.complete : out.incomplete).push(complete ? `sha256:${name}` : name);
  }
  for (const link of await fs.readdir(path.join(root, 'l')).catch(() => [] as string[])) {
    if (!(await fs.stat(path.join(root, 'l', link)).then(() => true, () => false))) out.danglingLinks.push(link);
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
