import { watch, promises as fs, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config';
import { asError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { ImageService } from '../image/image-service';
import type { Logger } from '../log';
import { CniManager } from '../network/cni';
import { NameRegistry } from '../state/name-registry';
import { RecordStore } from '../state/record-store';
import { RECORD_VERSION, validateContainerRecord, validateSandboxRecord, type ContainerRecord, type SandboxRecord } from '../state/records';
import { ContainerLayers } from '../storage/container-layers';
import { LayerStore } from '../storage/layer-store';
import { refreshContainerExit } from './container-exit';
import type { ServerDeps } from './deps';
import { startCriServer, type CriServer } from './grpc-server';
import { imageHandlers, RPC_OPTIONS, runtimeHandlers } from './handlers';
import { probeHost } from './host-info';
import { restoreState } from './restore';
import { RuntimeHandlers } from './runtimes';
import { CRIO_TS_VERSION } from './runtime-version';

/**
 * Where crio-ts keeps its data under `root` and `runroot`. Names differ from containers/storage's
 * (overlay/, overlay-layers/, ...) so a node's podman store in the same root is never touched.
 */
export function daemonLayout(config: Config) {
  const root = config.crio.root;
  const runroot = config.crio.runroot;
  return {
    layers: path.join(root, 'crio-layers'),
    containerLayers: path.join(root, 'crio-containers'),
    images: path.join(root, 'crio-images'),
    sandboxRecords: path.join(root, 'crio-state', 'sandboxes'),
    containerRecords: path.join(root, 'crio-state', 'containers'),
    cniCache: path.join(root, 'crio-state', 'cni'),
    podsDir: path.join(runroot, 'crio-pods'),
    bundlesDir: path.join(runroot, 'crio-bundles'),
  };
}

/** A running daemon. */
export interface Daemon {
  deps: ServerDeps;
  close(): Promise<void>;
}

/** Builds every part from config, restores state, and serves the CRI on the socket. */
export async function startDaemon(config: Config, log: Logger): Promise<Daemon> {
  const layout = daemonLayout(config);
  for (const dir of [config.crio.root, config.crio.runroot, layout.podsDir, layout.bundlesDir, config.runtime.container_exits_dir]) {
    await fs.mkdir(dir, { recursive: true, mode: 0o711 });
  }
  const host = await probeHost();
  log.info('host probed', { apparmor: host.apparmor, selinux: host.selinux, seccomp: host.seccomp, canLowerOomScoreAdj: host.canLowerOomScoreAdj });

  const layerStore = new LayerStore({ root: layout.layers, log });
  await layerStore.init();
  const containerLayers = new ContainerLayers({ root: layout.containerLayers, layerStore, log });
  await containerLayers.init();
  const images = new ImageService({
    root: layout.images,
    registriesConfFile: config.registries_conf,
    shortNameMode: config.image.short_name_mode === 'disabled' ? 'disabled' : 'enforcing',
    layerSink: layerStore,
    log,
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
  const runtimes = await RuntimeHandlers.create(config, layout.bundlesDir, log);

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
    images,
    containerLayers,
    cni,
    runtimeFor: (handler) => runtimes.get(handler),
  };
  await restoreState(deps, log);

  const exitWatcher = watchExits(deps, log);
  const server = await startCriServer({
    socketPath: config.api.listen,
    runtime: runtimeHandlers(deps),
    image: imageHandlers(deps),
    rpcOptions: RPC_OPTIONS,
    maxSendBytes: config.api.grpc_max_send_msg_size,
    maxRecvBytes: config.api.grpc_max_recv_msg_size,
    log,
  });
  await writeMarker(config.crio.version_file, CRIO_TS_VERSION);
  // The clean-shutdown marker exists only between a clean stop and the next start.
  await fs.rm(config.crio.clean_shutdown_file, { force: true });
  log.info('crio-ts ready', { listen: config.api.listen, version: CRIO_TS_VERSION });
  return { deps, close: () => shutdown(server, exitWatcher, cni, config, log) };
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
    if (!deps.containers.find(id)) return;
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
  await writeMarker(config.crio.clean_shutdown_file, new Date().toISOString());
  log.info('crio-ts stopped');
}
