import { createReadStream, promises as fs } from 'node:fs';
import { addAbortSignal, pipeline } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { OpContext } from '../context';
import { FailedPreconditionError, InternalError, UnimplementedError } from '../errors';
import type { ContentStore, StagedBlob } from './content-store';
import { DigestVerifier } from './digest-stream';
import type { LayerRecord } from './image-store';
import type { LayerSink } from './layer-sink';
import { createLimiter } from './limiter';
import { chainIds, type Descriptor } from './manifest';
import { layerCompression } from './media-types';
import type { PullSource } from './pull-sources';
import type { AuthConfig } from './registry-auth';
import type { RegistryClient } from './registry-client';

/**
 * Gets an image's layers into the layer sink: layers the sink lacks are downloaded in parallel
 * (each verified against its compressed digest and size while it is staged in the content
 * store's ingest dir), then decompressed and applied strictly bottom-up, with the DiffID of
 * the uncompressed stream checked against the config at EOF.
 */

/** The layers of one image and where to fetch them. */
export interface UnpackRequest {
  /** The logical reference, for messages. */
  name: string;
  source: PullSource;
  auth: AuthConfig | undefined;
  layers: readonly Descriptor[];
  diffIds: readonly string[];
}

/** What unpack() did. */
export interface UnpackResult {
  layers: LayerRecord[];
  /** Compressed bytes downloaded (0 when every layer was already there). */
  downloadedBytes: number;
  appliedLayers: number;
}

/** Dependencies of LayerUnpacker. */
export interface LayerUnpackerOptions {
  content: ContentStore;
  client: RegistryClient;
  sink: LayerSink;
  maxConcurrentDownloads?: number;
}

type Compression = 'gzip' | 'none';

/** Downloads, verifies and applies layers; one per daemon so concurrent pulls share layer locks. */
export class LayerUnpacker {
  /** chainId → an apply in progress, so two pulls never unpack the same layer at once. */
  private readonly applying = new Map<string, Promise<void>>();

  constructor(private readonly options: LayerUnpackerOptions) {}

  /** Makes every layer of the image present in the sink. */
  async unpack(req: UnpackRequest, ctx: OpContext): Promise<UnpackResult> {
    const { layers, diffIds, name } = req;
    if (diffIds.length !== layers.length) {
      throw new FailedPreconditionError(`image ${name}: config lists ${diffIds.length} diff_ids but the manifest has ${layers.length} layers`);
    }
    layers.forEach((l, i) => checkSupported(l, i, name));
    const chain = chainIds(diffIds);
    const records: LayerRecord[] = layers.map((l, i) => ({ diffId: diffIds[i] ?? '', chainId: chain[i] ?? '', digest: l.digest, size: l.size, mediaType: l.mediaType }));
    const present = await Promise.all(chain.map((c) => this.options.sink.hasLayer(c)));

    // A failed download aborts the others and the apply in progress; the first error is reported.
    const abort = new AbortController();
    let firstError: unknown;
    const fail = (err: unknown): void => {
      firstError ??= err;
      abort.abort(err);
    };
    const inner: OpContext = { log: ctx.log, signal: AbortSignal.any([ctx.signal, abort.signal]) };
    const limit = createLimiter(this.options.maxConcurrentDownloads ?? 3);
    const downloads = layers.map((layer, i) =>
      present[i] ? undefined : limit(() => this.download(req, layer, inner)),
    );
    downloads.forEach((d) => d?.catch(fail));

    let appliedLayers = 0;
    let downloadedBytes = 0;
    try {
      for (const [i, layer] of layers.entries()) {
        const download = downloads[i];
        if (!download) continue;
        const params = { chainId: chain[i] ?? '', parentChainId: chain[i - 1], diffId: diffIds[i] ?? '' };
        const applied = await this.applyOnce(params.chainId, async () => {
          const staged = await download;
          await this.apply(staged, layer, i, params, req, inner);
          await staged.remove();
        });
        if (applied) {
          appliedLayers++;
          downloadedBytes += layer.size;
        }
      }
    } catch (err) {
      fail(err);
      throw firstError;
    } finally {
      abort.abort(); // stops downloads of layers another pull applied meanwhile
      for (const r of await Promise.allSettled(downloads.map((d) => d ?? Promise.resolve(undefined)))) {
        if (r.status === 'fulfilled' && r.value) await r.value.remove();
      }
    }
    return { layers: records, downloadedBytes, appliedLayers };
  }

  private async download(req: UnpackRequest, layer: Descriptor, ctx: OpContext): Promise<StagedBlob> {
    const body = await this.options.client.getBlob(req.source, layer.digest, req.auth, ctx);
    return this.options.content.stage({ digest: layer.digest, size: layer.size }, body, ctx.signal);
  }

  /** Runs `fn` unless the layer is (or, after waiting for another pull, becomes) present. */
  private async applyOnce(chainId: string, fn: () => Promise<void>): Promise<boolean> {
    for (let running = this.applying.get(chainId); running; running = this.applying.get(chainId)) await running;
    const work = (async (): Promise<boolean> => {
      if (await this.options.sink.hasLayer(chainId)) return false;
      await fn();
      return true;
    })();
    // Waiters only need to know it settled; the outcome goes to our caller.
    const marker = work.then(
      () => undefined,
      () => undefined,
    );
    this.applying.set(chainId, marker);
    try {
      return await work;
    } finally {
      if (this.applying.get(chainId) === marker) this.applying.delete(chainId);
    }
  }

  private async apply(
    staged: StagedBlob,
    layer: Descriptor,
    index: number,
    params: { chainId: string; parentChainId: string | undefined; diffId: string },
    req: UnpackRequest,
    ctx: OpContext,
  ): Promise<void> {
    const compression = await sniffCompression(staged.path, layer, index, req.name);
    const verifier = new DigestVerifier({ digest: params.diffId }, `layer ${index} (${layer.digest}) of ${req.name}: uncompressed content does not match the config's diff_id`);
    addAbortSignal(ctx.signal, verifier);
    // Errors anywhere in the chain destroy `verifier`, which is what the sink reads.
    const file = createReadStream(staged.path);
    if (compression === 'gzip') pipeline(file, createGunzip(), verifier, () => undefined);
    else pipeline(file, verifier, () => undefined);
    await this.options.sink.applyLayer({ ...params, tar: verifier }, ctx);
    if (!verifier.verified) {
      if (verifier.destroyed) {
        // The sink dropped the stream unread because the layer appeared meanwhile (idempotent apply).
        if (await this.options.sink.hasLayer(params.chainId)) return;
        throw new InternalError(`layer sink neither read nor stored layer ${params.chainId} of ${req.name}`);
      }
      // The sink returned without reading to EOF: read the rest so the DiffID is still checked.
      verifier.resume();
      await finished(verifier);
    }
    ctx.log.debug('layer applied', { digest: layer.digest, chainId: params.chainId });
  }
}

/** Refuses layers we cannot unpack before anything is downloaded. */
function checkSupported(layer: Descriptor, index: number, name: string): void {
  const c = layerCompression(layer.mediaType);
  if (c === 'zstd' || c === 'unknown') {
    throw new UnimplementedError(`layer ${index} of ${name} has media type "${layer.mediaType}", which is not supported (gzip or uncompressed tar only)`);
  }
}

/** Judges the compression by magic bytes, as c/image does; the media type may be wrong. */
async function sniffCompression(file: string, layer: Descriptor, index: number, name: string): Promise<Compression> {
  const fh = await fs.open(file, 'r');
  const head = Buffer.alloc(6);
  try {
    await fh.read(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  const kinds: [string, number[]][] = [
    ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
    ['bzip2', [0x42, 0x5a, 0x68]],
    ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ];
  for (const [kind, magic] of kinds) {
    if (magic.every((b, i) => head[i] === b)) {
      throw new UnimplementedError(`layer ${index} (${layer.digest}) of ${name} is ${kind}-compressed (media type "${layer.mediaType}"), which is not supported`);
    }
  }
  return 'none';
}
