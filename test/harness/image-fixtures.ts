import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tarStream from 'tar-stream';
import type { OpContext } from '../../lib/context';
import { Readable } from 'node:stream';
import { ImageService, type ImageServiceOptions, type ImageStorage } from '../../lib/image/image-service';
import { ContainerRecords } from '../../lib/storage/container-records';
import { ImageRecords } from '../../lib/storage/image-records';
import { LayerStore } from '../../lib/storage/layer-store';
import type { ApplyLayerParams, LayerSink } from '../../lib/image/layer-sink';
import type { LogFields, Logger } from '../../lib/log';

/**
 * Shared pieces of the image integration tests: a layer sink that lists each layer tar's entries
 * with tar-stream before a real layer store takes it, a logger that keeps every line (to look for
 * events and leaked secrets), ImageService construction in a temp dir, and skip reasons for
 * missing system packages. No top-level side effects.
 */

/** Why a registry test cannot run here, or false. */
export function registrySkipReason(): string | false {
  if (!existsSync('/usr/bin/docker-registry')) return 'docker-registry missing (apt-get install docker-registry)';
  if (!existsSync('/bin/busybox')) return 'busybox missing (apt-get install busybox-static)';
  return false;
}

/** True when a program is on the usual paths. */
export function haveProgram(name: string): boolean {
  return ['/usr/bin', '/usr/sbin', '/bin', '/sbin', '/usr/local/bin'].some((d) => existsSync(path.join(d, name)));
}

/**
 * Records what the puller hands over (layer IDs, parents, each layer's entry names) and passes
 * the layer on to a real layer store, so the images the service records have their layers.
 */
export class TestSink implements LayerSink {
  readonly layers = new Map<string, { parentLayerId: string | undefined; diffId: string; entries: string[] }>();
  readonly applied: string[] = [];
  readonly removed: string[] = [];

  constructor(readonly store: LayerStore) {}

  async hasLayer(layerId: string): Promise<boolean> {
    return this.store.hasLayer(layerId);
  }

  async applyLayer(p: ApplyLayerParams, ctx: OpContext): Promise<void> {
    this.applied.push(p.layerId);
    if (p.parentLayerId !== undefined && !(await this.store.hasLayer(p.parentLayerId))) throw new Error(`parent ${p.parentLayerId} not applied`);
    // Test layers are small: the whole tar is read (its digest check fails the read) and listed.
    const chunks: Buffer[] = [];
    for await (const c of p.tar) chunks.push(Buffer.from(c as Uint8Array));
    const tar = Buffer.concat(chunks);
    const entries: string[] = [];
    const extract = tarStream.extract();
    extract.on('entry', (header, stream, next) => {
      entries.push(header.name);
      stream.on('end', () => next());
      stream.resume();
    });
    await pipeline(Readable.from([tar]), extract);
    await this.store.applyLayer({ ...p, tar: Readable.from([tar]) }, ctx);
    this.layers.set(p.layerId, { parentLayerId: p.parentLayerId, diffId: p.diffId, entries });
  }

  async removeLayer(layerId: string): Promise<void> {
    await this.store.removeLayer(layerId);
    this.removed.push(layerId);
  }
}

/** A captured log line. */
export interface LogLine {
  level: string;
  message: string;
  fields: LogFields;
}

/** A logger that appends every line to `lines`. */
export function captureLogger(lines: LogLine[]): Logger {
  const at =
    (level: string) =>
    (message: string, fields: LogFields = {}): void => {
      lines.push({ level, message, fields });
    };
  const l: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => l };
  return l;
}

/** A context with a logger capturing into `lines` and no deadline. */
export function testContext(lines: LogLine[]): OpContext {
  return { log: captureLogger(lines), signal: new AbortController().signal };
}

/** A port nothing listens on (just released). */
export function unusedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** Options for newImageService beyond ImageServiceOptions. */
export interface NewServiceOptions extends Partial<ImageServiceOptions> {
  /** registries.conf text (written to `<dir>/registries.conf`). */
  registriesConf: string;
  /** Layers go straight into the store (side-by-side unpacking), no TestSink in between. */
  direct?: boolean;
}

/** A store (graph root and run root) in a fresh subdirectory of `dir`. */
export async function newStorage(dir: string, log: Logger): Promise<ImageStorage & { graphRoot: string }> {
  const graphRoot = await fs.mkdtemp(path.join(dir, 'store-'));
  const layers = new LayerStore({ graphRoot, log });
  await layers.init();
  const images = new ImageRecords(graphRoot, log);
  await images.init();
  const containers = new ContainerRecords(graphRoot, path.join(graphRoot, 'run'));
  await containers.init();
  return { graphRoot, layers, images, containers };
}

/** An initialised ImageService on a fresh store in a subdirectory of `dir`, amd64, with its sink. */
export async function newImageService(dir: string, log: Logger, opts: NewServiceOptions): Promise<{ svc: ImageService; sink: TestSink; root: string; storage: ImageStorage }> {
  const root = await fs.mkdtemp(path.join(dir, 'svc-'));
  const confFile = path.join(root, 'registries.conf');
  await fs.writeFile(confFile, opts.registriesConf);
  const storage = opts.storage ?? (await newStorage(root, log));
  const sink = new TestSink(storage.layers);
  const { registriesConf: _r, direct, ...rest } = opts;
  const svc = new ImageService({
    root: path.join(root, 'images'),
    registriesConfFile: confFile,
    storage,
    layerSink: direct ? storage.layers : sink,
    platform: { os: 'linux', architecture: 'amd64' },
    shortNameAliasesFile: path.join(root, 'short-name-aliases.conf'),
    // Never read the machine's auth files.
    authFileLocations: { env: { XDG_RUNTIME_DIR: path.join(root, 'run') }, home: path.join(root, 'home'), uid: 0 },
    log,
    ...rest,
  });
  await svc.init();
  return { svc, sink, root, storage };
}

/** `sha256:hex` → hex. */
export const hex = (digest: string): string => digest.replace(/^sha256:/, '');
