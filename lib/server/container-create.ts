import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ContainerConfig, ContainerEventType, CreateContainerRequest, type CreateContainerResponse } from '../cri/gen/api';
import { containerStorageEntry } from './storage-names';
import { allDone, CleanupStack } from '../cleanup';
import { backgroundContext, withLogFields, type OpContext } from '../context';
import { FailedPreconditionError, InvalidArgumentError } from '../errors';
import { writeFileAtomic } from '../fsutil';
import { generateSpec } from '../oci/spec';
import { serializeSpec } from '../oci/spec-json';
import { requestFingerprint } from '../state/fingerprint';
import { containerName } from '../state/name-registry';
import { isClaimed, nowNs, RECORD_VERSION, type ContainerRecord, type SandboxRecord } from '../state/records';
import { imageNameForStatus } from '../image/image-id';
import { emitContainerEvent } from './container-events';
import { extendSpec } from './container-extensions';
import { allowedAnnotationsOnly } from './container-security';
import { buildSpecInput } from './container-spec';
import type { ServerDeps } from './deps';
import { newId } from './ids';
import { checkCpusets } from './container-resources';
import { checkArgs, checkName, checkNoNulBytes, checkPath } from './request-rules';
import { findSandbox } from './lookup';
import { faultPoint } from '../fault-points';
import { quote } from '../quote';

/** The request's own rules, checked before anything is made (request-rules.ts, cpuset.ts). */
async function validate(req: CreateContainerRequest): Promise<ContainerConfig> {
  const config = req.config;
  if (!config) throw new InvalidArgumentError('CreateContainer: config is missing');
  if (!config.metadata) throw new InvalidArgumentError('CreateContainer: config.metadata is missing');
  checkName('CreateContainer: config.metadata.name', config.metadata.name);
  if (!config.image || config.image.image === '') {
    throw new InvalidArgumentError(`CreateContainer: config.image.image of container ${config.metadata.name} is empty`);
  }
  config.mounts.forEach((m, i) => {
    checkPath(`CreateContainer: config.mounts[${i}].host_path`, m.hostPath);
    checkPath(`CreateContainer: config.mounts[${i}].container_path`, m.containerPath);
  });
  checkArgs('CreateContainer: config.command', config.command);
  checkArgs('CreateContainer: config.args', config.args);
  checkArgs('CreateContainer: config.envs', config.envs.map((e) => `${e.key}=${e.value}`));
  checkPath('CreateContainer: config.log_path', config.logPath);
  checkPath('CreateContainer: config.working_dir', config.workingDir);
  checkNoNulBytes('CreateContainer: config', config);
  await checkCpusets('CreateContainer: config.linux.resources', config.linux?.resources);
  return config;
}

/**
 * The CRI log path: the pod's log directory (CRI-O: `<log_dir>/<pod id>` when the kubelet gave
 * none) joined with the container's relative log path, `<container id>.log` by default.
 */
function logPathOf(deps: ServerDeps, pod: SandboxRecord, config: ContainerConfig, id: string): string {
  const dir = pod.logDirectory || path.join(deps.config.crio.log_dir, pod.id);
  if (config.logPath === '') return path.join(dir, `${id}.log`);
  const joined = path.resolve(dir, config.logPath);
  if (!joined.startsWith(path.resolve(dir) + path.sep)) {
    throw new InvalidArgumentError(`CreateContainer: log_path ${quote(config.logPath)} escapes the pod log directory ${dir}`);
  }
  return joined;
}

/** Spec annotations CRI-O writes for tooling (`io.kubernetes.cri-o.*`) and the image's stop signal. */
function crioAnnotations(r: Omit<ContainerRecord, 'config'>, config: ContainerConfig, pod: SandboxRecord, stopSignal: string): Record<string, string> {
  return {
    'io.kubernetes.cri-o.ContainerID': r.id,
    'io.kubernetes.cri-o.Name': r.reservedName,
    'io.kubernetes.cri-o.Metadata': JSON.stringify(r.metadata),
    'io.kubernetes.cri-o.Image': r.image.id,
    'io.kubernetes.cri-o.ImageName': r.image.requested,
    'io.kubernetes.cri-o.ImageRef': r.image.ref,
    'io.kubernetes.cri-o.LogPath': r.logPath,
    'io.kubernetes.cri-o.TTY': String(config.tty),
    'io.kubernetes.cri-o.Stdin': String(config.stdin),
    'io.kubernetes.cri-o.StdinOnce': String(config.stdinOnce),
    'io.kubernetes.cri-o.Labels': JSON.stringify(r.labels),
    'io.kubernetes.cri-o.Annotations': JSON.stringify(r.annotations),
    'io.kubernetes.cri-o.MountPoint': r.rootfs,
    'io.kubernetes.cri-o.SandboxName': pod.reservedName,
    'io.kubernetes.cri-o.Created': new Date(Number(BigInt(r.createdAtNs) / 1_000_000n)).toISOString(),
    ...(stopSignal === '' ? {} : { 'org.opencontainers.image.stopSignal': stopSignal }),
  };
}

interface CreateJob {
  id: string;
  reservedName: string;
  fingerprint: string;
  pod: SandboxRecord;
  config: ContainerConfig;
}

/**
 * The create itself: image → writable overlay rootfs, OCI spec, bundle, conmon + `runc create`,
 * record. Any failure undoes every step, so no mount, bundle or runtime state is left. It never
 * watches the caller's signal: a kubelet that timed out retries and gets this container's ID.
 */
async function create(deps: ServerDeps, ctx: OpContext, job: CreateJob): Promise<void> {
  const { id, pod, config } = job;
  const meta = config.metadata ?? { name: '', attempt: 0 };
  const image = await deps.images.resolve(config.image?.image ?? '');
  const runtime = deps.runtimeFor(pod.runtimeHandler);
  const log = withLogFields(ctx, { containerId: id, podSandboxId: pod.id, image: image.id }).log;
  // As CRI-O: the signature policy is checked again for the name the kubelet asked for, so an
  // image pulled under one name cannot run under another name the policy rejects.
  const userSpecified = config.image?.userSpecifiedImage ?? '';
  if (userSpecified !== '') await deps.images.verifyStoredImage(image, userSpecified, pod.metadata.namespace, withLogFields(ctx, { image: image.id }));
  const cleanup = new CleanupStack();
  try {
    const logPath = logPathOf(deps, pod, config, id);
    if (!image.topLayer) throw new FailedPreconditionError(`image ${image.id} has no layers`);
    const idMappings = pod.userns ? { uids: pod.userns.uids, gids: pod.userns.gids } : undefined;
    const entry = containerStorageEntry({
      podId: pod.id,
      podReservedName: pod.reservedName,
      reservedName: job.reservedName,
      metadataName: meta.name,
      attempt: meta.attempt,
      imageName: userSpecified || (config.image?.image ?? ''),
      imageId: image.id,
      privileged: config.linux?.securityContext?.privileged ?? false,
    });
    const bundleDir = path.join(deps.paths.bundlesDir, id);
    cleanup.add('remove bundle', () => fs.rm(bundleDir, { recursive: true, force: true }));
    // The layer first: its records' fsyncs are the longest chain before the runtime, and it needs
    // neither the bundle nor the log directory.
    const layer = deps.containerLayers.create(id, { imageId: image.id, ...entry, idMappings });
    const dirs = allDone([
      fs.mkdir(path.dirname(logPath), { recursive: true, mode: 0o755 }),
      // In a user namespace runc mounts the bundle's files (termination log, volumes) as the pod's root.
      fs.mkdir(bundleDir, { recursive: true, mode: pod.userns ? 0o711 : 0o700 }),
    ]);
    // conmon starts once the directories are there and waits on its start pipe until the bundle
    // is complete: its spawn (which blocks the event loop) and start-up overlap the layer's I/O.
    const conmon = dirs.then(() =>
      runtime.prepareCreate(
        { containerId: id, name: job.reservedName, bundleDir, logPath, terminal: config.tty, stdin: config.stdin, stdinOnce: config.stdinOnce },
        backgroundContext(log),
      ),
    );
    // The spec is decided meanwhile too: only the user (the image's passwd file) and image volumes wait for the rootfs.
    const specInput = dirs.then(() => buildSpecInput(deps, { id, pod, config, image, rootfs: layer.then((l) => l.rootfs), bundleDir, runtime }));
    const [made, waiting, specified] = await Promise.allSettled([layer, conmon, specInput]);
    if (made.status === 'fulfilled') cleanup.add('remove container layer', () => deps.containerLayers.remove(id));
    if (waiting.status === 'fulfilled') cleanup.add('stop the waiting conmon', () => waiting.value.abandon());
    if (made.status === 'rejected') throw made.reason;
    if (waiting.status === 'rejected') throw waiting.reason;
    if (specified.status === 'rejected') throw specified.reason;
    const { rootfs } = made.value;
    const pending = waiting.value;
    faultPoint('container-create:layer-created');

    const { input, warnings, decided } = specified.value;
    for (const w of warnings) log.warn('container config adjusted', { warning: w });
    const cgroupsPath = input.cgroupsPath;
    const base = {
      version: RECORD_VERSION,
      id,
      podSandboxId: pod.id,
      reservedName: job.reservedName,
      metadata: { name: meta.name, attempt: meta.attempt },
      labels: config.labels,
      annotations: config.annotations,
      image: {
        requested: config.image?.image ?? '',
        id: image.id,
        ref: image.repoDigests[0] ?? image.id,
        name: imageNameForStatus([userSpecified, config.image?.image ?? ''], image),
      },
      state: 'created',
      createdAtNs: nowNs(),
      startedAtNs: '0',
      finishedAtNs: '0',
      exitCode: 0,
      reason: '',
      message: '',
      pid: 0,
      logPath,
      bundleDir,
      rootfs,
      requestHash: job.fingerprint,
      user: decided.user,
      cgroupsPath,
      ...(decided.terminationLogPath === undefined ? {} : { terminationLogPath: decided.terminationLogPath }),
    } satisfies Omit<ContainerRecord, 'config'>;
    input.annotations = { ...input.annotations, ...crioAnnotations(base, config, pod, image.config.stopSignal) };
    // The bundle lives in runroot (tmpfs): no fsync needed.
    const spec = await extendSpec(deps, log, { pod, config, input }, generateSpec(input));
    await writeFileAtomic(path.join(bundleDir, 'config.json'), serializeSpec(spec), 0o600, false);
    faultPoint('container-create:bundle-written');

    // cAdvisor asks about the cgroup `runc create` makes at once: the inspect API answers from this.
    deps.creating.containers.set(id, base);
    cleanup.add('forget the early inspect view', async () => void deps.creating.containers.delete(id));
    const created = await pending.create();
    cleanup.add('delete runtime container', () => runtime.delete(id, true));
    faultPoint('container-create:runtime-created');

    // The caller gave up meanwhile: it never learns this ID, so the container waits hidden for
    // the identical retry (abandoned-creates.ts), as CRI-O's resourcestore does.
    const abandoned = ctx.signal.aborted ? { abandonedAtNs: nowNs() } : {};
    const record = await deps.containers.create({ ...base, pid: created.pid, config: ContainerConfig.toJSON(config), ...abandoned });
    deps.creating.containers.delete(id);
    faultPoint('container-create:recorded');
    cleanup.clear();
    if (!isClaimed(record)) {
      deps.abandoned.watch(record);
      log.info('container created after its caller gave up; hidden until the retry', { name: meta.name, pid: created.pid });
      return;
    }
    log.info('container created', { name: meta.name, pid: created.pid });
    emitContainerEvent(deps, id, ContainerEventType.CONTAINER_CREATED_EVENT);
  } catch (err) {
    await cleanup.run(log);
    throw err;
  }
}

/**
 * CreateContainer. The container name is claimed with the request's fingerprint: an identical
 * retry (the kubelet's, after its deadline passed) gets the same container ID, also after a daemon
 * restart; a different request for a taken name gets AlreadyExists naming the holder.
 */
export async function createContainer(deps: ServerDeps, ctx: OpContext, req: CreateContainerRequest): Promise<CreateContainerResponse> {
  const config = await validate(req);
  const pod = findSandbox(deps, req.podSandboxId);
  if (pod.state !== 'ready') throw new FailedPreconditionError(`CreateContainer: pod sandbox ${pod.id} is not ready (it was stopped)`);
  config.annotations = allowedAnnotationsOnly(deps, pod.runtimeHandler, config.annotations);
  const reservedName = containerName(config.metadata ?? { name: '', attempt: 0 }, pod.metadata);
  const fingerprint = requestFingerprint(CreateContainerRequest.toJSON({ ...req, podSandboxId: pod.id }));
  // Refused once the pod's stop has begun; a stop beginning meanwhile waits for this create.
  const containerId = await deps.podGate.run(pod.id, 'CreateContainer', () =>
    deps.containerNames.claim({ name: reservedName, fingerprint, signal: ctx.signal, newId, rpc: 'CreateContainer' }, (id) =>
      create(deps, ctx, { id, reservedName, fingerprint, pod, config }),
    ),
  );
  await deps.abandoned.claim(containerId, ctx.log);
  return { containerId };
}
