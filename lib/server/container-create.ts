import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ContainerConfig, type CreateContainerRequest, type CreateContainerResponse } from '../cri/gen/api';
import { CleanupStack } from '../cleanup';
import { withLogFields, type OpContext } from '../context';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { writeJsonAtomic } from '../fsutil';
import { generateSpec } from '../oci/spec';
import { containerName } from '../state/name-registry';
import { nowNs, RECORD_VERSION, type ContainerRecord } from '../state/records';
import { buildSpecInput } from './container-spec';
import type { ServerDeps } from './deps';
import { newId } from './ids';
import { findSandbox } from './lookup';

function validate(req: CreateContainerRequest): ContainerConfig {
  const config = req.config;
  if (!config) throw new InvalidArgumentError('CreateContainer: config is missing');
  if (!config.metadata || config.metadata.name === '') throw new InvalidArgumentError('CreateContainer: config.metadata.name is empty');
  if (!config.image || config.image.image === '') {
    throw new InvalidArgumentError(`CreateContainer: config.image.image of container ${config.metadata.name} is empty`);
  }
  return config;
}

/** The CRI log path: the pod's log directory joined with the container's relative log path. */
function logPathOf(deps: ServerDeps, podLogDir: string, config: ContainerConfig, id: string): string {
  const dir = podLogDir || path.join(deps.config.crio.log_dir, id);
  if (config.logPath === '') return path.join(dir, `${id}.log`);
  const joined = path.resolve(dir, config.logPath);
  if (!joined.startsWith(path.resolve(dir) + path.sep)) {
    throw new InvalidArgumentError(`CreateContainer: log_path ${JSON.stringify(config.logPath)} escapes the pod log directory ${dir}`);
  }
  return joined;
}

/**
 * CreateContainer: image → writable overlay rootfs, OCI spec, bundle, conmon + `runc create`,
 * record. Any failure undoes every step, so no mount, bundle, runtime state or name is left.
 */
export async function createContainer(deps: ServerDeps, ctx: OpContext, req: CreateContainerRequest): Promise<CreateContainerResponse> {
  const config = validate(req);
  const pod = findSandbox(deps, req.podSandboxId);
  if (pod.state !== 'ready') throw new FailedPreconditionError(`CreateContainer: pod sandbox ${pod.id} is not ready (it was stopped)`);
  const meta = config.metadata ?? { name: '', attempt: 0 };
  const image = deps.images.resolve(config.image?.image ?? '');
  const runtime = deps.runtimeFor(pod.runtimeHandler);

  const id = newId();
  const log = withLogFields(ctx, { containerId: id, podSandboxId: pod.id, image: image.id }).log;
  const reservedName = containerName(meta, pod.metadata);
  deps.containerNames.reserve(reservedName, id);
  const cleanup = new CleanupStack();
  cleanup.add('release container name', async () => deps.containerNames.release(reservedName, id));
  try {
    const logPath = logPathOf(deps, pod.logDirectory, config, id);
    await fs.mkdir(path.dirname(logPath), { recursive: true, mode: 0o755 });

    const topLayer = image.layers[image.layers.length - 1];
    if (!topLayer) throw new FailedPreconditionError(`image ${image.id} has no layers`);
    const { rootfs } = await deps.containerLayers.create(id, topLayer.chainId);
    cleanup.add('remove container layer', () => deps.containerLayers.remove(id));

    const bundleDir = path.join(deps.paths.bundlesDir, id);
    await fs.mkdir(bundleDir, { recursive: true, mode: 0o700 });
    cleanup.add('remove bundle', () => fs.rm(bundleDir, { recursive: true, force: true }));

    const { input, warnings } = await buildSpecInput(deps, { id, pod, config, image, rootfs });
    for (const w of warnings) log.warn('container config adjusted', { warning: w });
    await writeJsonAtomic(path.join(bundleDir, 'config.json'), generateSpec(input), 0o600);

    const created = await runtime.createContainer(
      { containerId: id, name: reservedName, bundleDir, logPath, terminal: config.tty, stdin: config.stdin, stdinOnce: config.stdinOnce },
      { log, signal: new AbortController().signal },
    );
    cleanup.add('delete runtime container', () => runtime.delete(id, true));

    const record: ContainerRecord = {
      version: RECORD_VERSION,
      id,
      podSandboxId: pod.id,
      reservedName,
      metadata: { name: meta.name, attempt: meta.attempt },
      labels: config.labels,
      annotations: config.annotations,
      image: { requested: config.image?.image ?? '', id: image.id, ref: image.repoDigests[0] ?? image.id },
      state: 'created',
      createdAtNs: nowNs(),
      startedAtNs: '0',
      finishedAtNs: '0',
      exitCode: 0,
      reason: '',
      message: '',
      pid: created.pid,
      logPath,
      bundleDir,
      rootfs,
      config: ContainerConfig.toJSON(config),
    };
    await deps.containers.create(record);
    cleanup.clear();
    log.info('container created', { name: meta.name, pid: created.pid });
    return { containerId: id };
  } catch (err) {
    await cleanup.run(log);
    throw err;
  }
}
