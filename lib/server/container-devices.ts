import type { ContainerConfig } from '../cri/gen/api';
import { InvalidArgumentError } from '../errors';
import { deviceFromPath, devicePermissions, devicesFromPath, hostDevices, parseDeviceSpec } from '../oci/devices';
import type { SpecDeviceInput } from '../oci/spec-input';
import { ANNOTATIONS, annotationValue } from '../security/annotations';
import type { SandboxRecord } from '../state/records';
import { allowedAnnotationsOnly } from './container-security';
import type { ServerDeps } from './deps';

/**
 * Devices of a new container, in CRI-O's order (SpecAddDevices): crio.conf `additional_devices`,
 * the pod's `io.kubernetes.cri-o.Devices` annotation (when the handler allows it; each host device
 * must be in `allowed_devices`), the host's devices for privileged containers (unless the handler
 * sets privileged_without_host_devices), then the CRI `devices`, owned by the container's
 * runAsUser/runAsGroup with `device_ownership_from_security_context`. A later entry for the same
 * container path wins. CDI devices are added to the finished spec (container-extensions.ts).
 */
export async function containerDevices(deps: ServerDeps, pod: SandboxRecord, config: ContainerConfig): Promise<SpecDeviceInput[]> {
  const byPath = new Map<string, SpecDeviceInput>();
  const add = (list: SpecDeviceInput[]): void => {
    for (const d of list) byPath.set(d.device.path, d);
  };
  for (const spec of deps.config.runtime.additional_devices) {
    const d = parseDeviceSpec(spec);
    add(await devicesFromPath(d.hostPath, d.containerPath, d.permissions));
  }
  add(await annotationDevices(deps, pod));
  const handler = deps.config.runtime.runtimes[pod.runtimeHandler || deps.config.runtime.default_runtime];
  if (config.linux?.securityContext?.privileged && !handler?.privileged_without_host_devices) add(await hostDevices());
  const owner = deviceOwner(deps, config);
  for (const d of config.devices) {
    const perms = devicePermissions(d.permissions, `CreateContainer: device ${d.hostPath}`);
    add((await devicesFromPath(d.hostPath, d.containerPath, perms)).map((x) => ({ ...x, device: { ...x.device, ...owner(x.device) } })));
  }
  return [...byPath.values()];
}

/** The devices the pod's `io.kubernetes.cri-o.Devices` annotation asks for ("/host[:/ctr][:rwm],..."). */
async function annotationDevices(deps: ServerDeps, pod: SandboxRecord): Promise<SpecDeviceInput[]> {
  const value = annotationValue(allowedAnnotationsOnly(deps, pod.runtimeHandler, pod.annotations), ANNOTATIONS.devices);
  if (value === undefined) return [];
  const allowed = deps.config.runtime.allowed_devices;
  const out: SpecDeviceInput[] = [];
  for (const entry of value.split(',')) {
    if (entry === '') continue;
    const where = `CreateContainer: pod annotation ${ANNOTATIONS.devices}`;
    let d: ReturnType<typeof parseDeviceSpec>;
    try {
      d = parseDeviceSpec(entry);
    } catch (err) {
      throw new InvalidArgumentError(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (!allowed.includes(d.hostPath)) {
      throw new InvalidArgumentError(`${where}: device ${d.hostPath} is not in crio.runtime.allowed_devices (${allowed.join(', ') || 'empty'})`);
    }
    out.push(await deviceFromPath(d.hostPath, d.containerPath, d.permissions));
  }
  return out;
}

/** uid/gid for CRI devices: the run-as ids when the option is on and they are not root, else the host node's. */
function deviceOwner(deps: ServerDeps, config: ContainerConfig): (d: { uid?: number; gid?: number }) => { uid?: number; gid?: number } {
  const sc = config.linux?.securityContext;
  const runAs = (v: { value: bigint | number } | undefined): number | undefined => {
    const id = v === undefined ? 0 : Number(v.value);
    return deps.config.runtime.device_ownership_from_security_context && id > 0 ? id : undefined;
  };
  const uid = runAs(sc?.runAsUser);
  const gid = runAs(sc?.runAsGroup);
  return (d) => ({ uid: uid ?? d.uid, gid: gid ?? d.gid });
}
