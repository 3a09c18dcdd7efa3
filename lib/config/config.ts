/**
 * The crio.conf schema: one interface per TOML table, with fields spelled exactly as the TOML
 * keys so that decoding, validation and rendering need no name-mapping table that could drift.
 * defaultConfig() doubles as the schema for the decoder: the type of each default value is the
 * type the TOML key must have.
 */

import { COLLECTORS } from '../metrics/collectors';
import type { MetricsSettings } from '../metrics/start';

/** Where `crio` reads its main configuration file unless --config says otherwise. */
export const DEFAULT_CONFIG_FILE = '/etc/crio/crio.conf';

/** Where `crio` reads drop-in `*.conf` files unless --config-dir says otherwise. */
export const DEFAULT_CONFIG_DIR = '/etc/crio/crio.conf.d';

/** The registries.conf used when --registries-conf is not given. */
export const DEFAULT_REGISTRIES_CONF = '/etc/containers/registries.conf';

/** CRI-O's gRPC message size limit; also what a value <= 0 means. */
export const DEFAULT_GRPC_MAX_MSG_SIZE = 80 * 1024 * 1024;

/** The `[crio]` table: storage locations and node-lifecycle marker files. */
export interface RootConfig {
  root: string;
  runroot: string;
  storage_driver: string;
  storage_option: string[];
  log_dir: string;
  version_file: string;
  version_file_persist: string;
  clean_shutdown_file: string;
  internal_repair: boolean;
}

/** The `[crio.api]` table: the CRI socket and the streaming server. */
export interface ApiConfig {
  listen: string;
  stream_address: string;
  /** A string, as in CRI-O, so "0" (pick a free port) round-trips unchanged. */
  stream_port: string;
  stream_enable_tls: boolean;
  stream_tls_cert: string;
  stream_tls_key: string;
  stream_tls_ca: string;
  stream_idle_timeout: string;
  grpc_max_send_msg_size: number;
  grpc_max_recv_msg_size: number;
}

/** One `[crio.runtime.runtimes.<name>]` table: an OCI runtime handler. */
export interface RuntimeHandler {
  runtime_path: string;
  runtime_type: string;
  runtime_root: string;
  allowed_annotations: string[];
  privileged_without_host_devices: boolean;
  monitor_path: string;
  monitor_cgroup: string;
  monitor_env: string[];
  container_min_memory: string;
  seccomp_profile: string;
}

/** The `[crio.runtime]` table: how containers are created. */
export interface RuntimeConfig {
  default_runtime: string;
  runtimes: Record<string, RuntimeHandler>;
  conmon: string;
  conmon_cgroup: string;
  conmon_env: string[];
  cgroup_manager: string;
  default_env: string[];
  selinux: boolean;
  seccomp_profile: string;
  privileged_seccomp_profile: string;
  apparmor_profile: string;
  default_capabilities: string[];
  add_inheritable_capabilities: boolean;
  default_sysctls: string[];
  default_ulimits: string[];
  additional_devices: string[];
  allowed_devices: string[];
  cdi_spec_dirs: string[];
  device_ownership_from_security_context: boolean;
  pids_limit: number;
  log_size_max: number;
  log_level: string;
  log_filter: string;
  container_exits_dir: string;
  container_attach_socket_dir: string;
  drop_infra_ctr: boolean;
  namespaces_dir: string;
  pinns_path: string;
  read_only: boolean;
  hooks_dir: string[];
  default_mounts_file: string;
  enable_pod_events: boolean;
  absent_mount_sources_to_reject: string[];
  timezone: string;
  ctr_stop_timeout: number;
  infra_ctr_cpuset: string;
  seccomp_use_default_when_empty: boolean;
  no_pivot: boolean;
}

/** The `[crio.image]` table: pulling, trust policy and the pause image. */
export interface ImageConfig {
  default_transport: string;
  global_auth_file: string;
  pause_image: string;
  pause_image_auth_file: string;
  pause_command: string;
  pinned_images: string[];
  signature_policy: string;
  signature_policy_dir: string;
  image_volumes: string;
  insecure_registries: string[];
  big_files_temporary_dir: string;
  pull_progress_timeout: string;
  short_name_mode: string;
}

/** The `[crio.network]` table: CNI configuration and plugin locations. */
export interface NetworkConfig {
  cni_default_network: string;
  network_dir: string;
  plugin_dirs: string[];
  cni_status_grace_period: string;
}

/** The `[crio.metrics]` table: the Prometheus endpoint; lib/metrics, which serves it, owns the shape. */
export type MetricsConfig = MetricsSettings;

/** The `[crio.tracing]` table; parsed only. */
export interface TracingConfig {
  enable_tracing: boolean;
}

/** The `[crio.stats]` table; parsed only. */
export interface StatsConfig {
  collection_period: number;
}

/** The `[crio.nri]` table; parsed only. */
export interface NriConfig {
  enable_nri: boolean;
}

/** The whole configuration: the TOML tables plus settings that only exist as flags. */
export interface Config {
  crio: RootConfig;
  api: ApiConfig;
  runtime: RuntimeConfig;
  image: ImageConfig;
  network: NetworkConfig;
  metrics: MetricsConfig;
  tracing: TracingConfig;
  stats: StatsConfig;
  nri: NriConfig;
  /** --registries-conf; '' means DEFAULT_REGISTRIES_CONF. Not a TOML key. */
  registries_conf: string;
  /** The main config file this config was loaded from (informational). Not a TOML key. */
  config_file: string;
  /** The drop-in directory this config was loaded from (informational). Not a TOML key. */
  config_dir: string;
}

/** The names of the `[crio.<name>]` sub-tables, in the order crio.conf lists them. */
export const SUB_TABLES = ['api', 'runtime', 'image', 'network', 'metrics', 'tracing', 'stats', 'nri'] as const;

/** One of the `[crio.<name>]` sub-table names. */
export type SubTable = (typeof SUB_TABLES)[number];

/** Overrides taken from command-line flags; applied after every config file. */
export interface FlagOverrides {
  crio?: Partial<RootConfig>;
  api?: Partial<ApiConfig>;
  runtime?: Partial<Omit<RuntimeConfig, 'runtimes'>>;
  image?: Partial<ImageConfig>;
  network?: Partial<NetworkConfig>;
  metrics?: Partial<MetricsConfig>;
  registries_conf?: string;
}

/** The PATH conmon and the runtime see unless the handler says otherwise. */
const DEFAULT_MONITOR_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** A fresh handler with CRI-O's per-handler defaults; also the base of handlers a file adds. */
export function defaultRuntimeHandler(name: string): RuntimeHandler {
  return {
    runtime_path: '',
    runtime_type: 'oci',
    runtime_root: `/run/${name}`,
    allowed_annotations: [],
    privileged_without_host_devices: false,
    monitor_path: '',
    monitor_cgroup: '',
    monitor_env: [DEFAULT_MONITOR_PATH_ENV],
    container_min_memory: '12MiB',
    seccomp_profile: '',
  };
}

/** The built-in configuration (CRI-O's defaults, adapted to Debian where noted); fresh objects each call. */
export function defaultConfig(): Config {
  return {
    crio: {
      root: '/var/lib/containers/storage',
      runroot: '/run/containers/storage',
      storage_driver: 'overlay',
      storage_option: [],
      log_dir: '/var/log/crio/pods',
      version_file: '/var/run/crio/version',
      version_file_persist: '',
      clean_shutdown_file: '/var/lib/crio/clean.shutdown',
      internal_repair: true,
    },
    api: {
      listen: '/var/run/crio/crio.sock',
      stream_address: '127.0.0.1',
      stream_port: '0',
      stream_enable_tls: false,
      stream_tls_cert: '',
      stream_tls_key: '',
      stream_tls_ca: '',
      stream_idle_timeout: '',
      grpc_max_send_msg_size: DEFAULT_GRPC_MAX_MSG_SIZE,
      grpc_max_recv_msg_size: DEFAULT_GRPC_MAX_MSG_SIZE,
    },
    runtime: defaultRuntimeConfig(),
    image: {
      default_transport: 'docker://',
      global_auth_file: '',
      pause_image: 'registry.k8s.io/pause:3.10.1',
      pause_image_auth_file: '',
      pause_command: '/pause',
      pinned_images: [],
      signature_policy: '',
      signature_policy_dir: '/etc/crio/policies',
      image_volumes: 'mkdir',
      insecure_registries: [],
      big_files_temporary_dir: '',
      pull_progress_timeout: '0s',
      short_name_mode: 'enforcing',
    },
    network: {
      cni_default_network: '',
      network_dir: '/etc/cni/net.d/',
      // Debian's containernetworking-plugins installs into /usr/lib/cni.
      plugin_dirs: ['/opt/cni/bin/', '/usr/lib/cni'],
      cni_status_grace_period: '0s',
    },
    metrics: {
      enable_metrics: false,
      metrics_host: '127.0.0.1',
      metrics_port: 9090,
      metrics_socket: '',
      metrics_cert: '',
      metrics_key: '',
      metrics_collectors: [...COLLECTORS],
    },
    tracing: { enable_tracing: false },
    stats: { collection_period: 0 },
    // CRI-O defaults to true; crio-ts has no NRI, so an honest default is false.
    nri: { enable_nri: false },
    registries_conf: '',
    config_file: DEFAULT_CONFIG_FILE,
    config_dir: DEFAULT_CONFIG_DIR,
  };
}

function defaultRuntimeConfig(): RuntimeConfig {
  return {
    // CRI-O defaults to crun; Debian ships runc, so that is what crio-ts runs out of the box.
    default_runtime: 'runc',
    runtimes: { runc: defaultRuntimeHandler('runc') },
    conmon: '',
    conmon_cgroup: '',
    conmon_env: [],
    // CRI-O defaults to systemd; cgroupfs works on every node, systemd only where it is PID 1.
    cgroup_manager: 'cgroupfs',
    default_env: [],
    selinux: false,
    seccomp_profile: '',
    privileged_seccomp_profile: '',
    apparmor_profile: 'crio-default',
    default_capabilities: [
      'CAP_CHOWN',
      'CAP_DAC_OVERRIDE',
      'CAP_FSETID',
      'CAP_FOWNER',
      'CAP_SETGID',
      'CAP_SETUID',
      'CAP_SETPCAP',
      'CAP_NET_BIND_SERVICE',
      'CAP_KILL',
    ],
    add_inheritable_capabilities: false,
    default_sysctls: [],
    default_ulimits: [],
    additional_devices: [],
    allowed_devices: ['/dev/fuse', '/dev/net/tun'],
    cdi_spec_dirs: ['/etc/cdi', '/var/run/cdi'],
    device_ownership_from_security_context: false,
    pids_limit: -1,
    log_size_max: -1,
    log_level: 'info',
    log_filter: '',
    container_exits_dir: '/var/run/crio/exits',
    container_attach_socket_dir: '/var/run/crio',
    drop_infra_ctr: true,
    namespaces_dir: '/var/run',
    pinns_path: '',
    read_only: false,
    hooks_dir: ['/usr/share/containers/oci/hooks.d'],
    default_mounts_file: '',
    enable_pod_events: false,
    absent_mount_sources_to_reject: [],
    timezone: '',
    ctr_stop_timeout: 30,
    infra_ctr_cpuset: '',
    seccomp_use_default_when_empty: true,
    no_pivot: false,
  };
}
