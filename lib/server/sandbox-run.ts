import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NamespaceMode, PodSandboxConfig, Protocol, RunPodSandboxRequest, type RunPodSandboxResponse } from '../cri/gen/api';
import { CleanupStack } from '../cleanup';
import { backgroundContext, withLogFields, type OpContext } from '../context';
import { InvalidArgumentError } from '../errors';
import { createPodNamespaces, removePodNamespaces } from '../network/namespaces';
import { writePodFiles } from '../network/pod-files';
import { parseSysctlList, resolvePodSysctls } from '../network/sysctls';
import { requestFingerprint } from '../state/fingerprint';
import { podSandboxName } from '../state/name-registry';
import { nowNs, RECORD_VERSION, type SandboxRecord } from '../state/records';
import { allowedAnnotationsOnly } from './container-security';
import type { ServerDeps } from './deps';
import { newId } from './ids';
import { needsInfraContainer, removeInfraContainer, startInfraContainer } from './sandbox-infra';
import { podBandwidth, podShmSize } from './sandbox-options';
import { preparePodShmDir, unmountPodShm } from './sandbox-shm';

/** Where pods go when the kubelet gives no cgroup parent (cgroupfs driver). */
const DEFAULT_CGROUP_PARENT = '/crio';

function protocolName(p: Protocol): 'tcp' | 'udp' | 'sctp' {
  return p === Protocol.UDP ? 'udp' : p === Protocol.SCTP ? 'sctp' : 'tcp';
}

function validate(req: RunPodSandboxRequest): { config: PodSandboxConfig; meta: NonNullable<PodSandboxConfig['metadata']> } {
  const config = req.config;
  if (!config) throw new InvalidArgumentError('RunPodSandbox: config is missing');
  const meta = config.metadata;
  if (!meta || meta.name === '') throw new InvalidArgumentError('RunPodSandbox: config.metadata.name is empty');
  if (meta.namespace === '') throw new InvalidArgumentError(`RunPodSandbox: config.metadata.namespace of pod ${meta.name} is empty`);
  return { config, meta };
}

function cgroupParent(deps: ServerDeps, config: PodSandboxConfig): string {
  const parent = config.linux?.cgroupParent ?? '';
  if (parent === '') return DEFAULT_CGROUP_PARENT;
  if (deps.config.runtime.cgroup_manager === 'cgroupfs' && parent.endsWith('.slice')) {
    throw new InvalidArgumentError(
      `cgroup parent ${JSON.stringify(parent)} is a systemd slice but cgroup_manager is "cgroupfs"; set the kubelet's cgroupDriver to cgroupfs`,
    );
  }
  return parent.startsWith('/') ? parent : `/${parent}`;
}

/**
 * RunPodSandbox: namespaces, /dev/shm, CNI network, pod files, record — all or nothing. An
 * identical retry after a client timeout gets the same pod (the work goes on meanwhile); the
 * same name with different settings gets AlreadyExists.
 */
export async function runPodSandbox(deps: ServerDeps, ctx: OpContext, req: RunPodSandboxRequest): Promise<RunPodSandboxResponse> {
  const { config, meta } = validate(req);
  config.annotations = allowedAnnotationsOnly(deps, req.runtimeHandler, config.annotations);
  deps.runtimeFor(req.runtimeHandler); // fails early on an unknown handler
  const reservedName = podSandboxName(meta);
  const requestHash = requestFingerprint(RunPodSandboxRequest.toJSON({ ...req, config }));
  const podSandboxId = await deps.podNames.claim({ name: reservedName, fingerprint: requestHash, signal: ctx.signal, newId, rpc: 'RunPodSandbox' }, (id) =>
    createSandbox(deps, ctx, { id, reservedName, requestHash, req, config, meta }),
  );
  return { podSandboxId };
}

interface NewSandbox {
  id: string;
  reservedName: string;
  requestHash: string;
  req: RunPodSandboxRequest;
  config: PodSandboxConfig;
  meta: NonNullable<PodSandboxConfig['metadata']>;
}

/**
 * The work of RunPodSandbox under a claimed name. It does not follow the request's abort
 * signal: a client that timed out retries, and the retry must find the pod finished, not undone.
 */
async function createSandbox(deps: ServerDeps, ctx: OpContext, n: NewSandbox): Promise<void> {
  const { id, reservedName, req, config, meta } = n;
  const nsOptions = config.linux?.securityContext?.namespaceOptions;
  const hostNetwork = nsOptions?.network === NamespaceMode.NODE;
  const hostIpc = nsOptions?.ipc === NamespaceMode.NODE;
  const parent = cgroupParent(deps, config);
  const hostname = config.hostname || (hostNetwork ? os.hostname() : meta.name);
  const log = withLogFields(ctx, { podSandboxId: id }).log;
  const work = backgroundContext(log);
  const cleanup = new CleanupStack();
  try {
    const podDir = path.join(deps.paths.podsDir, id);
    await fs.mkdir(podDir, { recursive: true, mode: 0o755 });
    cleanup.add('remove pod dir', () => fs.rm(podDir, { recursive: true, force: true }));

    // A private /dev/shm per pod, shared by its containers; host-IPC pods use the host's.
    const shmPath = hostIpc ? '/dev/shm' : await preparePodShmDir(podDir);
    const sysctls = resolvePodSysctls(parseSysctlList(deps.config.runtime.default_sysctls), config.linux?.sysctls ?? {}, {
      network: hostNetwork,
      ipc: hostIpc,
    });
    if (sysctls.skipped.length > 0) log.warn('sysctls of host namespaces skipped', { sysctls: sysctls.skipped });
    const namespaces = await createPodNamespaces({
      namespacesDir: deps.config.runtime.namespaces_dir,
      podSandboxId: id,
      net: !hostNetwork,
      ipc: !hostIpc,
      uts: !hostNetwork,
      hostname,
      loopbackUp: true,
      shm: hostIpc ? undefined : { path: shmPath, sizeBytes: podShmSize(deps, req.runtimeHandler, config.annotations) },
      sysctls: sysctls.apply,
      log,
    });
    cleanup.add('remove pod namespaces', () => removePodNamespaces(namespaces));
    if (!hostIpc) cleanup.add('unmount pod shm', () => unmountPodShm(shmPath));

    let ips: string[] = [];
    const podInfo = { podSandboxId: id, name: meta.name, namespace: meta.namespace, uid: meta.uid, netnsPath: namespaces.net ?? '' };
    if (!hostNetwork) {
      const portMappings = config.portMappings.map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: protocolName(p.protocol),
        hostIP: p.hostIp || undefined,
      }));
      const bandwidth = podBandwidth(config.annotations);
      const result = await deps.cni.setUpPod({ ...podInfo, portMappings, bandwidth }, work);
      ips = result.ips;
      cleanup.add('tear down pod network', () => deps.cni.tearDownPod(podInfo, { log, signal: new AbortController().signal }));
    }

    const podFiles = await writePodFiles(podDir, {
      hostname,
      ips,
      dns: config.dnsConfig ?? { servers: [], searches: [], options: [] },
      hostNetwork,
    });

    let infra: SandboxRecord['infra'];
    if (needsInfraContainer(deps, nsOptions?.pid)) {
      infra = await startInfraContainer(
        deps,
        { id, namespaces, hostname, cgroupParent: parent, podDir, podFiles, shmPath, runtimeHandler: req.runtimeHandler },
        nsOptions?.pid === NamespaceMode.NODE,
        work,
      );
      const started = { id, runtimeHandler: req.runtimeHandler, infra };
      cleanup.add('remove infra container', () => removeInfraContainer(deps, started));
    }

    const record: SandboxRecord = {
      version: RECORD_VERSION,
      id,
      reservedName,
      requestHash: n.requestHash,
      metadata: { name: meta.name, uid: meta.uid, namespace: meta.namespace, attempt: meta.attempt },
      labels: config.labels,
      annotations: config.annotations,
      state: 'ready',
      createdAtNs: nowNs(),
      runtimeHandler: req.runtimeHandler,
      hostname,
      logDirectory: config.logDirectory,
      namespaces,
      hostNetwork,
      ips,
      cgroupParent: parent,
      podDir,
      podFiles,
      shmPath,
      infra,
      networkReady: !hostNetwork,
      config: PodSandboxConfig.toJSON(config),
    };
    await deps.sandboxes.create(record);
    cleanup.clear();
    log.info('pod sandbox ready', { name: meta.name, namespace: meta.namespace, ips });
  } catch (err) {
    await cleanup.run(log);
    throw err;
  }
}
