import type { Config } from '../config/config';
import type { MetricsRecorder } from '../metrics/recorder';
import type { ImageService } from '../image/image-service';
import type { WatchedSource } from '../file-watch';
import type { CdiRegistry } from '../oci/cdi-registry';
import type { LoadedDefaultMounts } from '../oci/default-mounts';
import type { LoadedHooks } from '../oci/hooks-cache';
import type { CniManager } from '../network/cni';
import type { OciRuntime } from '../oci/runtime';
import type { ContainerRecord, SandboxRecord } from '../state/records';
import type { NameRegistry } from '../state/name-registry';
import type { PodGate } from '../state/pod-gate';
import type { RecordStore } from '../state/record-store';
import type { ContainerLayers } from '../storage/container-layers';
import type { LayerGc } from '../storage/layer-gc';
import type { AbandonedCreates } from './abandoned-creates';
import type { ContainerEventBus } from './container-events';
import type { StatsCache } from './container-stats-read';
import type { RecordsInCreation } from './records-in-creation';

/** What the host supports, probed once at start (pure modules take it as input). */
export interface HostInfo {
  /** Capability names in the daemon's bounding set (CAP_X form). */
  capabilities: string[];
  apparmor: boolean;
  selinux: boolean;
  seccomp: boolean;
  /** Whether a negative oom_score_adj can be set (needs CAP_SYS_RESOURCE). */
  canLowerOomScoreAdj: boolean;
  /** Pods can get user namespaces: the kernel has them and overlayfs takes idmapped layers (Linux ≥ 5.19). */
  userNamespaces: boolean;
}

/** Directories the daemon owns, derived from config once. */
export interface DaemonPaths {
  /** Per-pod files (hostname, hosts, resolv.conf, shm): <runroot>/pods/<id>. */
  podsDir: string;
  /** OCI bundles and conmon files: <runroot>/containers/<id>. */
  bundlesDir: string;
}

/** The daemon's parts, wired in cmd/crio.ts; RPC files receive them. */
export interface ServerDeps {
  config: Config;
  host: HostInfo;
  paths: DaemonPaths;
  sandboxes: RecordStore<SandboxRecord>;
  containers: RecordStore<ContainerRecord>;
  podNames: NameRegistry;
  containerNames: NameRegistry;
  /** Refuses container work in a pod whose stop has begun, and lets the stop wait for work already running. */
  podGate: PodGate;
  images: ImageService;
  containerLayers: ContainerLayers;
  /** Removes layers no image or container uses; holds off while pulls run. */
  layerGc: LayerGc;
  cni: CniManager;
  /** Lifecycle events for GetContainerEvents streams. */
  events: ContainerEventBus;
  /** Previous CPU samples and writable-layer sizes between stats calls. */
  statsCache: StatsCache;
  /** Containers created for callers that gave up, waiting for their retry. */
  abandoned: AbandonedCreates;
  /** Pods and containers being created, as the inspect API shows them before their records exist. */
  creating: RecordsInCreation;
  /** CDI specs of cdi_spec_dirs, OCI hooks of hooks_dir, mounts.conf: in memory, reloaded when their files change. */
  cdi: WatchedSource<CdiRegistry>;
  hooks: WatchedSource<LoadedHooks>;
  defaultMounts: WatchedSource<LoadedDefaultMounts>;
  /** The OCI runtime for a handler name ('' = default_runtime); InvalidArgumentError if unknown. */
  runtimeFor(handler: string): OciRuntime;
  /** Prometheus metrics (a no-op recorder unless enable_metrics). */
  metrics: MetricsRecorder;
}
