import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tarStream from 'tar-stream';

/**
 * Reproducible OCI images for tests, built from Debian's busybox-static (/bin/busybox): one
 * base layer (busybox + applet symlinks + /etc/passwd, /etc/group, /tmp), optional extra
 * layers (files, whiteouts), all with mtime 0 and uid/gid 0 and gzip without name/mtime, so
 * digests only change when the inputs do. No network, no docker.
 */

/** A file to put in an extra layer. */
export interface TestFile {
  /** Path without leading slash (`etc/motd`). */
  path: string;
  content: string | Buffer;
  mode?: number;
  /** Owner in the tar header; default 0:0. */
  uid?: number;
  gid?: number;
}

/** An extra layer on top of the busybox base. */
export interface TestLayer {
  files?: TestFile[];
  /** Paths to delete from lower layers (written as `.wh.<name>`). */
  whiteouts?: string[];
  /** Directories whose lower contents are hidden (`.wh..wh..opq`). */
  opaqueDirs?: string[];
}

/** Options for buildBusyboxImage. */
export interface BusyboxImageOptions {
  entrypoint?: string[];
  cmd?: string[];
  user?: string;
  workingDir?: string;
  stopSignal?: string;
  labels?: Record<string, string>;
  env?: string[];
  volumes?: string[];
  exposedPorts?: string[];
  extraLayers?: TestLayer[];
  architecture?: string;
  variant?: string;
  /** Manifest/config/layer media types: OCI (default) or Docker schema 2. */
  format?: 'oci' | 'docker';
  /** Layer compression; default gzip. zstd needs the `zstd` program (apt-get install zstd). */
  compression?: 'gzip' | 'zstd' | 'none';
  /** Claim this media type for every layer (e.g. zstd, to test refusal). */
  layerMediaType?: string;
  busyboxPath?: string;
}

/** One built layer. */
export interface BuiltLayer {
  /** The blob as pushed (compressed unless compression = none). */
  bytes: Buffer;
  digest: string;
  diffId: string;
  mediaType: string;
}

/** A built single-platform image. */
export interface BuiltImage {
  manifest: Record<string, unknown>;
  manifestBytes: Buffer;
  manifestDigest: string;
  manifestMediaType: string;
  config: Record<string, unknown>;
  configBytes: Buffer;
  configDigest: string;
  layers: BuiltLayer[];
  platform: { os: string; architecture: string; variant?: string };
}

/** A built image index over several BuiltImages. */
export interface BuiltIndex {
  index: Record<string, unknown>;
  indexBytes: Buffer;
  indexDigest: string;
  mediaType: string;
  images: BuiltImage[];
}

/** Applets linked in the base layer (all exist in Debian's busybox-static). */
export const BUSYBOX_APPLETS: readonly string[] = [
  'sh', 'ash', 'ls', 'echo', 'cat', 'sleep', 'id', 'hostname', 'mkdir', 'ps', 'env', 'true', 'false', 'wc', 'head',
  'tail', 'grep', 'httpd', 'nc', 'ip', 'ping', 'stty', 'rm', 'cp', 'mv', 'ln', 'chmod', 'chown', 'touch', 'date',
  'kill', 'test', '[', 'sed', 'awk', 'tr', 'uname', 'whoami', 'mount', 'umount', 'df', 'du', 'find', 'xargs',
  'nslookup', 'wget', 'tee', 'sort', 'uniq', 'cut', 'pwd', 'printf', 'seq', 'stat', 'top', 'dd', 'which', 'yes',
  'readlink', 'basename', 'dirname', 'timeout', 'ifconfig', 'route', 'netstat', 'usleep', 'vi', 'tar',
  'gzip', 'sha256sum', 'md5sum', 'mkfifo', 'sync', 'nproc', 'free', 'uptime', 'more', 'less',
  'od', 'hexdump', 'realpath', 'setsid', 'tty', 'watch', 'xxd', 'base64', 'diff', 'expr', 'mktemp', 'rmdir', 'chroot',
  'nsenter', 'unshare', 'pidof', 'killall', 'logger', 'arp', 'traceroute', 'telnet', 'brctl',
];

const OCI = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  tar: 'application/vnd.oci.image.layer.v1.tar',
};
const DOCKER = {
  manifest: 'application/vnd.docker.distribution.manifest.v2+json',
  index: 'application/vnd.docker.distribution.manifest.list.v2+json',
  config: 'application/vnd.docker.container.image.v1+json',
  gzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  // Docker has no zstd layer type; images mixing the two use OCI's.
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  tar: 'application/vnd.docker.image.rootfs.diff.tar',
};
const EPOCH = new Date(0);
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `sha256:<hex>` of bytes. */
export function sha256(bytes: Buffer | string): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

type Entry = { name: string; type: 'file' | 'directory' | 'symlink'; mode: number; content?: Buffer; linkname?: string; uid?: number; gid?: number };

async function packTar(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const e of entries) {
    const header = { name: e.name, mode: e.mode, uid: e.uid ?? 0, gid: e.gid ?? 0, uname: e.uid ? '' : 'root', gname: e.gid ? '' : 'root', mtime: EPOCH, type: e.type };
    if (e.type === 'file') pack.entry({ ...header, size: e.content?.length ?? 0 }, e.content ?? Buffer.alloc(0));
    else if (e.type === 'symlink') pack.entry({ ...header, linkname: e.linkname ?? '' });
    else pack.entry(header);
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function baseEntries(busyboxPath: string): Promise<Entry[]> {
  let busybox: Buffer;
  try {
    busybox = await fs.readFile(busyboxPath);
  } catch (err) {
    throw new Error(`test images need ${busyboxPath} (apt-get install busybox-static)`, { cause: err });
  }
  const dir = (name: string, mode = 0o755): Entry => ({ name: `${name}/`, type: 'directory', mode });
  const file = (name: string, content: string | Buffer, mode = 0o644): Entry => ({ name, type: 'file', mode, content: Buffer.from(content) });
  return [
    dir('bin'),
    file('bin/busybox', busybox, 0o755),
    ...BUSYBOX_APPLETS.map((a): Entry => ({ name: `bin/${a}`, type: 'symlink', mode: 0o777, linkname: 'busybox' })),
    dir('dev'),
    dir('etc'),
    file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n'),
    file('etc/group', 'root:x:0:\nnobody:x:65534:\n'),
    dir('proc'),
    dir('root', 0o700),
    dir('sys'),
    dir('tmp', 0o1777),
    dir('usr'),
    dir('usr/bin'),
    dir('var'),
  ];
}

function layerEntries(layer: TestLayer): Entry[] {
  const entries: Entry[] = [];
  const dirs = new Set<string>();
  const parents = (p: string): void => {
    const parts = p.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ name: `${d}/`, type: 'directory', mode: d === 'tmp' ? 0o1777 : 0o755 });
      }
    }
  };
  const empty = (p: string): void => {
    parents(p);
    entries.push({ name: p, type: 'file', mode: 0o644, content: Buffer.alloc(0) });
  };
  for (const f of layer.files ?? []) {
    parents(f.path);
    entries.push({ name: f.path, type: 'file', mode: f.mode ?? 0o644, content: Buffer.from(f.content), uid: f.uid, gid: f.gid });
  }
  for (const w of layer.whiteouts ?? []) empty(path.posix.join(path.posix.dirname(w), `.wh.${path.posix.basename(w)}`));
  for (const d of layer.opaqueDirs ?? []) empty(`${d.replace(/\/$/, '')}/.wh..wh..opq`);
  return entries;
}

/** zstd-compresses with the zstd program (deterministic for the same input and level). */
export function zstdCompress(data: Buffer, level = 3): Buffer {
  try {
    return execFileSync('zstd', ['-q', '-c', `-${level}`], { input: data, maxBuffer: 1 << 30 });
  } catch (err) {
    throw new Error('zstd layers need the zstd program (apt-get install zstd)', { cause: err });
  }
}

const baseCache = new Map<string, Promise<Buffer>>();

/** The uncompressed base layer tar, built once per busybox path. */
function baseTar(busyboxPath: string): Promise<Buffer> {
  let p = baseCache.get(busyboxPath);
  if (!p) {
    p = baseEntries(busyboxPath).then(packTar);
    baseCache.set(busyboxPath, p);
    p.catch(() => baseCache.delete(busyboxPath));
  }
  return p;
}

function makeLayer(tar: Buffer, opts: BusyboxImageOptions): BuiltLayer {
  const types = opts.format === 'docker' ? DOCKER : OCI;
  // gzipSync writes mtime 0, no file name and a fixed OS byte: the same tar gives the same blob.
  const compression = opts.compression ?? 'gzip';
  const bytes = compression === 'none' ? tar : compression === 'zstd' ? zstdCompress(tar) : gzipSync(tar, { level: 6 });
  const mediaType = opts.layerMediaType ?? types[compression === 'none' ? 'tar' : compression];
  return { bytes, digest: sha256(bytes), diffId: sha256(tar), mediaType };
}

/** Builds the busybox image (plus any extra layers) with the given config. */
export async function buildBusyboxImage(opts: BusyboxImageOptions = {}): Promise<BuiltImage> {
  const types = opts.format === 'docker' ? DOCKER : OCI;
  const layers = [makeLayer(await baseTar(opts.busyboxPath ?? '/bin/busybox'), opts)];
  for (const extra of opts.extraLayers ?? []) layers.push(makeLayer(await packTar(layerEntries(extra)), opts));
  const platform = { os: 'linux', architecture: opts.architecture ?? 'amd64', ...(opts.variant ? { variant: opts.variant } : {}) };
  const containerConfig: Record<string, unknown> = { Env: opts.env ?? [PATH_ENV], Cmd: opts.cmd ?? ['sh'] };
  if (opts.entrypoint) containerConfig.Entrypoint = opts.entrypoint;
  if (opts.user) containerConfig.User = opts.user;
  if (opts.workingDir) containerConfig.WorkingDir = opts.workingDir;
  if (opts.stopSignal) containerConfig.StopSignal = opts.stopSignal;
  if (opts.labels) containerConfig.Labels = opts.labels;
  if (opts.volumes) containerConfig.Volumes = Object.fromEntries(opts.volumes.map((v) => [v, {}]));
  if (opts.exposedPorts) containerConfig.ExposedPorts = Object.fromEntries(opts.exposedPorts.map((p) => [p, {}]));
  const config: Record<string, unknown> = {
    ...platform,
    created: EPOCH.toISOString(),
    config: containerConfig,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: EPOCH.toISOString(), created_by: `crio-ts test layer ${i}` })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const manifest: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: types.config, digest: sha256(configBytes), size: configBytes.length },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.bytes.length })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    manifest,
    manifestBytes,
    manifestDigest: sha256(manifestBytes),
    manifestMediaType: types.manifest,
    config,
    configBytes,
    configDigest: sha256(configBytes),
    layers,
    platform,
  };
}

/** Builds an index (OCI, or a Docker manifest list) over images, using each image's platform. */
export function buildIndex(images: BuiltImage[], format: 'oci' | 'docker' = 'oci'): BuiltIndex {
  const mediaType = format === 'docker' ? DOCKER.index : OCI.index;
  const index: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType,
    manifests: images.map((img) => ({ mediaType: img.manifestMediaType, digest: img.manifestDigest, size: img.manifestBytes.length, platform: img.platform })),
  };
  const indexBytes = Buffer.from(JSON.stringify(index));
  return { index, indexBytes, indexDigest: sha256(indexBytes), mediaType, images };
}
