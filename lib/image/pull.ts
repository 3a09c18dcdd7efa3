import { pipeline } from 'node:stream';
import type { OpContext } from '../context';
import { CriError, FailedPreconditionError } from '../errors';
import type { ContentStore } from './content-store';
import { storeName, type ImageRecord, type ImageStore } from './image-store';
import type { BigDataItem } from '../storage/image-records';
import { LayerUnpacker } from './layer-unpack';
import type { LayerSink } from './layer-sink';
import { parseImageConfig, parseManifest, selectPlatform, type ImageConfig, type ImageManifest, type Platform } from './manifest';
import { resolvePullSources, resolveShortName, type PullSource } from './pull-sources';
import { formatReference, isImageId, type ImageReference } from './reference';
import type { RegistriesConf, ShortNameMode } from './registries-conf';
import { AuthFiles } from './auth-file';
import { PullProgress } from './pull-progress';
import { credentialKey, hasCredentials, type AuthConfig } from './registry-auth';
import type { FetchedManifest, RegistryClient } from './registry-client';
import { faultPoint } from '../fault-points';
import { NO_METRICS, pullFailureLabel, type MetricsRecorder } from '../metrics/recorder';

/**
 * PullImage end to end (CRI-O's pullImage over c/image's copy.Image): short-name candidates →
 * pull sources (mirrors first) → manifest (platform picked from an index) → config blob into
 * the content store → layers into the layer sink → image record, written last so a failed
 * pull leaves no image behind. Identical concurrent pulls share one promise.
 */

/** Dependencies of ImagePuller. */
export interface ImagePullerOptions {
  content: ContentStore;
  images: ImageStore;
  layerSink: LayerSink;
  client: RegistryClient;
  /** The current registries.conf (a function so a reload takes effect on the next pull). */
  registries: () => RegistriesConf;
  platform: Platform;
  /** CRI-O's `[crio.image] short_name_mode`, overriding registries.conf when set. */
  shortNameMode?: ShortNameMode;
  maxConcurrentDownloads?: number;
  /** auth.json lookup for registries the request's credentials do not apply to. */
  authFiles?: AuthFiles;
  /** Signature policy; checked before any blob is fetched. */
  trust?: ImageTrust;
  /** `pull_progress_timeout` in ms; 0 = never. */
  progressTimeoutMs?: number;
  /** How often a running pull logs its progress; 0 = never. */
  progressLogIntervalMs?: number;
  /** Pull metrics (successes, failures by error, bytes, reused layers). */
  metrics?: MetricsRecorder;
}

/** Per-pull options beyond the name and credentials. */
export interface PullOptions {
  /** The pod's namespace: selects `<signature_policy_dir>/<namespace>.json`. */
  namespace?: string;
  /** An auth.json used instead of the configured ones (CRI-O's `pause_image_auth_file`). */
  authFile?: string;
}

/** Decides whether an image may be used (policy.json); throws naming SignatureValidationFailed. */
export interface ImageTrust {
  check(image: TrustSubject, namespace: string | undefined, ctx: OpContext): Promise<void>;
  /** Whether a policy file is configured explicitly for this namespace (CreateContainer checks again only then). */
  configuredExplicitly?(namespace: string | undefined): Promise<boolean>;
}

/** What a trust policy judges: the logical name and the manifest the pull resolved. */
export interface TrustSubject {
  ref: ImageReference;
  source: PullSource;
  auth: AuthConfig | undefined;
  /** The manifest (instance) digest signatures are made over. */
  manifestDigest: string;
  /** The top-level digest (an index's) — signatures on it are accepted too. */
  topDigest: string;
  client: RegistryClient;
}

/** The manifest chosen for a reference and where it came from. */
interface ResolvedImage {
  source: PullSource;
  auth: AuthConfig | undefined;
  /** What the reference pointed at: the manifest, or the index it was picked from. */
  top: FetchedManifest;
  instance: FetchedManifest;
  manifest: ImageManifest;
}

/** Pulls images from registries into the local stores. */
export class ImagePuller {
  private readonly inFlight = new Map<string, Promise<ImageRecord>>();
  private readonly unpacker: LayerUnpacker;

  constructor(private readonly options: ImagePullerOptions) {
    this.unpacker = new LayerUnpacker({
      content: options.content,
      client: options.client,
      sink: options.layerSink,
      maxConcurrentDownloads: options.maxConcurrentDownloads,
      metrics: options.metrics,
    });
  }

  private get metrics(): MetricsRecorder {
    return this.options.metrics ?? NO_METRICS;
  }

  /** Pulls `refString`; callers asking for the same name with the same credentials and namespace share the result. */
  pull(refString: string, auth: AuthConfig | undefined, ctx: OpContext, opts: PullOptions = {}): Promise<ImageRecord> {
    // Credentials and namespace are part of the key (CRI-O's pullArguments): another pod's pull may be refused.
    const key = `${refString}\u0000${credentialKey(auth)}\u0000${opts.namespace ?? ''}\u0000${opts.authFile ?? ''}`;
    const running = this.inFlight.get(key);
    if (running) return running;
    const p = this.pullCandidates(refString, auth, ctx, opts).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async pullCandidates(refString: string, auth: AuthConfig | undefined, ctx: OpContext, opts: PullOptions): Promise<ImageRecord> {
    // An image ID (or sha256:ID) of a stored image "pulls" as itself; there is nothing to fetch.
    if (isImageId(refString)) {
      const present = await this.options.images.get(refString);
      if (present) return present;
    }
    const conf = this.options.registries();
    const candidates = resolveShortName(conf, refString, this.options.shortNameMode ?? conf.shortNameMode);
    let lastErr: unknown;
    for (const candidate of candidates) {
      try {
        const pulled = await this.pullOne(candidate, auth, conf, ctx, opts);
        this.metrics.imagePullSuccess();
        return pulled;
      } catch (err) {
        // Counted per candidate name, as CRI-O does.
        this.metrics.imagePullFailure(pullFailureLabel(err));
        if (ctx.signal.aborted || candidates.length === 1 || isSignatureError(err)) throw err;
        ctx.log.info('pull candidate failed', { image: formatReference(candidate), err: errorMessage(err) });
        lastErr = err;
      }
    }
    throw lastErr;
  }

  private async pullOne(ref: ImageReference, auth: AuthConfig | undefined, conf: RegistriesConf, outer: OpContext, opts: PullOptions): Promise<ImageRecord> {
    const started = Date.now();
    const name = formatReference(ref);
    const progress = new PullProgress({
      image: name,
      timeoutMs: this.options.progressTimeoutMs ?? 0,
      logIntervalMs: this.options.progressLogIntervalMs ?? 10_000,
      log: outer.log,
      metrics: this.options.metrics,
    });
    const ctx: OpContext = { log: outer.log, signal: AbortSignal.any([outer.signal, progress.signal]) };
    const sources = resolvePullSources(conf, ref);
    let registries = [...new Set(sources.map((s) => s.endpoint.host))];
    try {
      const authFiles = opts.authFile ? new AuthFiles({ globalAuthFile: opts.authFile }) : this.options.authFiles;
      const resolved = await this.resolveManifest(ref, sources, auth, authFiles, ctx, progress);
      registries = [resolved.source.endpoint.host];
      const { manifest } = resolved;
      // Trust is decided on the manifest alone, before any config or layer byte is fetched.
      await this.options.trust?.check(
        { ref, source: resolved.source, auth: resolved.auth, manifestDigest: resolved.instance.digest, topDigest: resolved.top.digest, client: this.options.client },
        opts.namespace,
        ctx,
      );
      const { config, bytes: configBytes } = await this.fetchConfig(resolved, name, ctx, progress);
      faultPoint('image-pull:config-stored');
      const unpacked = await this.unpacker.unpack(
        { name, source: resolved.source, auth: resolved.auth, layers: manifest.layers, diffIds: config.diffIds, progress },
        ctx,
      );
      // The big data c/image's storage destination stores: the config under its digest, the
      // top-level manifest when it is an index, the instance manifest under its digest and as "manifest".
      const manifestItems = (m: FetchedManifest): BigDataItem => ({ key: `manifest-${m.digest}`, data: Buffer.from(m.bytes), digest: m.digest });
      const bigData: BigDataItem[] = [
        { key: manifest.config.digest, data: configBytes },
        ...(resolved.top.digest !== resolved.instance.digest ? [manifestItems(resolved.top)] : []),
        manifestItems(resolved.instance),
        { key: 'manifest', data: Buffer.from(resolved.instance.bytes), digest: resolved.instance.digest },
        // c/image records the (here empty) signature list of the instance, and its size in the metadata.
        { key: `signature-${resolved.instance.digest.slice('sha256:'.length)}`, data: Buffer.alloc(0) },
      ];
      faultPoint('image-pull:layers-stored');
      const stored = await this.options.images.add({
        id: manifest.config.digest.slice('sha256:'.length),
        name: storeName(ref),
        topLayer: unpacked.layers[unpacked.layers.length - 1]?.layerId,
        created: configCreated(configBytes),
        metadata: JSON.stringify({ 'signatures-sizes': { [resolved.instance.digest]: [] } }),
        bigData,
      });
      faultPoint('image-pull:recorded');
      ctx.log.info('image pulled', {
        image: name,
        digest: resolved.top.digest,
        imageId: stored.id,
        registry: resolved.source.endpoint.host,
        bytes: progress.bytes,
        bytesPerSecond: progress.bytesPerSecond,
        layerBytes: unpacked.downloadedBytes,
        appliedLayers: unpacked.appliedLayers,
        durationMs: Date.now() - started,
      });
      return stored;
    } catch (err) {
      // A stall shows up as an abort somewhere below; report why.
      if (progress.signal.aborted && !outer.signal.aborted) throw progress.signal.reason;
      throw withPullContext(err, name, registries);
    } finally {
      progress.close();
    }
  }

  /** Tries each source in order (mirrors first); the first that serves the manifest wins. */
  private async resolveManifest(
    ref: ImageReference,
    sources: PullSource[],
    auth: AuthConfig | undefined,
    authFiles: AuthFiles | undefined,
    ctx: OpContext,
    progress: PullProgress,
  ): Promise<ResolvedImage> {
    let lastErr: unknown;
    for (const source of sources) {
      try {
        const sourceAuth = await credentialsFor(ref, source, auth, authFiles);
        const top = await this.options.client.getManifest(source, sourceAuth, ctx);
        progress.add(top.bytes.length);
        const parsed = parseManifest(top.bytes, top.contentType);
        let instance = top;
        let manifest: ImageManifest;
        if (parsed.kind === 'index') {
          const desc = selectPlatform(parsed.index, this.options.platform);
          instance = await this.options.client.getManifest({ ...source, reference: desc.digest }, sourceAuth, ctx);
          progress.add(instance.bytes.length);
          if (instance.bytes.length !== desc.size) {
            throw new FailedPreconditionError(`manifest ${desc.digest} of ${formatReference(ref)}: size ${instance.bytes.length}, index says ${desc.size}`);
          }
          const inner = parseManifest(instance.bytes, instance.contentType);
          if (inner.kind !== 'manifest') throw new FailedPreconditionError(`manifest ${desc.digest} of ${formatReference(ref)} is itself an index`);
          manifest = inner.manifest;
        } else {
          manifest = parsed.manifest;
        }
        if (source.mirror) ctx.log.info('pulling image from mirror', { image: formatReference(ref), registry: source.endpoint.host });
        return { source, auth: sourceAuth, top, instance, manifest };
      } catch (err) {
        if (ctx.signal.aborted) throw err;
        if (source.mirror) ctx.log.debug('mirror failed', { registry: source.endpoint.host, err: errorMessage(err) });
        lastErr = err;
      }
    }
    throw lastErr;
  }

  /** Fetches (unless present) and verifies the config blob, then parses it. */
  private async fetchConfig(resolved: ResolvedImage, name: string, ctx: OpContext, progress: PullProgress): Promise<{ config: ImageConfig; bytes: Buffer }> {
    const desc = resolved.manifest.config;
    const { content, client } = this.options;
    if (await content.has(desc.digest)) {
      this.metrics.imageLayerReused(`${name}@${desc.digest}`, desc.size);
    } else {
      const body = await client.getBlob(resolved.source, desc.digest, resolved.auth, ctx);
      const meter = progress.meter({ mediaType: desc.mediaType, size: desc.size, layer: false });
      pipeline(body, meter, () => undefined);
      await content.put({ digest: desc.digest, size: desc.size }, meter, ctx.signal);
    }
    const bytes = await content.read(desc.digest);
    return { config: parseImageConfig(bytes), bytes };
  }
}

/**
 * c/image: the request's credentials go only to the name's own registry domain; any other
 * host (a mirror, a `location` elsewhere) and requests without credentials use auth.json
 * entries for the host actually contacted.
 */
async function credentialsFor(ref: ImageReference, source: PullSource, auth: AuthConfig | undefined, authFiles: AuthFiles | undefined): Promise<AuthConfig | undefined> {
  if (hasCredentials(auth) && source.endpoint.host === ref.domain) return auth;
  return authFiles?.lookup(`${source.endpoint.host}/${source.repository}`);
}

/**
 * The error of a failed pull, saying which image and which registry: "pulling image X from
 * registry Y: <reason>", the same class (so the same gRPC code). Cancellations stay as they are,
 * and so do signature rejections: the kubelet reads their leading SignatureValidationFailed.
 */
function withPullContext(err: unknown, image: string, registries: string[]): unknown {
  if (!(err instanceof CriError) || isSignatureError(err)) return err;
  const where = registries.length === 1 ? `registry ${registries[0]}` : `registries ${registries.join(', ')}`;
  const Class = err.constructor as new (message: string, options?: { cause?: unknown }) => CriError;
  return new Class(`pulling image ${image} from ${where}: ${err.message}`, { cause: err });
}

/** Signature rejections are final: another candidate name must not be tried instead (c/image). */
function isSignatureError(err: unknown): boolean {
  return err instanceof Error && err.message.includes('SignatureValidationFailed');
}

/** The config's `created` date, which c/image records as the image's creation time. */
function configCreated(config: Buffer): Date | undefined {
  try {
    const created = (JSON.parse(config.toString('utf8')) as { created?: unknown }).created;
    const t = typeof created === 'string' ? Date.parse(created) : NaN;
    return Number.isNaN(t) ? undefined : new Date(t);
  } catch {
    return undefined;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
