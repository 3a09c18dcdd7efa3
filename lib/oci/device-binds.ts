import type { Spec } from './spec-input';
import type { Mount } from './spec.gen';

/**
 * In a user namespace runc cannot mknod(2), so it bind-mounts each `linux.devices` entry from the
 * host path equal to its container path. A device whose host node lives elsewhere (a CRI device
 * `/dev/null` → `/dev/vendor0`, a CDI `hostPath`) would then be looked for at the wrong host
 * path; it becomes a bind mount of its real host node instead, keeping its cgroup rule. Pure.
 */

const depth = (destination: string): number => destination.split('/').filter(Boolean).length;

/** `input` with relocated devices turned into bind mounts; `hostPaths` maps container path → host path. */
export function bindRelocatedDevices(input: Spec, hostPaths: ReadonlyMap<string, string>): Spec {
  const devices = input.linux?.devices ?? [];
  const moved = devices.filter((d) => {
    const host = hostPaths.get(d.path);
    return host !== undefined && host !== d.path;
  });
  if (moved.length === 0) return input;
  const spec = structuredClone(input);
  const linux = (spec.linux ??= {});
  linux.devices = devices.filter((d) => !moved.includes(d)).map((d) => ({ ...d }));
  const binds: Mount[] = moved.map((d) => ({ destination: d.path, type: 'bind', source: hostPaths.get(d.path) ?? d.path, options: ['bind', 'nosuid', 'noexec'] }));
  const paths = new Set(binds.map((b) => b.destination));
  const mounts = [...(spec.mounts ?? []).filter((m) => !paths.has(m.destination)), ...binds];
  spec.mounts = mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i).map((x) => x.m);
  return spec;
}
