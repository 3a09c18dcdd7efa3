import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { NamespaceMode, PodSandboxConfig, Protocol, RunPodSandboxRequest, type RunPodSandboxResponse } from '../cri/gen/api';
import { CleanupStack } from '../cleanup';
import { backgroundContext, withLogFields, type OpContext } from '../context';
import { InvalidArgumentError } from '../errors';
import { checkHostname, createPodNamespaces, podNamespacePaths, removePodNamespaces } from '../network/namespaces';
import { checkPodSysctlsExist } from '../network/sysctl-probe';
import { cgroupManagerName, podCgroupParent } from '../oci/cgroup-systemd';
import { writePodFiles } from '../network/pod-files';
import { clampPingGroupRange, parseSysctlList, resolvePodSysctls } from '../network/sysctls';
import { requestFingerprint } from '../state/fingerprint';
import { podSandboxName } from '../state/name-registry';
import { nowNs, RECORD_VERSION, type SandboxRecord } from '../state/records';
import { allowedAnnotationsOnly } from './container-security';
import type { ServerDeps } from './deps';
import { newId } from './ids';
import { checkName, checkNoNulBytes, checkPath, checkPortMappings } from './request-rules';
import type { SandboxView } from './records-in-creation';
import { createPodDiffDir, createSandboxCgroup, removeSandboxCgroup } from './sandbox-cgroup';
import { needsInfraContainer, removeInfraContainer, startInfraContainer } from './sandbox-infra';
import { podBandwidth, podShmSize } from './sandbox-options';
import { chownPodFiles, gidCount, podIdMappings, podUsernsRequest } from './sandbox-userns';
import type { UsernsRequest } from '../security/userns';
import { preparePodShmDir, unmountPodShm } from './sandbox-shm';
import { faultPoint } from '../fault-points';

function protocolName(p: Protocol): 'tcp' | 'udp' | 'sctp' {
  return p === Protocol.UDP ? 'udp' : p === Protocol.SCTP ? 'sctp' : 'tcp';
}

/** The request's own rules, checked before anything is made (request-rules.ts). */
function validate(req: RunPodSandboxRequest): { config: PodSandboxConfig; meta: NonNullable<PodSandboxConfig['metadata']> } {
  const config = req.config;
  if (!config) throw new InvalidArgumentError('RunPodSandbox: config is missing');
  const meta = config.metadata;
  if (!meta) throw new InvalidArgumentError('RunPodSandbox: config.metadata is missing');
  checkName('RunPodSandbox: config.metadata.name', meta.name);
  checkName('RunPodSandbox: config.metadata.namespace', meta.namespace);
  checkName('RunPodSandbox: config.metadata.uid', meta.uid, true);
  if (config.hostname !== '') checkHostname(config.hostname, 'RunPodSandbox: config.hostname');
  checkPath('RunPodSandbox: config.log_directory', config.logDirectory);
  checkPortMappings('RunPodSandbox: config.port_mappings', config.portMappings);
  checkNoNulBytes('RunPodSandbox: config', config);
  return { config, meta };
}

/** The pod's cgroup parent for the driver; the other driver's form is InvalidArgument naming the parent. */
function cgroupParent(deps: ServerDeps, config: PodSandboxConfig): string {
  return podCgroupParent(cgroupManagerName(deps.config.runtime.cgroup_manager), config.linux?.cgroupParent ?? '');
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
  const userns = podUsernsRequest(config); // refuses bad user namespace settings before anything is claimed
  const hostNetwork = config.linux?.securityContext?.namespaceOptions?.network === NamespaceMode.NODE;
  const hostIpc = config.linux?.securityContext?.namespaceOptions?.ipc === NamespaceMode.NODE;
  const sysctls = resolvePodSysctls(parseSysctlList(deps.config.runtime.default_sysctls), config.linux?.sysctls ?? {}, { network: hostNetwork, ipc: hostIpc });
  await checkPodSysctlsExist('RunPodSandbox: config.linux.sysctls', sysctls.apply);
  const reservedName = podSandboxName(meta);
  const requestHash = requestFingerprint(RunPodSandboxRequest.toJSON({ ...req, config }));
  const podSandboxId = await deps.podNames.claim({ name: reservedName, fingerprint: requestHash, signal: ctx.signal, newId, rpc: 'RunPodSandbox' }, (id) =>
    createSandbox(deps, ctx, { id, reservedName, requestHash, req, config, meta, userns: userns.request, warnings: userns.warnings, sysctls }),
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
  userns: UsernsRequest;
  warnings: string[];
  sysctls: ReturnType<typeof resolvePodSysctls>;
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
  // As CRI-O: the node's name on the host network, else the first 12 characters of the pod ID.
  const hostname = config.hostname || (hostNetwork ? os.hostname() : id.slice(0, 12));
  const log = withLogFields(ctx, { podSandboxId: id }).log;
  const work = backgroundContext(log);
  const cleanup = new CleanupStack();
  for (const w of n.warnings) log.warn('pod config adjusted', { warning: w });
  // The pod's cgroup appears before its record: cAdvisor's questions about it are answered from this.
  const view: SandboxView = {
    id,
    reservedName,
    metadata: { name: meta.name, uid: meta.uid, namespace: meta.namespace, attempt: meta.attempt },
    labels: config.labels,
    annotations: config.annotations,
    createdAtNs: nowNs(),
    hostname,
    hostNetwork,
    podDir: path.join(deps.paths.podsDir, id),
    ips: [],
  };
  deps.creating.sandboxes.set(id, view);
  // The CNI cache record (on disk before any plugin runs: two fsyncs) is written from the start;
  // the plugins wait for the namespaces, handed over once they are being made (or a failure
  // before that, which makes the set-up remove its record).
  let handOver: (namespaces: Promise<unknown>) => void = () => undefined;
  const netnsReady = new Promise<unknown>((resolve) => (handOver = resolve));
  netnsReady.catch(() => undefined); // observed by the set-up; a failure handed over early is not unhandled
  const netnsPath = podNamespacePaths(deps.config.runtime.namespaces_dir, id, { net: !hostNetwork, ipc: false, uts: false }).net ?? '';
  const podInfo = { podSandboxId: id, name: meta.name, namespace: meta.namespace, uid: meta.uid, netnsPath };
  let networkDone: Promise<{ ips: string[] }> | undefined;
  try {
    if (!hostNetwork) {
      const portMappings = config.portMappings.map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: protocolName(p.protocol),
        hostIP: p.hostIp || undefined,
      }));
      const bandwidth = podBandwidth(config.annotations);
      networkDone = deps.cni.setUpPod({ ...podInfo, portMappings, bandwidth }, work, netnsReady);
    }
    const ids = await podIdMappings(deps, id, n.userns);
    cleanup.add('release user namespace ids', async () => ids.release());
    const podDir = path.join(deps.paths.podsDir, id);
    await fs.mkdir(podDir, { recursive: true, mode: 0o755 });
    cleanup.add('remove pod dir', () => fs.rm(podDir, { recursive: true, force: true }));
    // A private /dev/shm per pod, shared by its containers; host-IPC pods use the host's. Made with
    // the diff dir, at once: both are on the path to the namespaces and the CNI ADD.
    // Both settle before a failure is thrown, so the cleanup's removal of the pod dir runs after them.
    const [diffMade, shmMade] = await Promise.allSettled([createPodDiffDir(podDir), hostIpc ? '/dev/shm' : preparePodShmDir(podDir)]);
    if (diffMade.status === 'rejected') throw diffMade.reason;
    if (shmMade.status === 'rejected') throw shmMade.reason;
    const shmPath = shmMade.value;
    // The pod cgroup (~5 ms of cpuset copies on cgroup v1) is made while the namespaces and the
    // network are set up, and awaited with them; its removal waits for the make to settle.
    let cgroupDone: Promise<void> | undefined;
    if (!needsInfraContainer(deps, nsOptions?.pid)) {
      const podCgroup = { id, cgroupParent: parent };
      const made = createSandboxCgroup(podCgroup);
      cgroupDone = made;
      made.catch(() => undefined); // awaited below; a failure before then is seen by the cleanup
      cleanup.add('remove pod cgroup', async () => {
        await made.catch(() => undefined);
        await removeSandboxCgroup(podCgroup);
      });
    }
    faultPoint('sandbox-run:pod-dir-created');

    const sysctls = n.sysctls;
    if (sysctls.skipped.length > 0) log.warn('sysctls of host namespaces skipped', { sysctls: sysctls.skipped });
    const namespacesDone = createPodNamespaces({
      namespacesDir: deps.config.runtime.namespaces_dir,
      podSandboxId: id,
      net: !hostNetwork,
      ipc: !hostIpc,
      uts: !hostNetwork,
      hostname,
      loopbackUp: true,
      shm: hostIpc ? undefined : { path: shmPath, sizeBytes: podShmSize(deps, req.runtimeHandler, config.annotations) },
      sysctls: ids.mappings ? clampPingGroupRange(sysctls.apply, gidCount(ids.mappings)) : sysctls.apply,
      userns: ids.mappings,
      log,
    });
    handOver(namespacesDone);
    // hostname and resolv.conf do not depend on the pod's IPs: written while the CNI ADD runs, and
    // hosts as soon as the IPs are known (the files were written after the ADD, ~1 ms more).
    const podFilesDone = writePodFiles(podDir, {
      hostname,
      ips: networkDone?.then((r) => r.ips) ?? [],
      dns: config.dnsConfig ?? { servers: [], searches: [], options: [] },
      hostNetwork,
    });
    const [nsResult, netResult, cgroupResult, podFilesResult] = await Promise.allSettled([namespacesDone, networkDone, cgroupDone, podFilesDone]);
    faultPoint('sandbox-run:namespaces-and-network-done');
    // Failed namespaces leave nothing behind, and a network set-up waiting for them undid itself.
    if (nsResult.status === 'rejected') throw nsResult.reason;
    const namespaces = nsResult.value;
    cleanup.add('remove pod namespaces', () => removePodNamespaces(namespaces));
    if (!hostIpc) cleanup.add('unmount pod shm', () => unmountPodShm(shmPath));
    if (netResult.status === 'rejected') throw netResult.reason;
    if (cgroupResult.status === 'rejected') throw cgroupResult.reason;
    const ips = netResult.value?.ips ?? [];
    view.ips = ips;
    if (networkDone) cleanup.add('tear down pod network', () => deps.cni.tearDownPod(podInfo, { log, signal: new AbortController().signal }));

    if (podFilesResult.status === 'rejected') throw podFilesResult.reason;
    const podFiles = podFilesResult.value;
    if (ids.mappings) await chownPodFiles(podFiles, ids.mappings);
    faultPoint('sandbox-run:pod-files-written');

    let infra: SandboxRecord['infra'];
    if (needsInfraContainer(deps, nsOptions?.pid)) {
      infra = await startInfraContainer(
        deps,
        { id, reservedName, metadata: { name: meta.name, uid: meta.uid, namespace: meta.namespace, attempt: meta.attempt }, namespaces, hostname, cgroupParent: parent, podDir, podFiles, shmPath, runtimeHandler: req.runtimeHandler, userns: ids.mappings },
        nsOptions?.pid === NamespaceMode.NODE,
        work,
      );
      view.infra = infra;
      const started = { id, runtimeHandler: req.runtimeHandler, infra };
      cleanup.add('remove infra container', () => removeInfraContainer(deps, started));
      faultPoint('sandbox-run:infra-started');
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
      ...(ids.mappings ? { userns: { ...ids.mappings, auto: ids.auto } } : {}),
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
    faultPoint('sandbox-run:recorded');
    ids.release(); // the record holds the range now
    cleanup.clear();
    log.info('pod sandbox ready', { name: meta.name, namespace: meta.namespace, ips });
  } catch (err) {
    // A failure before the namespaces were handed over: the set-up removes its cache record.
    // (After the hand-over this does nothing; the rejection is observed here so it never goes unhandled.)
    const early = Promise.reject(err);
    early.catch(() => undefined);
    handOver(early);
    await networkDone?.catch(() => undefined);
    await cleanup.run(log);
    throw err;
  } finally {
    deps.creating.sandboxes.delete(id);
  }
}
