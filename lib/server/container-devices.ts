import type { ContainerConfig } from '../cri/gen/api';
import { devicePermissions, devicesFromPath, hostDevices, parseDeviceSpec } from '../oci/devices';
import type { SpecDeviceInput } from '../oci/spec-input';
import type { SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';

/**
 * Devices of a new container: crio.conf `additional_devices`, the host's devices for privileged
 * containers (unless the handler sets privileged_without_host_devices), then the CRI `devices`;
 * a later entry for the same container path wins.
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
  const handler = deps.config.runtime.runtimes[pod.runtimeHandler || deps.config.runtime.default_runtime];
  if (config.linux?.securityContext?.privileged && !handler?.privileged_without_host_devices) add(await hostDevices());
  for (const d of config.devices) {
    const perms = devicePermissions(d.permissions, `CreateContainer: device ${d.hostPath}`);
    add(await devicesFromPath(d.hostPath, d.containerPath, perms));
  }
  return [...byPath.values()];
}
