import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { ContainerStatus, ContainerStatusRequest, ContainerStatusResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import { containerConfig, toCriContainerStatus } from './container-convert';
import { imageSignalEnum } from './container-ops';
import type { ServerDeps } from './deps';
import { findContainer } from './lookup';
import type { ContainerRecord } from '../state/records';

const withSignal = new WeakMap<ContainerRecord, ContainerStatus>();

/** The status with the image's STOPSIGNAL when the container config names none, once per record version. */
async function withImageStopSignal(deps: ServerDeps, record: ContainerRecord): Promise<ContainerStatus> {
  let status = withSignal.get(record);
  if (status === undefined) {
    const base = toCriContainerStatus(record);
    status = base.stopSignal === 0 ? { ...base, stopSignal: imageSignalEnum((await deps.images.status(record.image.id))?.config.stopSignal ?? '') } : base;
    withSignal.set(record, status);
  }
  return status;
}

/**
 * ContainerStatus: state, timestamps, exit code, reason (Completed / Error / OOMKilled) and
 * termination message, image, mounts, log path, resources in effect, user; verbose adds CRI-O's
 * info document (sandboxID, pid, runtimeSpec, privileged).
 */
export async function containerStatus(deps: ServerDeps, _ctx: OpContext, req: ContainerStatusRequest): Promise<ContainerStatusResponse> {
  const record = findContainer(deps, req.containerId);
  const status = await withImageStopSignal(deps, record);
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
