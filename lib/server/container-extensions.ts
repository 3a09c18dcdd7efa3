import path from 'node:path';
import type { ContainerConfig } from '../cri/gen/api';
import { InvalidArgumentError, NotFoundError } from '../errors';
import { cdiAnnotationDevices } from '../oci/cdi-names';
import { applyCdiEdits } from '../oci/cdi-edits';
import { fillCdiDeviceNodes } from '../oci/cdi-host';
import { resolveCdiRequests, type CdiResolution } from '../oci/cdi-registry';
import { defaultMountInputs } from '../oci/default-mounts';
import { bindRelocatedDevices } from '../oci/device-binds';
import { applyOciHooks } from '../oci/hooks-apply';
import type { Spec, SpecInput, SpecMountInput } from '../oci/spec-input';
import type { Logger } from '../log';
import type { SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';
import { podRootIds } from './sandbox-userns';

/**
 * What node-level configuration adds to a container beyond its CRI request, in CRI-O's order:
 * mounts.conf binds (into the SpecInput), then on the generated spec the OCI hooks of hooks_dir
 * whose conditions match, then the CDI devices the container requests. All three read files only
 * through their in-memory caches (lib/oci/cdi-cache.ts, hooks-cache.ts, default-mounts.ts), so
 * a node without them pays nothing per container.
 */

/** The mounts.conf binds for a new container (copies under its bundle for a user-namespaced pod). */
export async function containerDefaultMounts(deps: ServerDeps, pod: SandboxRecord, bundleDir: string): Promise<{ inputs: SpecMountInput[]; warnings: string[] }> {
  const { mounts } = deps.defaultMounts.current();
  if (mounts.length === 0) return { inputs: [], warnings: [] };
  const copy = pod.userns ? { dir: path.join(bundleDir, 'default-mounts'), ...podRootIds(pod.userns) } : undefined;
  return defaultMountInputs(mounts, copy);
}

/** CDI devices requested by the CRI field, then by `cdi.k8s.io/*` annotations (a device in both counts once). */
export function cdiRequests(config: ContainerConfig): string[] {
  const fromCri = config.CDIDevices.map((d) => d.name);
  const annotated = cdiAnnotationDevices(config.annotations);
  if (typeof annotated === 'string') throw new InvalidArgumentError(`CreateContainer: ${annotated}`);
  return [...fromCri, ...annotated.filter((n) => !fromCri.includes(n))];
}

/** Resolves against the loaded specs; an unknown device makes the directories be read once more (a spec may have just been written). */
async function resolve(deps: ServerDeps, requested: string[]): Promise<CdiResolution> {
  try {
    return resolveCdiRequests(deps.cdi.current(), requested);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    return resolveCdiRequests(await deps.cdi.refresh(), requested);
  }
}

/** Container paths of devices whose host node lives elsewhere. */
function relocatedDevices(input: SpecInput): Map<string, string> {
  return new Map((input.devices ?? []).flatMap((d) => (d.hostPath === undefined ? [] : [[d.device.path, d.hostPath] as [string, string]])));
}

/** Adds OCI hooks and CDI devices to a generated spec; errors name the device and the spec file. */
export async function extendSpec(deps: ServerDeps, log: Logger, src: { pod: SandboxRecord; config: ContainerConfig; input: SpecInput }, generated: Spec): Promise<Spec> {
  const { pod, config } = src;
  const hooked = applyOciHooks(generated, deps.hooks.current().hooks, {
    annotations: { ...config.annotations, ...pod.annotations },
    command: generated.process?.args?.[0],
    hasBindMounts: config.mounts.length > 0,
  });
  if (hooked.matched.length > 0) log.info('OCI hooks added', { hooks: hooked.matched.join(', ') });
  let spec = hooked.spec;
  const hostPaths = relocatedDevices(src.input);
  const requested = cdiRequests(config);
  if (requested.length > 0) {
    const resolution = await resolve(deps, requested);
    const applied = applyCdiEdits(spec, await fillCdiDeviceNodes(resolution.edits), { userns: pod.userns !== undefined });
    spec = applied.spec;
    for (const [ctr, host] of applied.deviceHostPaths) hostPaths.set(ctr, host);
    log.info('CDI devices injected', { devices: resolution.devices.join(', ') });
  }
  return pod.userns ? bindRelocatedDevices(spec, hostPaths) : spec;
}
