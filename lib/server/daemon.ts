import { watch, promises as fs, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config';
import { asError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { parseDuration } from '../config/duration';
import { renderConfig } from '../config/render';
import { ImageService } from '../image/image-service';
import { PolicyTrust } from '../image/image-trust';
import type { Logger } from '../log';
import { CniManager } from '../network/cni';
import { closeSpecSources, startSpecSources } from './spec-sources';
import { infraExited } from './sandbox-infra-watch';
import { NameRegistry } from '../state/name-registry';
import { PodGate } from '../state/pod-gate';
import { RecordStore } from '../state/record-store';
import { RECORD_VERSION, validateContainerRecord, validateSandboxRecord, type ContainerRecord, type SandboxRecord } from '../state/records';
import { openStorage } from './storage-open';
import { detectNodeEvents, markCleanShutdownSupported } from '../storage/node-events';
import { syncFilesystem } from '../storage/sync-fs';
import { streamingOptionsFromConfig } from '../streaming/config';
import { StreamingServer } from '../streaming/server';
import { AbandonedCreates } from './abandoned-creates';
import { ContainerEventBus } from './container-events';
import { refreshContainerExit } from './container-exit';
import { watchMonitors } from './container-monitor';
import { StatsCache } from './container-stats-read';
import { attachToContainer } from './container-attach';
import { execInContainer } from './container-exec';
import type { ServerDeps } from './deps';
import { startCriServer, type CriServer } from './grpc-server';
import { imageHandlers, RESPONSE_SERIALIZERS, RPC_OPTIONS, runtimeHandlers } from './handlers';
import { createInspectServer } from './inspect-http';
import { RecordsInCreation } from './records-in-creation';
import { setupAppArmorAtStart } from '../security/apparmor-host';
import { probeHost } from './host-info';
import { recoverNodeEvents, restoreState } from './restore';
import { RuntimeHandlers } from './runtimes';
import { forwardPortInSandbox } from './sandbox-port-forward';
import { CRIO_TS_VERSION } from './runtime-version';
import { startMetrics } from '../metrics/start';
import type { ReloadResult } from './reload';

/**
 * Where crio-ts keeps its data under `root` (the graph root) and `runroot`. Images, layers and
 * containers are containers/storage's overlay store, shared with podman, skopeo and buildah
 * (overlay/, overlay-layers/, overlay-images/, overlay-containers/; mount counts in
 * <runroot>/overlay-layers/mountpoints.json); crio-ts's own records keep their `crio-` names.
 */
export function daemonLayout(config: Config) {
  const root = config.crio.root;
  const runroot = config.crio.runroot;
  return {
    graphRoot: root,
    runRoot: runroot,
    storageDriver: 'overlay',
    layers: path.join(root, 'overlay'),
    containerLayers: path.join(root, 'overlay-containers'),
    images: path.join(root, 'overlay-images'),
    /** Downloads in progress (configs, staged blobs); emptied at start. */
    imageWork: path.join(root, 'crio-blobs'),
    sandboxRecords: path.join(root, 'crio-state', 'sandboxes'),
    containerRecords: path.join(root, 'crio-state', 'containers'),
    cniCache: path.join(root, 'crio-state', 'cni'),
    podsDir: path.join(runroot, 'crio-pods'),
    bundlesDir: path.join(runroot, 'crio-bundles'),
    /** The store layout of crio-ts before it shared containers/storage's (migrated at start). */
    legacy: { layers: path.join(root, 'crio-layers'), containerLayers: path.join(root, 'crio-containers'), images: path.join(root, 'crio-images'), mountCounts: path.join(runroot, 'crio-mountpoints') },
  };
}

/**
 * Where images are kept, as the inspect API's /info reports it (CRI-O's storage_driver,
 * storage_root, storage_image): cAdvisor labels the filesystem holding `root` "crio-images",
 * and the kubelet's image GC and /stats/summary read that label. Derived from daemonLayout so
 * a storage layout change is made here only.
 */
export function imageStorageInfo(config: Config): { driver: string; root: string; imageStore: string } {
  return { driver: config.crio.storage_driver || 'overlay', root: config.crio.root, imageStore: daemonLayout(config).images };
}

/** A running daemon. */
export interface Daemon {
  deps: ServerDeps;
  /** Applies the reloadable keys of a freshly loaded config (SIGHUP); throws, changing nothing, when one is bad. */
  reload(next: Config): Promise<ReloadResult>;
  close(): Promise<void>;
}

/** Builds every part from config, restores state, and serves the CRI on the socket. */
export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  const layout = daemonLayout(config);
  // Read before anything rewrites the markers: a missing version file means the node rebooted.
  const nodeEvents = await detectNodeEvents(config.crio.version_file, config.crio.clean_shutdown_file);
  // The clean-shutdown marker exists only between a clean stop and the next start: from here on
  // a crash (even during start-up) must read as unclean.
  await fs.rm(config.crio.clean_shutdown_file, { force: true });
  await markCleanShutdownSupported(config.crio.clean_shutdown_file);
  for (const dir of [config.crio.root, config.crio.runroot, layout.podsDir, layout.bundlesDir, config.runtime.container_exits_dir]) {
    await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  }
  const host = await probeHost();
  // As CRI-O: the crio-default AppArmor profile is generated and loaded at start where AppArmor is on.
  if (host.apparmor) await setupAppArmorAtStart(config.runtime.apparmor_profile);
  log.info('host probed', { apparmor: host.apparmor, selinux: host.selinux, seccomp: host.seccomp, canLowerOomScoreAdj: host.canLowerOomScoreAdj, userNamespaces: host.userNamespaces });

  // First, so a bad metrics address stops the start before anything else is set up.
  const metrics = await startMetrics(config.metrics, log);
  const storage = await openStorage(config, log);
  const { layerStore, containerLayers, layerGc } = storage;
  const images = new ImageService({
    root: layout.imageWork,
    registriesConfFile: config.registries_conf,
    shortNameMode: config.image.short_name_mode === 'disabled' ? 'disabled' : 'enforcing',
    storage: { layers: layerStore, images: storage.imageRecords, containers: containerLayers.store, gc: layerGc },
    log,
    globalAuthFile: config.image.global_auth_file,
    pullProgressTimeoutMs: parseDuration(config.image.pull_progress_timeout),
    trust: new PolicyTrust({ policyFile: config.image.signature_policy, policyDir: config.image.signature_policy_dir }),
    metrics: metrics.recorder,
  });
  await images.init();
  const cni = new CniManager({
    networkDir: config.network.network_dir,
    pluginDirs: config.network.plugin_dirs,
    cacheDir: layout.cniCache,
    defaultNetwork: config.network.cni_default_network,
    // RunPodSandbox brings lo up in the spawn that creates the namespaces.
    loopbackUpByRuntime: true,
    log,
  });
  await cni.reload();
  cni.startAutoReload();
  let runtimes = await RuntimeHandlers.create(config, layout.bundlesDir, log);
  const specSources = await startSpecSources(config, log);

  const sandboxes = new RecordStore<SandboxRecord>({ dir: layout.sandboxRecords, kind: 'pod sandbox', version: RECORD_VERSION, validate: validateSandboxRecord });
  const containers = new RecordStore<ContainerRecord>({ dir: layout.containerRecords, kind: 'container', version: RECORD_VERSION, validate: validateContainerRecord });
  await sandboxes.load(log);
  await containers.load(log);

  const deps: ServerDeps = {
    config,
    host,
    paths: { podsDir: layout.podsDir, bundlesDir: layout.bundlesDir },
    sandboxes,
    containers,
    podNames: new NameRegistry('pod sandbox'),
    containerNames: new NameRegistry('container'),
    podGate: new PodGate(),
    images,
    containerLayers,
    layerGc,
    cni,
    events: new ContainerEventBus(),
    statsCache: new StatsCache(),
    abandoned: new AbandonedCreates(log),
    creating: new RecordsInCreation(),
    ...specSources,
    runtimeFor: (handler) => runtimes.get(handler),
    metrics: metrics.recorder,
  };
  metrics.recorder.defaultRuntime(config.runtime.default_runtime);
  await recoverNodeEvents(deps, layerStore, nodeEvents, log);
  await restoreState(deps, log);
  deps.abandoned.start(deps);
  // No pull runs yet: layers left by interrupted pulls or removals go now.
  await layerGc.collect();

  // Exec, Attach and PortForward answer with URLs of this server (stream_address:stream_port).
  const streaming = await StreamingServer.start({
    ...(await streamingOptionsFromConfig(config.api)),
    runtime: { exec: execInContainer(deps), attach: attachToContainer(deps), portForward: forwardPortInSandbox(deps) },
    log,
  });
  const exitWatcher = watchExits(deps, log);
  const stopMonitorChecks = watchMonitors(deps, log);
  const inspect = createInspectServer({ deps, storage: imageStorageInfo(config), configToml: () => renderConfig(config), log });
  const server = await startCriServer({
    socketPath: config.api.listen,
    runtime: runtimeHandlers(deps, streaming),
    image: imageHandlers(deps),
    rpcOptions: RPC_OPTIONS,
    responseSerializers: RESPONSE_SERIALIZERS,
    maxSendBytes: config.api.grpc_max_send_msg_size,
    maxRecvBytes: config.api.grpc_max_recv_msg_size,
    log,
    metrics: metrics.recorder,
    http1: inspect.handle,
  });
  await writeMarker(config.crio.version_file, CRIO_TS_VERSION);
  // What `crio wipe` compares against after an upgrade (CRI-O writes both files at start).
  if (config.crio.version_file_persist !== '') await writeMarker(config.crio.version_file_persist, CRIO_TS_VERSION);
  log.info('crio-ts ready', { listen: config.api.listen, version: CRIO_TS_VERSION });
  // SIGHUPs are handled one at a time: two reloads must not interleave their checks and swaps.
  let reloading: Promise<unknown> = Promise.resolve();
  return {
    deps,
    reload: (next) => {
      const run = reloading.then(async () => {
        // Loaded on the first SIGHUP: its checks pull in modules an idle daemon does not need.
        const { reloadConfig } = require('./reload') as typeof import('./reload');
        const result = await reloadConfig({ deps, runtimes, bundlesDir: layout.bundlesDir, log }, next);
        runtimes = result.runtimes;
        return result;
      });
      reloading = run.catch(() => undefined);
      return run;
    },
    close: async () => {
      await streaming.close(); // ends exec/attach/port-forward sessions first
      stopMonitorChecks();
      await metrics.close();
      inspect.close();
      deps.abandoned.close();
      closeSpecSources(deps);
      await shutdown(server, exitWatcher, cni, config, log);
    },
  };
}

async function writeMarker(file: string, content: string): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, content + '\n');
}

/** Watches conmon's exit files so container state turns EXITED without polling. */
function watchExits(deps: ServerDeps, log: Logger): FSWatcher {
  const dir = deps.config.runtime.container_exits_dir;
  const w = watch(dir, (_event, filename) => {
    if (!filename) return;
    const id = filename.toString();
    if (!deps.containers.find(id)) {
      if (deps.sandboxes.find(id)?.infra) void infraExited(deps, id, log, 'conmon recorded its exit').catch((err: unknown) => log.warn('infra exit not handled', { podSandboxId: id, err: asError(err).message }));
      return;
    }
    refreshContainerExit(deps, id, log).catch((err: unknown) => log.warn('exit refresh failed', { containerId: id, err: asError(err).message }));
  });
  w.on('error', (err) => log.warn('exit watcher failed', { err: err.message }));
  return w;
}

async function shutdown(server: CriServer, exitWatcher: FSWatcher, cni: CniManager, config: Config, log: Logger): Promise<void> {
  await server.close();
  exitWatcher.close();
  cni.close();
  // Containers keep running under conmon; only our own bookkeeping stops here.
  await syncFilesystem(config.crio.root); // the marker promises that everything before it is on disk
  await writeMarker(config.crio.clean_shutdown_file, new Date().toISOString());
  log.info('crio-ts stopped');
}
