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
import type { ImagePuller, ImageTrust, PullOptions } from './pull';
import { SIGNATURE_VALIDATION_FAILED } from './image-trust';
import { resolvePullSources, resolveShortName } from './pull-sources';
import { formatReference, isShortName, repositoryName, type ImageReference } from './reference';
import type { ContainerRecords } from '../storage/container-records';
import type { ImageRecords } from '../storage/image-records';
import { deleteImage } from '../storage/image-removal';
import type { LayerGc } from '../storage/layer-gc';
import type { LayerStore } from '../storage/layer-store';
import { DEFAULT_SHORT_NAME_ALIASES_FILE, loadRegistriesConf, loadShortNameAliasCache, type RegistriesConf, type ShortNameMode } from './registries-conf';
import type { AuthConfig } from './registry-auth';
import type { RegistryClient } from './registry-client';
import { quote } from '../quote';

/**
 * The image side of the CRI as one façade: pull, list, status, remove, resolve and disk usage
 * over containers/storage's image and layer stores (lib/storage, shared with podman) and the
 * registry client. Downloads pass through a work directory (`root`) emptied at start.
 */

/** The shared store the service works on. */
export interface ImageStorage {
  layers: LayerStore;
  images: ImageRecords;
  containers: ContainerRecords;
  /** Collects layers an image removal kept for a running pull. */
  gc?: LayerGc;
}

/** Construction options for ImageService. */
export interface ImageServiceOptions {
  /** Work directory for downloads (configs, staged layer blobs); emptied at init. */
  root: string;
  /** registries.conf path; '' = /etc/containers/registries.conf (absent = empty). */
  registriesConfFile: string;
  /** registries.conf.d directory; default: beside the file. */
  registriesConfDir?: string;
  storage: ImageStorage;
  /** Where pulled layers go; default the layer store (tests put a sink in between). */
  layerSink?: LayerSink;
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
  /** Pull metrics; default: none. */
  metrics?: MetricsRecorder;
}

/** What remove() did. */
export interface ImageRemoval {
  image: ImageRecord;
  /** False when only the named tag was removed and the image stays. */
  deleted: boolean;
  /** Layers deleted with the image, top first (none when a pull of ours runs: they go after it). */
  removedLayerIds: string[];
}

/** The image service the CRI server uses. */
export class ImageService {
  private readonly content: ContentStore;
  private readonly images: ImageStore;
  private registryClient: RegistryClient | undefined;
  private imagePuller: ImagePuller | undefined;
  private readonly authFiles: AuthFiles;
  private registries: RegistriesConf | undefined;

  constructor(private readonly options: ImageServiceOptions) {
    this.content = new ContentStore(options.root);
    this.images = new ImageStore(options.storage.images, options.storage.layers, options.log);
    const authLocations: AuthFileLocations = { ...options.authFileLocations };
    if (options.globalAuthFile) authLocations.globalAuthFile = options.globalAuthFile;
    this.authFiles = new AuthFiles(authLocations);
  }

  /** The registry client, made (and its HTTP code loaded) at first use: an idle node never talks to a registry (issue 17, idle RSS). */
  private get client(): RegistryClient {
    if (!this.registryClient) {
      const { RegistryClient: Client } = require('./registry-client') as typeof import('./registry-client');
      this.registryClient = new Client({ timeoutMs: this.options.registryTimeoutMs });
    }
    return this.registryClient;
  }

  /** The puller (and the pull and unpack code), made at the first pull, like the client. */
  private get puller(): ImagePuller {
    if (!this.imagePuller) {
      const { ImagePuller: Puller } = require('./pull') as typeof import('./pull');
      const options = this.options;
      this.imagePuller = new Puller({
        content: this.content,
        images: this.images,
        layerSink: options.layerSink ?? options.storage.layers,
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
    return this.imagePuller;
  }

  /** Loads registries.conf; empties the download work directory. */
  async init(): Promise<void> {
    await this.content.init();
    for (const digest of await this.content.list()) await this.content.delete(digest);
    await this.reloadRegistries();
    this.options.log.info('image store loaded', { images: (await this.images.list()).length });
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
  async list(filterImage?: string): Promise<ImageRecord[]> {
    if (filterImage === undefined || filterImage === '') return this.images.list();
    const hit = await this.status(filterImage);
    return hit ? [hit] : [];
  }

  /** The image `nameOrId` names, or undefined (not an error: the kubelet probes with it). */
  async status(nameOrId: string): Promise<ImageRecord | undefined> {
    return (await this.find(nameOrId))?.image;
  }

  /** Like status, but NotFoundError naming the image when absent (CreateContainer). */
  async resolve(nameOrId: string): Promise<ImageRecord> {
    const image = await this.status(nameOrId);
    if (!image) throw new NotFoundError(`image ${quote(nameOrId)} not found`);
    return image;
  }

  /**
   * CRI-O's RemoveImage (UntagImage): a name the image has others besides is removed from it;
   * otherwise (the last name, or an ID) the image is deleted with the layers only it used —
   * refused while a container (ours or podman's) uses it. Missing → undefined.
   */
  async remove(nameOrId: string, ctx: OpContext): Promise<ImageRemoval | undefined> {
    const hit = await this.find(nameOrId);
    if (!hit) return undefined;
    if (hit.image.readOnly) throw new FailedPreconditionError(`image ${hit.image.id} is in a read-only additional image store`);
    if (hit.name !== undefined && hit.image.names.length > 1) {
      await this.options.storage.images.removeName(hit.name);
      ctx.log.info('image untagged', { imageId: hit.image.id, name: hit.name });
      return { image: hit.image, deleted: false, removedLayerIds: [] };
    }
    const { layers, images, containers, gc } = this.options.storage;
    const deferLayers = layers.pulling;
    const gone = await deleteImage({ layers, images, containers, id: hit.image.id, deferLayers });
    if (gone.deferredLayers.length > 0) {
      layers.noteRefusedRemoval();
      await gc?.addCandidates(gone.deferredLayers);
    }
    ctx.log.info('image removed', { imageId: hit.image.id, removedLayers: gone.removedLayers.length, deferredLayers: gone.deferredLayers.length });
    return { image: hit.image, deleted: true, removedLayerIds: gone.removedLayers };
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
    if (resolveImageId(userSpecifiedImage, (await this.images.list()).map((i) => i.id)) === image.id) {
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

  /** The image's full config (the OCI image config JSON as stored), for ImageStatus verbose. */
  async imageSpec(image: ImageRecord): Promise<unknown> {
    return JSON.parse((await this.images.bigData(image, image.configDigest)).toString('utf8')) as unknown;
  }

  /** Disk use of images: their layers (recorded inventories) and the image store's own files. */
  async fsUsage(): Promise<DiskUsage> {
    const own = await diskUsage(path.join(this.options.storage.layers.graphRoot, 'overlay-images'));
    const layers = await this.options.storage.layers.usage();
    return { bytes: own.bytes + layers.bytes, inodes: own.inodes + layers.inodes };
  }

  /**
   * Short names are looked up through the same candidates a pull would use (local only, never
   * ambiguous); anything else — IDs, prefixes, qualified names — goes to the store directly.
   * `name` is set when a name (not an ID) matched.
   */
  private async find(nameOrId: string): Promise<{ image: ImageRecord; name?: string } | undefined> {
    if (isShortName(nameOrId)) {
      let candidates: ImageReference[] = [];
      try {
        candidates = resolveShortName(this.registriesConf(), nameOrId, 'disabled');
      } catch {
        candidates = []; // not a name (e.g. an ID prefix); the store lookup below handles it
      }
      for (const ref of candidates) {
        const hit = await this.images.lookup(formatReference(ref));
        if (hit) return hit;
      }
    }
    return this.images.lookup(nameOrId);
  }

  private registriesConf(): RegistriesConf {
    if (!this.registries) throw new InternalError('ImageService used before init()');
    return this.registries;
  }
}
