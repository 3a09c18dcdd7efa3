/**
 * One comment per crio.conf table and key, printed by `crio config` and in conf/crio.conf.
 * The mapped types make the compiler reject a key without a comment.
 */
import type {
  ApiConfig,
  ImageConfig,
  MetricsConfig,
  NetworkConfig,
  NriConfig,
  RootConfig,
  RuntimeConfig,
  RuntimeHandler,
  StatsConfig,
  TracingConfig,
} from './config';

/** A comment for every key of T; '\n' separates comment lines. */
export type KeyDocs<T> = { readonly [K in keyof T]: string };

/** Comments for the keys of [crio]. */
export const ROOT_DOCS: KeyDocs<RootConfig> = {
  root: 'Graph root of the containers/storage store shared with podman (images, layers, containers) and crio-ts records; default: storage.conf graphroot.',
  runroot: 'Run root for run-time state (mount counts, bundles); tmpfs, so it is empty after a reboot; default: storage.conf runroot.',
  storage_driver: 'Storage driver; crio-ts implements only "overlay"; default: storage.conf driver.',
  storage_option: 'Storage driver options, appended to storage.conf\'s: "overlay.mountopt=nodev", "overlay.imagestore=/path" (read-only), "overlay.skip_mount_home=true".',
  log_dir: 'Where pod logs go when the kubelet does not name a log directory.',
  version_file: 'Marker on tmpfs; when it is missing the node rebooted and old containers are wiped at start.',
  version_file_persist: 'Persistent marker; when its version differs, images are wiped too. Empty: never wipe images.',
  clean_shutdown_file: 'Written on a clean shutdown; if absent at start, storage is checked for damage.',
  internal_repair: 'After an unclean shutdown, check storage and repair or wipe what is damaged.',
};

/** Comments for the keys of [crio.api]. */
export const API_DOCS: KeyDocs<ApiConfig> = {
  listen: 'Unix socket the kubelet connects to for CRI gRPC.',
  stream_address: 'Address of the streaming server used by exec, attach and port-forward.',
  stream_port: 'Port of the streaming server; "0" picks a free port.',
  stream_enable_tls: 'Serve the streaming server over TLS.',
  stream_tls_cert: 'Certificate file for the streaming server when TLS is enabled.',
  stream_tls_key: 'Private key file for the streaming server when TLS is enabled.',
  stream_tls_ca: 'CA file to verify streaming clients; empty: clients are not verified.',
  stream_idle_timeout: 'Close idle streaming connections after this Go duration; empty: never.',
  grpc_max_send_msg_size: 'Largest gRPC message sent, in bytes; <= 0 means 80 MiB.',
  grpc_max_recv_msg_size: 'Largest gRPC message accepted, in bytes; <= 0 means 80 MiB.',
};

/** Comments for the keys of [crio.runtime]. */
export const RUNTIME_DOCS: KeyDocs<RuntimeConfig> = {
  default_runtime:
    'Handler used when the pod names none; must be a [crio.runtime.runtimes.<name>] table.\n' +
    'CRI-O defaults to "crun"; crio-ts defaults to "runc", which Debian ships.',
  runtimes: 'OCI runtime handlers, one table each.',
  conmon: 'conmon binary; empty: the handler monitor_path, else conmon from $PATH (deprecated).',
  conmon_cgroup: 'Cgroup for conmon; deprecated in favour of the handler monitor_cgroup, which it overrides when set.',
  conmon_env: 'Environment for conmon; deprecated in favour of the handler monitor_env.',
  cgroup_manager:
    'Cgroup driver, "cgroupfs" or "systemd"; must match the kubelet cgroupDriver.\n' +
    '"systemd" needs systemd as init (/run/systemd/system) and slice cgroup parents such as\n' +
    'kubepods-besteffort-pod<uid>.slice; containers then run in crio-<id>.scope units, conmon in crio-conmon-<id>.scope.\n' +
    'CRI-O defaults to "systemd"; crio-ts defaults to "cgroupfs", which works without systemd.',
  default_env: 'KEY=VALUE variables added to every container; image and pod values win.',
  selinux: 'Label containers with SELinux.',
  seccomp_profile: 'Seccomp profile (JSON file) for RuntimeDefault; empty: the built-in profile.',
  privileged_seccomp_profile: 'If set, privileged containers run with this profile instead of unconfined.',
  apparmor_profile: 'AppArmor profile for RuntimeDefault; "unconfined" disables AppArmor.',
  default_capabilities: 'Capabilities of non-privileged containers unless the pod adds or drops some.',
  add_inheritable_capabilities: 'Also put the capabilities into the inheritable set.',
  default_sysctls: 'key=value sysctls (no spaces) applied to every pod.',
  default_ulimits: 'name=soft:hard rlimits for every container, such as "nofile=1024:2048".',
  additional_devices:
    'Devices added to every container: "/host", "/host:/ctr", "/host:rwm" or "/host:/ctr:rwm";\n' +
    'the container path must be under /dev/, permissions default to "rwm".',
  allowed_devices:
    'Host devices a pod may request with the io.kubernetes.cri-o.Devices (devices.crio.io) pod annotation,\n' +
    'in the additional_devices format separated by commas; the handler must list the annotation\n' +
    'in allowed_annotations.',
  cdi_spec_dirs:
    'Directories of CDI (Container Device Interface) specs, *.json and *.yaml, CDI versions 0.3.0 to 1.1.0.\n' +
    'A device defined in two directories comes from the later one; twice in one directory, it cannot be used.\n' +
    'Containers request devices by the CRI CDI_devices field or cdi.k8s.io/<key> annotations,\n' +
    'as "vendor.com/class=name"; "vendor.com/class=all" means every device of that kind unless a spec\n' +
    'defines a device named "all". Changes to the directories are picked up while crio runs, and\n' +
    'a changed list applies on SIGHUP.',
  device_ownership_from_security_context:
    'Own the CRI devices of a container by its runAsUser/runAsGroup (when not 0) instead of\n' +
    'by the host node\'s owner, as device plugins expect for non-root pods. In a pod with a user\n' +
    'namespace, devices are bind-mounted and keep the host ownership.',
  pids_limit: 'Maximum processes per container; -1: no limit (prefer kubelet --pod-pids-limit).',
  log_size_max: 'Maximum container log size in bytes, at least 8192; -1: no limit (the kubelet rotates).',
  log_level: 'Daemon log level: fatal, panic, error, warn, info, debug or trace.',
  log_filter: 'Only log daemon messages matching this regular expression; empty: all.',
  container_exits_dir: 'Where conmon writes a file with the exit code of each container.',
  container_attach_socket_dir: 'Where conmon creates the attach sockets.',
  drop_infra_ctr: 'Run no pause container unless the pod shares its PID namespace.',
  namespaces_dir: 'Where pod namespaces are pinned (netns/, ipcns/, utsns/).',
  pinns_path: 'pinns binary; empty: from $PATH.',
  read_only: 'Make every container root filesystem read-only, with tmpfs on /run, /tmp and /var/tmp.',
  hooks_dir:
    'Directories of OCI hook definitions (oci-hooks(5), *.json, schema 1.0.0 or 0.1.0); a file in a later\n' +
    'directory masks one of the same name in an earlier one. A directory that does not exist is used\n' +
    'once it appears; changes are picked up while crio runs. A hook whose executable is missing, or\n' +
    'that does not parse, is refused with an error in the log.',
  default_mounts_file:
    'File of default mounts, one "/SRC:/DST" per line, bind-mounted read-only into every container\n' +
    '(copied and owned by the pod\'s root for pods with a user namespace); a missing SRC is skipped.\n' +
    'Empty: the first of /etc/containers/mounts.conf and /usr/share/containers/mounts.conf that exists.\n' +
    'CRI-O copies the data into every container instead of binding it.',
  enable_pod_events: 'Serve GetContainerEvents (evented PLEG).',
  absent_mount_sources_to_reject: 'Host paths that must exist when mounted; otherwise the create fails.',
  timezone: 'Time zone for containers, "Local" or an IANA name; empty: the image default.',
  ctr_stop_timeout: 'Minimum container stop timeout in seconds; values below 30 are raised to 30.',
  infra_ctr_cpuset: 'CPUs for infra containers; empty: no pinning.',
  seccomp_use_default_when_empty: 'Use RuntimeDefault when the pod asks for no seccomp profile.',
  no_pivot: 'Create containers with MS_MOVE instead of pivot_root (for ramdisk roots).',
};

/** Comments for the keys of [crio.runtime.runtimes.<name>]. */
export const HANDLER_DOCS: KeyDocs<RuntimeHandler> = {
  runtime_path: 'Runtime binary; empty: the handler name looked up in $PATH.',
  runtime_type: 'Runtime type; crio-ts supports only "oci".',
  runtime_root: 'State directory passed to the runtime as --root.',
  allowed_annotations: 'Experimental annotations this handler may act on; others are ignored.',
  privileged_without_host_devices: 'Do not give privileged containers the host devices.',
  monitor_path: 'conmon binary for this handler; empty: conmon from $PATH.',
  monitor_cgroup:
    'Cgroup for conmon; "pod" puts it into the pod cgroup; empty: the daemon cgroup.\n' +
    'With cgroup_manager "systemd": "pod" or a slice for its crio-conmon-<id>.scope; empty: system.slice.\n' +
    'With "cgroupfs" only "pod" or empty are valid ("system.slice", CRI-O\'s default, counts as empty).',
  monitor_env: 'Environment for conmon and the runtime.',
  container_min_memory: 'Smallest memory limit a container may have, such as "12MiB".',
  seccomp_profile: 'RuntimeDefault seccomp profile for this handler; wins over [crio.runtime].',
};

/** Comments for the keys of [crio.image]. */
export const IMAGE_DOCS: KeyDocs<ImageConfig> = {
  default_transport: 'Transport prefix for image names without one.',
  global_auth_file: 'auth.json-format credentials used for every pull; empty: the usual locations.',
  pause_image: 'Image of the pause (infra) container; it is never garbage-collected.',
  pause_image_auth_file: 'Credentials for pulling the pause image.',
  pause_command: 'Command the pause container runs.',
  pinned_images: 'Images the kubelet must not garbage-collect: exact names, "prefix*" or "*keyword*".',
  signature_policy: 'Signature policy file; empty: /etc/containers/policy.json.',
  signature_policy_dir: 'Per-namespace policies, <dir>/<namespace>.json, used before the global one.',
  image_volumes: 'Image VOLUMEs: "mkdir" in the rootfs, "bind" from a per-container dir, or "ignore".',
  insecure_registries: 'Deprecated and ignored; mark registries insecure in registries.conf.',
  big_files_temporary_dir: 'Where downloads are staged; empty: /var/tmp.',
  pull_progress_timeout: 'Cancel a pull that makes no progress for this Go duration; "0s": never.',
  short_name_mode: 'Short image names: "enforcing" fails when ambiguous, "disabled" tries every registry.',
};

/** Comments for the keys of [crio.network]. */
export const NETWORK_DOCS: KeyDocs<NetworkConfig> = {
  cni_default_network: 'CNI network to use; empty: the first configuration found in network_dir.',
  network_dir: 'Directory of CNI network configurations.',
  plugin_dirs:
    'Directories searched for CNI plugin binaries.\n' +
    'crio-ts adds Debian\'s /usr/lib/cni to CRI-O\'s default ["/opt/cni/bin/"].',
  cni_status_grace_period: 'Poll CNI status and wait this Go duration before reporting NotReady; "0s": off.',
};

/** Comments for the keys of [crio.metrics]. */
export const METRICS_DOCS: KeyDocs<MetricsConfig> = {
  enable_metrics: 'Serve Prometheus metrics (CRI-O\'s names) at /metrics.',
  metrics_host: 'Address of the metrics endpoint.',
  metrics_port: 'Port of the metrics endpoint (0: any free port, logged at start).',
  metrics_socket: 'Also serve the metrics on this unix socket; empty: TCP only.',
  metrics_cert: 'TLS certificate (PEM) for the metrics endpoint; with metrics_key it serves HTTPS.\nRe-read when the file changes.',
  metrics_key: 'TLS private key (PEM) for metrics_cert.',
  metrics_collectors: 'The metrics to serve, by CRI-O\'s collector names (with or without the "crio_" prefix).',
};

/** Comments for the keys of [crio.tracing]. */
export const TRACING_DOCS: KeyDocs<TracingConfig> = {
  enable_tracing: 'Export OpenTelemetry traces; not supported by crio-ts (a warning is logged).',
};

/** Comments for the keys of [crio.stats]. */
export const STATS_DOCS: KeyDocs<StatsConfig> = {
  collection_period: 'Seconds between background stats collections; 0: collect on demand.',
};

/** Comments for the keys of [crio.nri]. */
export const NRI_DOCS: KeyDocs<NriConfig> = {
  enable_nri: 'Enable NRI plugins; not supported by crio-ts (CRI-O defaults to true).',
};
