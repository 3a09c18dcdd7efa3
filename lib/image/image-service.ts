import path from 'node:path';
import type { OpContext } from '../context';
import { FailedPreconditionError, InternalError, InvalidArgumentError, NotFoundError } from '../errors';
import type { Logger } from '../log';
import { AuthFiles, type AuthFileLocations } from './auth-file';
import { ContentStore } from './content-store';
import { diskUsage, type DiskUsage } from '../storage/disk-usage';
import { resolveImageId } from './image-id';
import { ImageStore, type ImageRecord } from './image-store';
import type { LayerSink } from './layer-sink';
import type { MetricsRecorder } from '../metrics/recorder';
import { hostPlatform, type Platform } from './manifest';
import { ImagePuller, type ImageTrust, type PullOptions } from './pull';
import { SIGNATURE_VALIDATION_FAILED } from './image-trust';
import { resolvePullSources, resolveShortName } from './pull-sources';
import { formatReference, isShortName, repositoryName } from './reference';
import { DEFAULT_SHORT_NAME_ALIASES_FILE, loadRegistriesConf, loadShortNameAliasCache, type RegistriesConf, type ShortNameMode } from './registries-conf';
import type { AuthConfig } from './registry-auth';
import { RegistryClient } from './registry-client';
import { quote } from '../quote';

/**
 * The image side of the CRI as one façade: pull, list, status, remove, resolve and disk usage
 * over the content store (`<root>/content`), the image records (`<root>/images`) and the
 * registry client. Layers live in the LayerSink (lib/storage).
 */

/** Construction options for ImageService. */
export interface ImageServiceOptions {
  /** Directory for content and image records. */
  root: string;
  /** registries.conf path; '' = /etc/containers/registries.conf (absent = empty). */
  registriesConfFile: string;
  /** registries.conf.d directory; default: beside the file. */
  registriesConfDir?: string;
  layerSink: LayerSink;
  /** Platform picked from image indexes; default: this host. */
  platform?: Platform;
  /** `[crio.image] short_name_mode`; overrides registries.conf when set. */
  shortNameMode?: ShortNameMode;
  log: Logger;
  /** Registry socket idle timeout. */
  registryTimeoutMs?: number;
  /** `[crio.image] global_auth_file`; '' / unset = the usual auth.json locations. */
  globalAuthFile?: string;
  /** Overrides for where auth files are looked for (tests). */
  authFileLocations?: AuthFileLocations;
  /** Machine-recorded short-name aliases (c/image's cache); default /var/cache/containers/short-name-aliases.conf. */
  shortNameAliasesFile?: string;
  /** `pull_progress_timeout` in ms; 0/unset = never. */
  pullProgressTimeoutMs?: number;
  /** How often a running pull logs `pull progress`; default 10 s, 0 = never. */
  pullProgressLogIntervalMs?: number;
  /** Parallel layer downloads per pull (default 3). */
  maxConcurrentDownloads?: number;
  /** Signature policy (policy.json); unset = accept everything. */
  trust?: ImageTrust;
  /**
   * Top chain IDs of container layers that exist: their layers are never deleted with an
   * image (the layer store also refuses to delete a layer something sits on).
   */
  layersInUse?: () => Iterable<string>;
  /** Pull metrics; default: none. */
  metrics?: MetricsRecorder;
}

/** What remove() did. */
export interface ImageRemoval {
  image: ImageRecord;
  /** False when only the named tag was removed and the image stays. */
  deleted: boolean;
  /** Chain IDs of the deleted image that no remaining image uses. */
  unusedChainIds: string[];
  /** Of those, the layers deleted from the layer sink (top first); the rest are used by containers. */
  removedChainIds: string[];
}

/** The image service the CRI server uses. */
export class ImageService {
  private readonly content: ContentStore;
  private readonly images: ImageStore;
  private readonly client: RegistryClient;
  private readonly puller: ImagePuller;
  private readonly authFiles: AuthFiles;
  private registries: RegistriesConf | undefined;

  constructor(private readonly options: ImageServiceOptions) {
    this.content = new ContentStore(path.join(options.root, 'content'));
    this.images = new ImageStore(options.root);
    this.client = new RegistryClient({ timeoutMs: options.registryTimeoutMs });
    const authLocations: AuthFileLocations = { ...options.authFileLocations };
    if (options.globalAuthFile) authLocations.globalAuthFile = options.globalAuthFile;
    this.authFiles = new AuthFiles(authLocations);
    this.puller = new ImagePuller({
      content: this.content,
      images: this.images,
      layerSink: options.layerSink,
      client: this.client,
      registries: () => this.registriesConf(),
      platform: options.platform ?? hostPlatform(),
      shortNameMode: options.shortNameMode,
      authFiles: this.authFiles,
      trust: options.trust,
      progressTimeoutMs: options.pullProgressTimeoutMs,
      progressLogIntervalMs: options.pullProgressLogIntervalMs,
      maxConcurrentDownloads: options.maxConcurrentDownloads,
      metrics: options.metrics,
    });
  }

  /** Loads records and registries.conf; drops interrupted ingests and blobs no image references. */
  async init(): Promise<void> {
    await this.content.init();
    await this.images.load();
    await this.reloadRegistries();
    const referenced = new Set(this.images.list().flatMap(blobsOf));
    for (const digest of await this.content.list()) {
      if (!referenced.has(digest)) await this.content.delete(digest);
    }
    this.options.log.info('image store loaded', { images: this.images.list().length });
  }

  /** Re-reads registries.conf (and drop-ins); the next pull uses the new configuration. */
  async reloadRegistries(): Promise<void> {
    const conf = await loadRegistriesConf(this.options.registriesConfFile, this.options.registriesConfDir);
    // registries.conf aliases win over the machine-recorded ones (c/image pkg/sysregistriesv2).
    const cached = await loadShortNameAliasCache(this.options.shortNameAliasesFile ?? DEFAULT_SHORT_NAME_ALIASES_FILE);
    conf.aliases = { ...cached, ...conf.aliases };
    this.registries = conf;
  }

  /** Pulls an image (see ImagePuller); resolves to the stored record. */
  pull(ref: string, auth: AuthConfig | undefined, ctx: OpContext, opts?: PullOptions): Promise<ImageRecord> {
    return this.puller.pull(ref, auth, ctx, opts);
  }

  /** Every image, or the one `filterImage` names (none when it names nothing). */
  list(filterImage?: string): ImageRecord[] {
    if (filterImage === undefined || filterImage === '') return this.images.list();
    const hit = this.status(filterImage);
    return hit ? [hit] : [];
  }

  /** The image `nameOrId` names, or undefined (not an error: the kubelet probes with it). */
  status(nameOrId: string): ImageRecord | undefined {
    return this.find(nameOrId)?.image;
  }

  /** Like status, but NotFoundError naming the image when absent (CreateContainer). */
  resolve(nameOrId: string): ImageRecord {
    const image = this.status(nameOrId);
    if (!image) throw new NotFoundError(`image ${quote(nameOrId)} not found`);
    return image;
  }

  /** Removes a tag (the image goes with its last tag) or, by ID/digest, the image; missing → undefined. */
  async remove(nameOrId: string, ctx: OpContext): Promise<ImageRemoval | undefined> {
    const hit = this.find(nameOrId);
    if (!hit) return undefined;
    const removed = await this.images.remove(hit.key);
    if (!removed) return undefined;
    if (!removed.deleted) {
      ctx.log.info('image untagged', { imageId: removed.image.id, name: hit.key });
      return { ...removed, unusedChainIds: [], removedChainIds: [] };
    }
    const remaining = this.images.list();
    const blobsInUse = new Set(remaining.flatMap(blobsOf));
    for (const digest of blobsOf(removed.image)) if (!blobsInUse.has(digest)) await this.content.delete(digest);
    const chainsInUse = this.chainIdsInUse();
    const unusedChainIds = removed.image.layers.map((l) => l.chainId).filter((c) => !chainsInUse.has(c));
    const removedChainIds = await this.removeLayers(unusedChainIds, ctx);
    ctx.log.info('image removed', { imageId: removed.image.id, removedLayers: removedChainIds.length });
    return { ...removed, unusedChainIds, removedChainIds };
  }

  /**
   * Deletes unused layers top-down and stops at the first one a container is built on (its
   * lower layers are then in use too) or that the sink refuses (another layer sits on it).
   */
  private async removeLayers(unused: string[], ctx: OpContext): Promise<string[]> {
    const sink = this.options.layerSink;
    if (!sink.removeLayer) return [];
    const containerTops = new Set(this.options.layersInUse?.() ?? []);
    const removed: string[] = [];
    for (const chainId of [...unused].reverse()) {
      if (containerTops.has(chainId)) break;
      try {
        await sink.removeLayer(chainId);
      } catch (err) {
        ctx.log.info('layer kept', { chainId, reason: err instanceof Error ? err.message : String(err) });
        break;
      }
      removed.push(chainId);
    }
    return removed;
  }

  /**
   * CRI-O's CreateContainer-time check (verifyImageSignature): the signature policy is
   * evaluated again for the name the user asked for (`user_specified_image`) against the
   * stored manifest — only when a policy file is configured explicitly (`signature_policy`, or
   * a per-namespace file), as in CRI-O; the default policy.json was applied at pull time.
   * No-op without a trust policy. An image named by ID has no name to check: refused then.
   */
  async verifyStoredImage(image: ImageRecord, userSpecifiedImage: string, namespace: string | undefined, ctx: OpContext): Promise<void> {
    const trust = this.options.trust;
    if (!trust) return;
    if (trust.configuredExplicitly && !(await trust.configuredExplicitly(namespace))) return;
    if (userSpecifiedImage === '') throw new InvalidArgumentError(`image ${image.id}: user_specified_image is required to verify its signature`);
    if (resolveImageId(userSpecifiedImage, this.images.list().map((i) => i.id)) === image.id) {
      throw new FailedPreconditionError(
        `${SIGNATURE_VALIDATION_FAILED}: image ${image.id} was specified by ID (${userSpecifiedImage}); the signature policy can only be checked for a name: create the container by name`,
      );
    }
    const conf = this.registriesConf();
    for (const ref of resolveShortName(conf, userSpecifiedImage, 'disabled')) {
      const repo = repositoryName(ref);
      const repoDigest = image.repoDigests.find((d) => d.startsWith(`${repo}@`));
      if (!repoDigest) continue;
      const source = resolvePullSources(conf, ref).at(-1);
      if (!source) continue;
      const auth = await this.authFiles.lookup(`${source.endpoint.host}/${source.repository}`);
      const topDigest = repoDigest.slice(repo.length + 1);
      await trust.check({ ref, source, auth, manifestDigest: image.manifestDigest, topDigest, client: this.client }, namespace, ctx);
      return;
    }
    throw new FailedPreconditionError(`${SIGNATURE_VALIDATION_FAILED}: image ${image.id} was not pulled as ${userSpecifiedImage}; cannot verify its signature`);
  }

  /** The image's full config (the OCI image config JSON as pulled), for ImageStatus verbose. */
  async imageSpec(image: ImageRecord): Promise<unknown> {
    return JSON.parse((await this.content.read(image.configDigest)).toString('utf8')) as unknown;
  }

  /** Chain IDs used by any stored image (layers the layer store must keep). */
  chainIdsInUse(): Set<string> {
    return new Set(this.images.list().flatMap((i) => i.layers.map((l) => l.chainId)));
  }

  /** Disk use of images: content + records, plus the layer sink's layers when it can tell. */
  async fsUsage(): Promise<DiskUsage> {
    const own = await diskUsage(this.options.root);
    const layers = (await this.options.layerSink.usage?.()) ?? { bytes: 0, inodes: 0 };
    return { bytes: own.bytes + layers.bytes, inodes: own.inodes + layers.inodes };
  }

  /**
   * Short names are looked up through the same candidates a pull would use (local only, never
   * ambiguous); anything else — IDs, prefixes, qualified names — goes to the store directly.
   * `key` is the string that identifies the match for remove().
   */
  private find(nameOrId: string): { image: ImageRecord; key: string } | undefined {
    if (isShortName(nameOrId)) {
      let candidates: string[] = [];
      try {
        candidates = resolveShortName(this.registriesConf(), nameOrId, 'disabled').map(formatReference);
      } catch {
        candidates = []; // not a name (e.g. an ID prefix); the store lookup below handles it
      }
      for (const key of candidates) {
        const image = this.images.lookup(key);
        if (image) return { image, key };
      }
    }
    const image = this.images.lookup(nameOrId);
    return image ? { image, key: nameOrId } : undefined;
  }

  private registriesConf(): RegistriesConf {
    if (!this.registries) throw new InternalError('ImageService used before init()');
    return this.registries;
  }
}

/** Content-store blobs an image record points at: manifests (incl. index) and config. */
function blobsOf(image: ImageRecord): string[] {
  return [image.manifestDigest, image.configDigest, ...image.repoDigests.map((d) => d.slice(d.indexOf('@') + 1))];
}
