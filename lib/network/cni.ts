import { promises as fs, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { backgroundContext, type OpContext } from '../context';
import { InvalidArgumentError, UnavailableError, asError, errnoCode } from '../errors';
import { readJsonIfExists, syncDir, writeJsonAtomic } from '../fsutil';
import type { Logger } from '../log';
import { loadCniNetwork, type CniLoadResult, type CniNetwork } from './cni-config';
import { execCniPlugin } from './cni-exec';
import {
  buildCniArgs,
  buildPluginConfig,
  delTakesPrevResult,
  pluginsForPod,
  podIpsFromResult,
  type CniPodInfo,
  type CniResult,
  type CniRuntimeConfig,
} from './cni-request';
import { faultPoint } from '../fault-points';
import { quote } from '../quote';

/**
 * The pod network, as CRI-O's ocicni runs it: loopback first, then the default network list
 * (ADD in order, DEL in reverse). Each attachment is cached on disk with the config it used,
 * so StopPodSandbox tears down correctly after a restart or a config change.
 */

/** CRI NetworkReady condition reason when there is no usable network (CRI-O's wording). */
export const NETWORK_NOT_READY_REASON = 'NetworkPluginNotReady';
/** Interface name of the pod side of the default network. */
export const POD_IFNAME = 'eth0';
/** CNI version of the built-in loopback network (libcni's implemented spec version). */
export const LOOPBACK_CNI_VERSION = '1.0.0';

/** Construction options of CniManager. */
export interface CniManagerOptions {
  networkDir: string;
  pluginDirs: string[];
  /** Where attachment results are persisted, e.g. <root>/cni-cache. */
  cacheDir: string;
  /** crio.conf `cni_default_network`; empty = first valid file. */
  defaultNetwork: string;
  /**
   * The runtime brings `lo` up itself when it creates the pod namespaces (one spawn fewer per
   * pod); the loopback plugin is then not run.
   */
  loopbackUpByRuntime?: boolean;
  /** Whether a path is a live network namespace (default: an nsfs mount, as the plugins check); tests with fake plugins pass their own. */
  isNetns?: (path: string) => Promise<boolean>;
  log: Logger;
}

/** One pod's network request: who it is, its netns and the runtime capabilities to pass. */
export interface CniPodRequest extends CniPodInfo, CniRuntimeConfig {
  netnsPath: string;
}

/** The NetworkReady condition. */
export interface CniNetworkStatus {
  ready: boolean;
  reason?: string;
  message?: string;
}

/** What is persisted per pod (<cacheDir>/<podSandboxId>.json). */
export interface CniCacheRecord {
  version: 1;
  podSandboxId: string;
  /** 'adding' is written before the first ADD so a crash mid-setup is still torn down. */
  state: 'adding' | 'added';
  netnsPath: string;
  ifName: string;
  network: Pick<CniNetwork, 'name' | 'cniVersion' | 'plugins'>;
  /** Port mappings etc. as given at ADD: DEL must see the same values (portmap removes its rules by them). */
  runtimeConfig: CniRuntimeConfig;
  result?: CniResult;
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Loads the CNI network and attaches/detaches pods to it. */
export class CniManager {
  private loaded: CniLoadResult | undefined;
  private lastLoadKey = '';
  private readonly podLocks = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;

  constructor(private readonly opts: CniManagerOptions) {}

  /** The NetworkReady condition from the last reload. */
  status(): CniNetworkStatus {
    if (this.loaded?.network) return { ready: true };
    const why = this.loaded?.reason ?? `CNI configuration in ${this.opts.networkDir} not loaded yet`;
    return { ready: false, reason: NETWORK_NOT_READY_REASON, message: `Network plugin returns error: ${why}` };
  }

  /** The network pods are attached to now, if any. */
  network(): CniNetwork | undefined {
    return this.loaded?.network;
  }

  /** Re-reads network_dir; logs only when the outcome changed so polling stays quiet. */
  async reload(): Promise<CniNetworkStatus> {
    const res = await loadCniNetwork(this.opts.networkDir, this.opts.defaultNetwork, this.opts.pluginDirs);
    const key = JSON.stringify(res);
    if (key !== this.lastLoadKey) {
      for (const s of res.skipped) this.opts.log.warn('cni config skipped', { file: s.file, reason: s.reason });
      if (res.network) this.opts.log.info('cni network loaded', { network: res.network.name, file: res.network.file });
      else this.opts.log.warn('cni network not ready', { reason: res.reason });
    }
    this.lastLoadKey = key;
    this.loaded = res;
    return this.status();
  }

  /** Re-reads network_dir every intervalMs so a network provider installed later is picked up (ocicni watches the dir). */
  startAutoReload(intervalMs = 5000): void {
    if (this.timer) return;
    const reload = (): void => {
      this.reload().catch((err: unknown) => this.opts.log.warn('cni reload failed', { err: asError(err).message }));
    };
    this.timer = setInterval(reload, intervalMs);
    this.timer.unref();
    // A watch makes a config written by a network provider count at once; the timer covers a
    // directory that does not exist yet or a watch the filesystem does not support.
    try {
      this.watcher = watch(this.opts.networkDir, () => {
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(reload, 100);
        this.debounce.unref();
      });
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // no directory yet: the timer will notice it
    }
  }

  /** Stops startAutoReload. */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
    this.watcher?.close();
    this.timer = undefined;
    this.watcher = undefined;
  }

  /**
   * Runs loopback, then ADD through the network list; on failure what was added is deleted again.
   * With `netnsReady` the caller creates the pod's netns meanwhile: the cache record (which must
   * be on disk before any plugin runs) is written in parallel, the plugins run once it resolves,
   * and if it rejects the record is removed and its error thrown.
   */
  setUpPod(req: CniPodRequest, ctx: OpContext, netnsReady?: Promise<unknown>): Promise<{ ips: string[] }> {
    return this.withPodLock(req.podSandboxId, () => this.doSetUp(req, ctx, netnsReady));
  }

  /** Runs DEL in reverse order with the cached result; ok when nothing is attached or the netns is gone. */
  tearDownPod(req: CniPodRequest, ctx: OpContext): Promise<void> {
    return this.withPodLock(req.podSandboxId, () => this.doTearDown(req, ctx));
  }

  /** Pod IDs that have a cache record (attached, or a setup interrupted by a crash). */
  async listAttachedPods(): Promise<string[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.opts.cacheDir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
      .map((n) => n.slice(0, -'.json'.length))
      .sort();
  }

  private async doSetUp(req: CniPodRequest, ctx: OpContext, netnsReady?: Promise<unknown>): Promise<{ ips: string[] }> {
    const log = ctx.log.child({ podSandboxId: req.podSandboxId });
    if (!this.loaded?.network) await this.reload();
    const net = this.loaded?.network;
    if (!net) throw new UnavailableError(this.status().message ?? 'network not ready');
    const cacheFile = this.cacheFile(req.podSandboxId);
    await fs.mkdir(this.opts.cacheDir, { recursive: true, mode: 0o700 });
    const record: CniCacheRecord = {
      version: 1,
      podSandboxId: req.podSandboxId,
      state: 'adding',
      netnsPath: req.netnsPath,
      ifName: POD_IFNAME,
      network: { name: net.name, cniVersion: net.cniVersion, plugins: pluginsForPod(net.plugins, runtimeConfigOf(req)) },
      runtimeConfig: runtimeConfigOf(req),
    };
    await writeJsonAtomic(cacheFile, record, 0o600);
    faultPoint('cni-add:cache-written');
    if (netnsReady) {
      try {
        await netnsReady;
      } catch (err) {
        await this.removeCache(cacheFile);
        throw err;
      }
    }
    const args = buildCniArgs(req);
    const lo = { name: 'cni-loopback', cniVersion: LOOPBACK_CNI_VERSION };
    const start = Date.now();
    if (!this.opts.loopbackUpByRuntime) {
      try {
        await execCniPlugin(
          {
            ...this.execBase(req, args),
            command: 'ADD',
            pluginType: 'loopback',
            netns: req.netnsPath,
            ifName: 'lo',
            config: buildPluginConfig(lo, { type: 'loopback' }, {}),
          },
          ctx,
        );
      } catch (err) {
        await this.removeCache(cacheFile);
        throw err;
      }
    }
    let prev: CniResult | undefined;
    const plugins = record.network.plugins;
    for (let i = 0; i < plugins.length; i++) {
      const plugin = plugins[i];
      try {
        prev = await execCniPlugin(
          {
            ...this.execBase(req, args),
            command: 'ADD',
            pluginType: plugin.type,
            netns: req.netnsPath,
            config: buildPluginConfig(record.network, plugin, req, prev),
          },
          ctx,
        );
        faultPoint('cni-add:plugin-added');
      } catch (err) {
        // Undo with a DEL of the whole chain, as libcni and the CNI spec want (the failed plugin
        // may have half-applied; the ones after it must tolerate a DEL of nothing). The rollback
        // must run even when the request was cancelled, so it gets its own context.
        const undone = await this.runDel(record.network, plugins.length - 1, prev, req, args, req.netnsPath, backgroundContext(log)).then(
          () => true,
          (delErr: unknown) => {
            log.warn('cni rollback failed', { network: net.name, err: asError(delErr).message });
            return false;
          },
        );
        // A failed rollback keeps the record so StopPodSandbox (or start-up cleanup) retries DEL.
        if (undone) await this.removeCache(cacheFile);
        throw err;
      }
    }
    // Atomic but not fsynced (libcni's own cache write is neither): what must be on disk before a
    // plugin runs is the 'adding' record above, and a teardown that finds it after a power loss
    // DELs the same way (the result is optional for DEL). Saves two fsyncs (~2 ms) per pod start.
    await writeJsonAtomic(cacheFile, { ...record, state: 'added', result: prev }, 0o600, false);
    faultPoint('cni-add:cache-updated');
    const ips = podIpsFromResult(prev);
    log.info('pod network attached', { network: net.name, ips, durationMs: Date.now() - start });
    return { ips };
  }

  private async doTearDown(req: CniPodRequest, ctx: OpContext): Promise<void> {
    const cacheFile = this.cacheFile(req.podSandboxId);
    let raw: unknown;
    try {
      raw = await readJsonIfExists(cacheFile);
    } catch (err) {
      throw new UnavailableError(`cannot read CNI cache file ${cacheFile}`, { cause: err });
    }
    const cached = parseCacheRecord(raw, cacheFile);
    const network = cached?.network ?? this.loaded?.network;
    if (!network) return;
    // The netns may be gone already (node reboot, earlier partial stop): DEL then runs without one.
    // A file left behind by a crash between unmounting and unlinking it is gone too (plugins
    // would refuse it: "unknown FS magic").
    const nsPath = req.netnsPath || cached?.netnsPath || '';
    const netns = nsPath !== '' && (await (this.opts.isNetns ?? isNetnsMount)(nsPath)) ? nsPath : '';
    // Loopback keeps no state outside the netns, which is about to be destroyed: no DEL for it.
    const delReq: CniPodRequest = cached ? { ...req, ...cached.runtimeConfig } : req;
    await this.runDel(network, network.plugins.length - 1, cached?.result, delReq, buildCniArgs(req), netns, ctx);
    await this.removeCache(cacheFile);
    faultPoint('cni-del:cache-removed');
    ctx.log.info('pod network detached', { podSandboxId: req.podSandboxId, network: network.name });
  }

  /**
   * DEL plugins[last..0]. Unlike libcni, a failing plugin does not stop the others: the bridge's
   * DEL after a failing portmap DEL still frees the pod's IP. The first failure is thrown after
   * all ran, so the caller keeps its cache record and DEL is retried.
   */
  private async runDel(
    network: Pick<CniNetwork, 'name' | 'cniVersion' | 'plugins'>,
    last: number,
    result: CniResult | undefined,
    req: CniPodRequest,
    args: string,
    netns: string,
    ctx: OpContext,
  ): Promise<void> {
    const prev = delTakesPrevResult(network.cniVersion) ? result : undefined;
    const failures: unknown[] = [];
    for (let i = last; i >= 0; i--) {
      const plugin = network.plugins[i];
      try {
        await execCniPlugin(
          {
            ...this.execBase(req, args),
            command: 'DEL',
            pluginType: plugin.type,
            netns,
            config: buildPluginConfig(network, plugin, req, prev),
          },
          ctx,
        );
      } catch (err) {
        if (failures.length === 0) ctx.log.warn('cni plugin DEL failed; deleting through the others', { podSandboxId: req.podSandboxId, plugin: plugin.type, err: asError(err).message });
        failures.push(err);
      }
      faultPoint('cni-del:plugin-deleted');
    }
    if (failures.length > 0) throw failures[0];
  }

  private execBase(req: CniPodRequest, args: string): { pluginDirs: string[]; containerId: string; ifName: string; args: string } {
    return { pluginDirs: this.opts.pluginDirs, containerId: req.podSandboxId, ifName: POD_IFNAME, args };
  }

  private cacheFile(podSandboxId: string): string {
    if (!ID_RE.test(podSandboxId))
      throw new InvalidArgumentError(`pod sandbox id ${quote(podSandboxId)} is not usable as a file name`);
    return path.join(this.opts.cacheDir, `${podSandboxId}.json`);
  }

  private async removeCache(file: string): Promise<void> {
    try {
      await fs.unlink(file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    await syncDir(path.dirname(file));
  }

  private async withPodLock<T>(podSandboxId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.podLocks.get(podSandboxId) ?? Promise.resolve();
    const run = prev.then(fn);
    const done = run.then(
      () => undefined,
      () => undefined,
    );
    this.podLocks.set(podSandboxId, done);
    try {
      return await run;
    } finally {
      if (this.podLocks.get(podSandboxId) === done) this.podLocks.delete(podSandboxId);
    }
  }
}

/** Linux's NSFS_MAGIC: the filesystem type of a bound namespace file. */
const NSFS_MAGIC = 0x6e736673;

/** True when `file` is a bound namespace (not a plain file a crash left behind, not missing). */
export async function isNetnsMount(file: string): Promise<boolean> {
  try {
    return (await fs.statfs(file)).type === NSFS_MAGIC;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return false;
    throw err;
  }
}

function runtimeConfigOf(req: CniPodRequest): CniRuntimeConfig {
  const rc: CniRuntimeConfig = {};
  if (req.portMappings) rc.portMappings = req.portMappings;
  if (req.bandwidth) rc.bandwidth = req.bandwidth;
  if (req.ips) rc.ips = req.ips;
  return rc;
}

/** Validates a cache file's shape; a corrupt one is an error naming the file (never silently skipped: IPs would leak). */
export function parseCacheRecord(v: unknown, file: string): CniCacheRecord | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null) throw new UnavailableError(`CNI cache file ${file} is not a JSON object`);
  const r = v as Partial<CniCacheRecord>;
  const n = r.network;
  if (
    r.version !== 1 ||
    typeof r.runtimeConfig !== 'object' ||
    !n ||
    typeof n.name !== 'string' ||
    typeof n.cniVersion !== 'string' ||
    !Array.isArray(n.plugins)
  ) {
    throw new UnavailableError(`CNI cache file ${file} has an unknown format`);
  }
  return v as CniCacheRecord;
}
