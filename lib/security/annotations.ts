import { InvalidArgumentError } from '../errors';
import { quote } from '../quote';

/**
 * CRI-O's experimental annotations and their gating (pkg/annotations/v2, `FilterDisallowedAnnotations`),
 * pure. Every annotation in GATED_ANNOTATIONS is removed from pod and container annotations unless the
 * runtime handler's `allowed_annotations` lists it, so a pod cannot switch on behaviour the node
 * operator did not allow. Matching is by prefix, as in CRI-O.
 */

/** The v2 names (`<feature>.crio.io`) crio-ts reads. */
export const ANNOTATIONS = {
  seccompProfile: 'seccomp-profile.crio.io',
  seccompNotifierAction: 'seccomp-notifier-action.crio.io',
  umask: 'umask.crio.io',
  usernsMode: 'userns-mode.crio.io',
  devices: 'devices.crio.io',
  shmSize: 'shm-size.crio.io',
  trySkipVolumeSelinuxLabel: 'try-skip-volume-selinux-label.crio.io',
} as const;

/** v2 name → the v1 name CRI-O still reads. */
const V1_NAMES: Readonly<Record<string, string>> = {
  'cgroup2-mount-hierarchy-rw.crio.io': 'io.kubernetes.cri-o.cgroup2-mount-hierarchy-rw',
  'devices.crio.io': 'io.kubernetes.cri-o.Devices',
  'disable-fips.crio.io': 'io.kubernetes.cri-o.DisableFIPS',
  'link-logs.crio.io': 'io.kubernetes.cri-o.LinkLogs',
  'platform-runtime-path.crio.io': 'io.kubernetes.cri-o.PlatformRuntimePath',
  'pod-linux-overhead.crio.io': 'io.kubernetes.cri-o.PodLinuxOverhead',
  'pod-linux-resources.crio.io': 'io.kubernetes.cri-o.PodLinuxResources',
  'seccomp-notifier-action.crio.io': 'io.kubernetes.cri-o.seccompNotifierAction',
  'seccomp-profile.crio.io': 'seccomp-profile.kubernetes.cri-o.io',
  'shm-size.crio.io': 'io.kubernetes.cri-o.ShmSize',
  'spoofed.crio.io': 'io.kubernetes.cri-o.Spoofed',
  'try-skip-volume-selinux-label.crio.io': 'io.kubernetes.cri-o.TrySkipVolumeSELinuxLabel',
  'umask.crio.io': 'io.kubernetes.cri-o.umask',
  'unified-cgroup.crio.io': 'io.kubernetes.cri-o.UnifiedCgroup',
  'userns-mode.crio.io': 'io.kubernetes.cri-o.userns-mode',
};

/** Every annotation (prefix) that must be allowed per handler before it has any effect (`AllAllowedAnnotations`). */
export const GATED_ANNOTATIONS: readonly string[] = [
  'io.kubernetes.cri.rdt-class', 'bundle', 'org.systemd.property.', 'org.criu.config', 'module.wasm.image/variant',
  'io.kubernetes.cri.container-type', 'run.oci.',
  'cgroup2-mount-hierarchy-rw.crio.io', 'cpu-c-states.crio.io', 'cpu-freq-governor.crio.io', 'cpu-load-balancing.crio.io',
  'cpu-quota.crio.io', 'cpu-shared.crio.io', 'devices.crio.io', 'disable-fips.crio.io', 'irq-load-balancing.crio.io',
  'link-logs.crio.io', 'io.containers.trace-syscall', 'platform-runtime-path.crio.io', 'pod-linux-overhead.crio.io',
  'pod-linux-resources.crio.io', 'seccomp-notifier-action.crio.io', 'seccomp-profile.crio.io', 'shm-size.crio.io',
  'spoofed.crio.io', 'org.opencontainers.image.stopSignal', 'try-skip-volume-selinux-label.crio.io', 'umask.crio.io',
  'unified-cgroup.crio.io', 'userns-mode.crio.io',
  ...Object.values(V1_NAMES),
];

/** Throws for an `allowed_annotations` entry CRI-O would reject ("invalid allowed_annotation"). */
export function validateAllowedAnnotations(allowed: readonly string[], key: string): void {
  for (const a of allowed) {
    if (!GATED_ANNOTATIONS.includes(a)) throw new InvalidArgumentError(`${key}: invalid allowed_annotation ${quote(a)}`);
  }
}

/** Annotations without the gated ones the handler does not allow; `removed` lists the dropped keys. */
export function filterDisallowedAnnotations(
  annotations: Readonly<Record<string, string>>,
  allowed: readonly string[],
): { kept: Record<string, string>; removed: string[] } {
  const disallowed = GATED_ANNOTATIONS.filter((a) => !allowed.includes(a));
  const kept: Record<string, string> = {};
  const removed: string[] = [];
  for (const [key, value] of Object.entries(annotations)) {
    if (disallowed.some((d) => key.startsWith(d))) removed.push(key);
    else kept[key] = value;
  }
  return { kept, removed };
}

/**
 * Reads an annotation by its v2 name, falling back to the v1 name, including container-specific forms
 * (`seccomp-profile.crio.io/<ctr>` ↔ `seccomp-profile.kubernetes.cri-o.io/<ctr>`).
 */
export function annotationValue(annotations: Readonly<Record<string, string>>, v2Key: string): string | undefined {
  if (Object.hasOwn(annotations, v2Key)) return annotations[v2Key];
  for (const [v2Base, v1Base] of Object.entries(V1_NAMES)) {
    if (v2Key === v2Base || (v2Key.startsWith(v2Base) && (v2Key[v2Base.length] === '/' || v2Key[v2Base.length] === '.'))) {
      const v1Key = v1Base + v2Key.slice(v2Base.length);
      if (Object.hasOwn(annotations, v1Key)) return annotations[v1Key];
    }
  }
  return undefined;
}
