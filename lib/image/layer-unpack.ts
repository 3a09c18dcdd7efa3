import { setMaxListeners } from 'node:events';
import { createReadStream } from 'node:fs';
import { pipeline, type Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { OpContext } from '../context';
import { errnoCode, FailedPreconditionError, InternalError, UnimplementedError } from '../errors';
import type { ContentStore, StagedBlob } from './content-store';
import { decompressorFor, detectCompression, peek } from '../storage/decompress';
import { DigestVerifier } from '../storage/digest-stream';
import type { LayerRecord } from './image-store';
import type { LayerSink } from './layer-sink';
import type { MetricsRecorder } from '../metrics/recorder';
import { Slots } from './limiter';
import { chainIds, type Descriptor } from './manifest';
import { layerIdsOf } from '../storage/store-records';
import { layerCompression } from './media-types';
import type { PullProgress } from './pull-progress';
import type { PullSource } from './pull-sources';
import type { AuthConfig } from './registry-auth';
import type { RegistryClient } from './registry-client';

/**
 * Gets an image's layers into the layer sink, committed strictly bottom-up. Each layer streams
 * through digest check → decompress → DiffID check → sink; a sink that `decompresses` (the layer
 * store: on its unpack workers, beside the tar work) takes the blob right after the digest check
 * and does the other two itself. A sink with `concurrentApply` (the layer store) gets every
 * layer straight from the registry, several side by side, and commits each once its parent
 * is. For other sinks the layer whose parent is in place streams from the
 * registry while the layers above download in parallel into the content store's ingest dir
 * (verified against their compressed digest and size), to be applied from there as soon as
 * their parent is — c/image's storage destination does the same.
 */

/** The layers of one image and where to fetch them. */
export interface UnpackRequest {
  /** The logical reference, for messages. */
  name: string;
  source: PullSource;
  auth: AuthConfig | undefined;
  layers: readonly Descriptor[];
  diffIds: readonly string[];
  /** Counts downloaded bytes (and cancels on a stall). */
  progress?: PullProgress;
}

/** What unpack() did. */
export interface UnpackResult {
  layers: LayerRecord[];
  /** Compressed bytes of the layers this pull applied (0 when every layer was already there). */
  downloadedBytes: number;
  appliedLayers: number;
}

/** Dependencies of LayerUnpacker. */
export interface LayerUnpackerOptions {
  content: ContentStore;
  client: RegistryClient;
  sink: LayerSink;
  /** Layer downloads in flight per pull, the streamed one included (c/image: 6). */
  maxConcurrentDownloads?: number;
  /** Counts layers found present (image_layer_reuse_total, image_pulls_skipped_bytes_total). */
  metrics?: MetricsRecorder;
}

type LayerParams = { layerId: string; parentLayerId: string | undefined; diffId: string; compressedDigest: string; compressedSize: number; parentApplied?: Promise<unknown> };

/** c/storage's archive.Compression numbers, recorded with each layer. */
const COMPRESSION_CODE: Record<string, number> = { none: 0, gzip: 2, zstd: 4 };

/** Layers downloaded (and, into the layer store, unpacked) at once per pull: c/image's default. */
const DEFAULT_PARALLEL_DOWNLOADS = 6;

/** Staged blobs are read back in big chunks: fewer reads and fewer trips through the stream stages. */
const STAGED_READ_CHUNK = 1 << 20;

/** Downloads, verifies and applies layers; one per daemon so concurrent pulls share layer locks. */
export class LayerUnpacker {
  /** layer ID → an apply in progress, so two pulls never unpack the same layer at once. */
  private readonly applying = new Map<string, Promise<void>>();

  constructor(private readonly options: LayerUnpackerOptions) {}

  /** Makes every layer of the image present in the sink. */
  async unpack(req: UnpackRequest, ctx: OpContext): Promise<UnpackResult> {
    const { layers, diffIds, name } = req;
    if (diffIds.length !== layers.length) {
      throw new FailedPreconditionError(`image ${name}: config lists ${diffIds.length} diff_ids but the manifest has ${layers.length} layers`);
    }
    layers.forEach((l, i) => checkSupported(l, i, name));
    // Storage layer IDs as containers/image gives them, so podman finds (and reuses) our layers.
    const chain = layerIdsOf(diffIds);
    const ociChain = chainIds(diffIds);
    const records: LayerRecord[] = layers.map((l, i) => ({ diffId: diffIds[i] ?? '', chainId: ociChain[i] ?? '', layerId: chain[i] ?? '', digest: l.digest, size: l.size, mediaType: l.mediaType }));
    const present = await Promise.all(chain.map((c) => this.options.sink.hasLayer(c)));
    const missing = layers.map((_, i) => i).filter((i) => !present[i]);
    // As c/image reports them to CRI-O: a blob already here is "skipped", named <image>@<digest>.
    layers.forEach((l, i) => present[i] && this.options.metrics?.imageLayerReused(`${name}@${l.digest}`, l.size));

    // A failed download aborts the others and the apply in progress; the first error is reported.
    const abort = new AbortController();
    let firstError: unknown;
    const fail = (err: unknown): void => {
      firstError ??= err;
      abort.abort(err);
    };
    const inner: OpContext = { log: ctx.log, signal: AbortSignal.any([ctx.signal, abort.signal]) };
    // Each layer in flight listens on it a few times (request, decompression, unpack); not a leak.
    setMaxListeners(10 + 4 * layers.length, inner.signal);
    const max = Math.max(1, this.options.maxConcurrentDownloads ?? DEFAULT_PARALLEL_DOWNLOADS);
    if (this.options.sink.concurrentApply) {
      const applied = await this.applySideBySide(req, missing, chain, max, inner, fail);
      abort.abort(); // nothing runs any more; frees the signal's listeners
      if (firstError !== undefined) throw firstError;
      const done = missing.filter((_, k) => applied[k]);
      if (done.length > 0) await this.options.sink.flush?.();
      return { layers: records, downloadedBytes: done.reduce((n, i) => n + (layers[i]?.size ?? 0), 0), appliedLayers: done.length };
    }
    const staging = new Map<number, Promise<StagedBlob>>();
    let cursor = missing[0] ?? 0;
    let active = 0;
    // Starts background downloads for layers above the one being applied while slots are free.
    const pump = (): void => {
      for (const i of missing) {
        if (active >= max || inner.signal.aborted) return;
        if (i <= cursor || staging.has(i)) continue;
        active++;
        const p = this.download(req, layers[i] as Descriptor, inner).finally(() => {
          active--;
          pump();
        });
        p.catch(fail);
        staging.set(i, p);
      }
    };

    let appliedLayers = 0;
    let downloadedBytes = 0;
    try {
      for (const i of missing) {
        const layer = layers[i] as Descriptor;
        const params: LayerParams = { layerId: chain[i] ?? '', parentLayerId: chain[i - 1], diffId: diffIds[i] ?? '', compressedDigest: layer.digest, compressedSize: layer.size };
        cursor = i;
        const staged = staging.get(i);
        let applied: boolean;
        if (staged) {
          pump();
          applied = await this.applyOnce(params.layerId, async () => {
            const blob = await staged;
            await this.applyStream(createReadStream(blob.path, { highWaterMark: STAGED_READ_CHUNK }), layer, i, params, req, inner);
          });
        } else {
          active++;
          pump();
          try {
            applied = await this.applyOnce(params.layerId, async () => {
              const body = await this.openBlob(req, layer, inner);
              await this.applyStream(body, layer, i, params, req, inner);
            });
          } finally {
            active--;
          }
        }
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
      for (const r of await Promise.allSettled(staging.values())) {
        if (r.status === 'fulfilled') await r.value.remove();
      }
    }
    if (appliedLayers > 0) await this.options.sink.flush?.();
    return { layers: records, downloadedBytes, appliedLayers };
  }

  /**
   * Streams every missing layer straight into the sink, `max` at a time in bottom-up order;
   * each gets its parent's apply as `parentApplied`. A layer frees its slot once its tar was
   * read to the end, so layers waiting for their parent's commit do not hold up downloads.
   * Returns, per missing layer, whether this pull applied it; failures go to `fail`.
   */
  private async applySideBySide(req: UnpackRequest, missing: number[], chain: string[], max: number, ctx: OpContext, fail: (err: unknown) => void): Promise<boolean[]> {
    const slots = new Slots(max);
    const runs = new Map<number, Promise<boolean>>();
    try {
      for (const i of missing) {
        const release = await slots.acquire(ctx.signal);
        const layer = req.layers[i] as Descriptor;
        const parentApplied = runs.get(i - 1);
        const params: LayerParams = {
          layerId: chain[i] ?? '',
          parentLayerId: chain[i - 1],
          diffId: req.diffIds[i] ?? '',
          compressedDigest: layer.digest,
          compressedSize: layer.size,
          ...(parentApplied ? { parentApplied } : {}),
        };
        const run = this.applyOnce(params.layerId, async () => {
          const body = await this.openBlob(req, layer, ctx);
          await this.applyStream(body, layer, i, params, req, ctx, release);
        }).finally(release);
        run.catch(fail);
        runs.set(i, run);
      }
    } catch (err) {
      fail(err); // only an aborted wait for a slot: the reason is already recorded
    }
    // Everything started must have stopped before the pull reports back.
    return (await Promise.allSettled(runs.values())).map((r) => r.status === 'fulfilled' && r.value);
  }

  /** The blob's bytes as they arrive, counted, and failing at EOF unless size and digest match. */
  private async openBlob(req: UnpackRequest, layer: Descriptor, ctx: OpContext): Promise<Readable> {
    const body = await this.options.client.getBlob(req.source, layer.digest, req.auth, ctx);
    const verifier = new DigestVerifier({ digest: layer.digest, size: layer.size }, `blob ${layer.digest} of ${req.name}`);
    // Errors anywhere upstream destroy `verifier`, which is what the next stage reads (and
    // reports); once the first pipeline is done nobody else listens for its errors.
    verifier.on('error', () => undefined);
    if (req.progress) pipeline(body, req.progress.meter({ mediaType: layer.mediaType, size: layer.size, layer: true }), verifier, () => undefined);
    else pipeline(body, verifier, () => undefined);
    return verifier;
  }

  private async download(req: UnpackRequest, layer: Descriptor, ctx: OpContext): Promise<StagedBlob> {
    const body = await this.options.client.getBlob(req.source, layer.digest, req.auth, ctx);
    let input: Readable = body;
    if (req.progress) {
      const meter = req.progress.meter({ mediaType: layer.mediaType, size: layer.size, layer: true });
      pipeline(body, meter, () => undefined);
      input = meter;
    }
    return this.options.content.stage({ digest: layer.digest, size: layer.size }, input, ctx.signal);
  }

  /** Runs `fn` unless the layer is (or, after waiting for another pull, becomes) present. */
  private async applyOnce(layerId: string, fn: () => Promise<void>): Promise<boolean> {
    for (let running = this.applying.get(layerId); running; running = this.applying.get(layerId)) await running;
    const work = (async (): Promise<boolean> => {
      if (await this.options.sink.hasLayer(layerId)) return false;
      await fn();
      return true;
    })();
    // Waiters only need to know it settled; the outcome goes to our caller.
    const marker = work.then(
      () => undefined,
      () => undefined,
    );
    this.applying.set(layerId, marker);
    try {
      return await work;
    } finally {
      if (this.applying.get(layerId) === marker) this.applying.delete(layerId);
    }
  }

  /** Decompresses `input` (compression judged by magic bytes) into the sink, checking the DiffID at EOF. */
  private async applyStream(input: Readable, layer: Descriptor, index: number, params: LayerParams, req: UnpackRequest, ctx: OpContext, onRead?: () => void): Promise<void> {
    const what = `layer ${index} (${layer.digest}) of ${req.name}`;
    let kind;
    try {
      kind = detectCompression(await peek(input, 6), `${what} (media type "${layer.mediaType}")`);
    } catch (err) {
      input.destroy();
      throw err;
    }
    const compression = COMPRESSION_CODE[kind];
    if (this.options.sink.decompresses) {
      // The store decompresses on its unpack workers and checks the DiffID there.
      if (onRead) input.once('end', onRead);
      await this.applyUntilAborted(input, ctx, () => this.options.sink.applyLayer({ ...params, compression, tar: input, decode: { compression: kind, what } }, ctx));
      if (!input.readableEnded && !(await this.options.sink.hasLayer(params.layerId))) {
        throw new InternalError(`layer sink neither read nor stored layer ${params.layerId} of ${req.name}`);
      }
    } else {
      const verifier = new DigestVerifier({ digest: params.diffId }, `${what}: uncompressed content does not match the config's diff_id`);
      pipeline(input, decompressorFor(kind, what), verifier, () => undefined);
      if (onRead) verifier.once('end', onRead);
      try {
        await this.applyUntilAborted(verifier, ctx, () => this.options.sink.applyLayer({ ...params, compression, tar: verifier }, ctx));
      } catch (err) {
        // zlib notices a corrupt stream before the digest check at EOF can; say which blob it was.
        if (/^Z_/.test(errnoCode(err) ?? '')) throw new FailedPreconditionError(`${what}: corrupt gzip data: ${(err as Error).message}`, { cause: err });
        throw err;
      }
      if (!verifier.verified) {
        if (verifier.destroyed) {
          // The sink dropped the stream unread because the layer appeared meanwhile (idempotent apply).
          if (await this.options.sink.hasLayer(params.layerId)) return;
          throw new InternalError(`layer sink neither read nor stored layer ${params.layerId} of ${req.name}`);
        }
        // The sink returned without reading to EOF: read the rest so the DiffID is still checked.
        verifier.resume();
        await finished(verifier);
      }
    }
    ctx.log.debug('layer applied', { digest: layer.digest, layerId: params.layerId, compression: kind });
  }

  /** Runs the sink's apply with cancellation reaching it as an error of `stream`, only while it runs. */
  private async applyUntilAborted(stream: Readable, ctx: OpContext, apply: () => Promise<void>): Promise<void> {
    const onAbort = (): void => {
      stream.destroy(ctx.signal.reason instanceof Error ? ctx.signal.reason : new Error('layer apply cancelled'));
    };
    if (ctx.signal.aborted) onAbort();
    ctx.signal.addEventListener('abort', onAbort);
    try {
      await apply();
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }
}

/** Refuses layers we cannot unpack before anything is downloaded. */
function checkSupported(layer: Descriptor, index: number, name: string): void {
  if (layerCompression(layer.mediaType) === 'unknown') {
    throw new UnimplementedError(`layer ${index} of ${name} has media type "${layer.mediaType}", which is not supported (gzip, zstd or uncompressed tar only)`);
  }
}
