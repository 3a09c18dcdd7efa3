import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import * as tarStream from 'tar-stream';
import type { OpContext } from '../../lib/context';
import { ImageService, type ImageServiceOptions } from '../../lib/image/image-service';
import type { ApplyLayerParams, LayerSink } from '../../lib/image/layer-sink';
import type { LogFields, Logger } from '../../lib/log';

/**
 * Shared pieces of the image integration tests: an in-memory layer sink that reads each layer
 * tar with tar-stream (nothing unpacked to disk), a logger that keeps every line (to look for
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

/** Lists the entries of each layer, commits only after a clean end. */
export class TestSink implements LayerSink {
  readonly layers = new Map<string, { parentChainId: string | undefined; diffId: string; entries: string[] }>();
  readonly applied: string[] = [];
  readonly removed: string[] = [];

  async hasLayer(chainId: string): Promise<boolean> {
    return this.layers.has(chainId);
  }

  async applyLayer(p: ApplyLayerParams, _ctx: OpContext): Promise<void> {
    this.applied.push(p.chainId);
    if (p.parentChainId !== undefined && !this.layers.has(p.parentChainId)) throw new Error(`parent ${p.parentChainId} not applied`);
    const entries: string[] = [];
    const extract = tarStream.extract();
    extract.on('entry', (header, stream, next) => {
      entries.push(header.name);
      stream.on('end', () => next());
      // A cancelled apply destroys the entry mid-way; the pipeline below reports that error.
      stream.on('error', () => undefined);
      stream.resume();
    });
    await pipeline(p.tar, extract);
    this.layers.set(p.chainId, { parentChainId: p.parentChainId, diffId: p.diffId, entries });
  }

  async removeLayer(chainId: string): Promise<void> {
    if ([...this.layers.values()].some((l) => l.parentChainId === chainId)) throw new Error(`layer ${chainId} has children`);
    this.layers.delete(chainId);
    this.removed.push(chainId);
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
  sink?: TestSink;
}

/** An initialised ImageService in a fresh subdirectory of `dir`, amd64, with its sink. */
export async function newImageService(dir: string, log: Logger, opts: NewServiceOptions): Promise<{ svc: ImageService; sink: TestSink; root: string }> {
  const root = await fs.mkdtemp(path.join(dir, 'svc-'));
  const confFile = path.join(root, 'registries.conf');
  await fs.writeFile(confFile, opts.registriesConf);
  const sink = opts.sink ?? new TestSink();
  const { registriesConf: _r, sink: _s, ...rest } = opts;
  const svc = new ImageService({
    root: path.join(root, 'images'),
    registriesConfFile: confFile,
    layerSink: sink,
    platform: { os: 'linux', architecture: 'amd64' },
    shortNameAliasesFile: path.join(root, 'short-name-aliases.conf'),
    // Never read the machine's auth files.
    authFileLocations: { env: { XDG_RUNTIME_DIR: path.join(root, 'run') }, home: path.join(root, 'home'), uid: 0 },
    log,
    ...rest,
  });
  await svc.init();
  return { svc, sink, root };
}

/** `sha256:hex` → hex. */
export const hex = (digest: string): string => digest.replace(/^sha256:/, '');
