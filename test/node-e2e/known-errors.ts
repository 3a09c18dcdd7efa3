import type { ErrorLine, ExpectedError } from './report';

/**
 * Kubelet error lines the suite expects with any CRI runtime on this host, each with its reason.
 * A line that matches none fails the last scenario: it may be crio-ts's doing.
 */

/** What the reasons depend on, known only once the suite has run. */
export interface RunFacts {
  /** Every 64-hex ID in the suite's daemon log (its pods, containers and images). */
  ownIds: ReadonlySet<string>;
  /** [from, to] in ms: when the suite had crio-ts stopped (the restart scenario), plus the kubelet's reconnect back-off. */
  runtimeDown: readonly (readonly [number, number])[];
  /** The static pod that crash-loops on purpose. */
  crashLoopPod: string;
  /** When the suite removed each pod's manifest (pod full name → ms). */
  teardownFrom: ReadonlyMap<string, number>;
  /** Container IDs named by dangling /var/log/containers symlinks an earlier kubelet left before the suite began. */
  staleLogLinks: ReadonlySet<string>;
  /** When the suite's daemon logged each container removed (container ID → ms): removals the kubelet asked for. */
  removedAt: ReadonlyMap<string, number>;
}

/** How long after a removal the kubelet may still ask about the container from a listing made before it. */
const REMOVAL_RACE_MS = 10_000;

const has = (...parts: string[]) => (e: ErrorLine) => parts.every((p) => e.line.includes(p));

/** The expected errors of a run. */
export function knownKubeletErrors(facts: RunFacts): ExpectedError[] {
  return [
    {
      match: has('Failed to set rlimit on max file handles', 'operation not permitted'),
      reason: 'host: root lacks CAP_SYS_RESOURCE on this machine (the kubelet raises its own fd limit at start)',
    },
    {
      match: has('Failed to ensure process in container with oom score', 'failed to find pid namespace of init process'),
      reason: "host: /proc/1/ns/pid is not readable here; the kubelet checks its own process's PID namespace every 5 min",
    },
    {
      match: has('Image garbage collection failed once. Stats initialization may not have completed yet'),
      reason: 'kubelet start: the first image GC round runs before cAdvisor has any stats (the kubelet says so itself)',
    },
    {
      match: (e) => e.line.includes('Skipping pod synchronization') && /container runtime status check may not have completed yet|PLEG is not healthy: pleg has yet to be successful/.test(e.line),
      reason: 'kubelet start: the first pod sync waits for the first runtime status and relist',
    },
    {
      match: has('Image garbage collection failed multiple times in a row', 'Failed to garbage collect required amount of images'),
      reason: 'the suite sets imageGCHighThresholdPercent 1 / Low 0: the disk can never get that empty, so every round frees what it can and reports the rest',
    },
    {
      match: (e) => e.line.includes('CrashLoopBackOff') && e.line.includes(facts.crashLoopPod),
      reason: 'the crash-loop scenario: its container fails on purpose and the kubelet reports each back-off',
    },
    {
      match: (e) => e.line.includes('code = Unavailable') && facts.runtimeDown.some(([from, to]) => e.time >= from && e.time <= to),
      reason: 'the crio-ts restart scenario: the CRI socket is gone while the daemon restarts (any runtime restarted under a kubelet)',
    },
    {
      match: (e) => {
        const pod = /extraDiskErr: could not stat "\/var\/log\/pods\/[^_]+_([^_]+)_/.exec(e.line)?.[1];
        const from = pod === undefined ? undefined : facts.teardownFrom.get(pod);
        return e.line.includes('failed to collect filesystem stats - rootDiskErr: <nil>') && from !== undefined && e.time >= from;
      },
      reason:
        "pod teardown: the kubelet deletes a container's log file before it asks the runtime to remove the container, and cAdvisor measures that file until the container's cgroup goes (runc delete in RemoveContainer, as with CRI-O)",
    },
    {
      match: (e) => {
        const id = /Failed to create existing container: \S*crio-([0-9a-f]{64})/.exec(e.line)?.[1];
        return id !== undefined && !facts.ownIds.has(id);
      },
      reason:
        "shared test host: cAdvisor sees every crio-<id> cgroup, also those of other crio-ts daemons' tests running at the same time, and the suite's daemon answers 404 for IDs it does not have, as CRI-O does",
    },
    {
      match: (e) => {
        if (!e.line.includes('"Partial failure issuing cadvisor.ContainerInfoV2" err="partial failures: [')) return false;
        const paths = [...e.line.matchAll(/\\"(\/[^\\"]*)\\": RecentStats: unable to find data in memory cache/g)].map((m) => m[1] ?? '');
        return paths.length > 0 && paths.every((p) => !p.startsWith('/kubepods') && ![...facts.ownIds].some((id) => p.includes(id)));
      },
      reason:
        'shared test host: cAdvisor tracks every cgroup on the host, also those of processes other users start and end at the same time (outside the kubepods tree and not this daemon\'s); one that went between its listing and its stats read is a partial failure',
    },
    {
      match: (e) => {
        const id = /"ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"([0-9a-f]{64})\\" not found"/.exec(e.line)?.[1];
        const removed = id === undefined ? undefined : facts.removedAt.get(id);
        // The daemon's log has milliseconds, the kubelet's microseconds: 5 ms of slack.
        return removed !== undefined && e.time >= removed - 5 && e.time <= removed + REMOVAL_RACE_MS;
      },
      reason:
        "the kubelet's own race: it removed a dead container (its pod-container deleter or container GC; the daemon had logged the removal) while another of its loops still held a listing with it, and that loop's ContainerStatus got NotFound (the kubelet's getPodContainerStatuses says this is normal; remote_runtime.go logs every error first)",
    },
    {
      match: (e) => {
        const id = /"ContainerStatus from runtime service failed" err="rpc error: code = NotFound desc = container \\"([0-9a-f]{64})\\" not found"/.exec(e.line)?.[1];
        return id !== undefined && facts.staleLogLinks.has(id) && !facts.ownIds.has(id);
      },
      reason:
        "an earlier kubelet on this host left a dangling /var/log/containers symlink; the kubelet's container-log GC asks the runtime about the ID in its name (a container this daemon never had), then removes the link",
    },
  ];
}

/** Container ID → when the daemon logged its removal (`time="…" level=info msg="container removed" containerId=…`). */
export function containerRemovals(daemonLog: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of daemonLog.matchAll(/^time="([^"]+)" level=info msg="container removed" .*?containerId=([0-9a-f]{64})/gm)) {
    const t = Date.parse(m[1] ?? '');
    if (!Number.isNaN(t)) out.set(m[2] ?? '', t);
  }
  return out;
}
