import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerStatusRequest, ContainerStatusResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { containerConfig, toCriContainerStatus } from './container-convert';
import { imageSignalEnum } from './container-ops';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';

/**
 * ContainerStatus: state, timestamps, exit code, reason (Completed / Error / OOMKilled) and
 * termination message, image, mounts, log path, resources in effect, user; verbose adds CRI-O's
 * info document (sandboxID, pid, runtimeSpec, privileged).
 */
export async function containerStatus(deps: ServerDeps, _ctx: OpContext, req: ContainerStatusRequest): Promise<ContainerStatusResponse> {
  const record = findContainer(deps, req.containerId);
  const status = toCriContainerStatus(record);
  if (status.stopSignal === 0) status.stopSignal = imageSignalEnum((await deps.images.status(record.image.id))?.config.stopSignal ?? '');
  const info: Record<string, string> = {};
  if (req.verbose) {
    const spec: unknown = await fs.readFile(path.join(record.bundleDir, 'config.json'), 'utf8').then(
      (text) => JSON.parse(text) as unknown,
      () => undefined,
    );
    info.info = JSON.stringify({
      sandboxID: record.podSandboxId,
      pid: record.pid,
      privileged: containerConfig(record).linux?.securityContext?.privileged ?? false,
      runtimeSpec: spec ?? null,
      bundle: record.bundleDir,
      rootfs: record.rootfs,
      config: record.config,
    });
  }
  return { status, info };
}
