import path from 'node:path';
import { NamespaceMode } from '../lib/cri/gen/api';
import { pool } from './stats';
import { startDaemon, type TestDaemon } from '../test/harness/daemon';
import { startRegistry, type TestRegistry } from '../test/harness/registry';
import { buildBusyboxImage } from '../test/harness/test-images';

/** The set-up every daemon bench shares: a local registry with busybox and a quiet daemon that pulls it as `busybox`. */
export async function startBenchDaemon(netIndex: number, extraDropIn = '', nodeArgs?: string[]): Promise<{ registry: TestRegistry; daemon: TestDaemon }> {
  const registry = await startRegistry();
  try {
    await registry.push('library/busybox', 'latest', await buildBusyboxImage());
    const daemon = await startDaemon({
      netIndex,
      // CRI-O's default network (bridge only), which is what the floors set up.
      portmap: false,
      dropIn: `[crio.runtime]\nlog_level = "warn"\n${extraDropIn}`,
      registriesConf: `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
      nodeArgs,
    });
    return { registry, daemon };
  } catch (err) {
    // A daemon that does not start (a broken build under ab.js) must not leave the registry running.
    await registry.stop();
    throw err;
  }
}

/** A pod of the benches: its own PID namespace (no infra container), logs under the daemon's dir. */
export function benchPodConfig(daemon: TestDaemon, name: string) {
  return {
    metadata: { name, namespace: 'bench', uid: `u-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(daemon.dir, 'logs', name),
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
}

/** RunPodSandbox + CreateContainer (busybox `true`) + StartContainer; returns the pod and how long RunPodSandbox and CreateContainer took. */
export async function startBenchPod(daemon: TestDaemon, config: ReturnType<typeof benchPodConfig>): Promise<{ podSandboxId: string; sandboxMs: number; createMs: number }> {
  const rt = daemon.cri.runtime;
  const t0 = process.hrtime.bigint();
  const { podSandboxId } = await rt.runPodSandbox({ config });
  const sandboxMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const t1 = process.hrtime.bigint();
  const { containerId } = await rt.createContainer({
    podSandboxId,
    sandboxConfig: config,
    config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: ['true'], logPath: 'c.log' },
  });
  const createMs = Number(process.hrtime.bigint() - t1) / 1e6;
  await rt.startContainer({ containerId });
  return { podSandboxId, sandboxMs, createMs };
}

/** A running pod of the benches with its one `sleep` container. */
export interface SleepPod {
  podSandboxId: string;
  containerId: string;
  config: PodConfig;
}

type PodConfig = NonNullable<NonNullable<Parameters<TestDaemon['cri']['runtime']['runPodSandbox']>[0]>['config']>;

/**
 * `count` pods, each running one busybox `sleep 3600` (labels app=<name>, tier=bench), `concurrency`
 * at a time. `hostNetwork` pods skip CNI, so more than a /24 of them fit (500-pod benches).
 */
export async function startSleepPods(daemon: TestDaemon, count: number, opts: { prefix?: string; hostNetwork?: boolean; concurrency?: number } = {}): Promise<SleepPod[]> {
  const rt = daemon.cri.runtime;
  const prefix = opts.prefix ?? 'bench';
  const pods: SleepPod[] = [];
  await pool(
    Array.from({ length: count }, (_, i) => i),
    opts.concurrency ?? 1,
    async (i) => {
      const base = benchPodConfig(daemon, `${prefix}-${i}`);
      const config = {
        ...base,
        labels: { app: `${prefix}-${i}`, tier: 'bench' },
        linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER, network: opts.hostNetwork ? NamespaceMode.NODE : NamespaceMode.POD } } },
      };
      const { podSandboxId } = await rt.runPodSandbox({ config });
      const { containerId } = await rt.createContainer({
        podSandboxId,
        sandboxConfig: config,
        config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '3600'], labels: { app: `${prefix}-${i}` }, logPath: 'c.log' },
      });
      await rt.startContainer({ containerId });
      pods[i] = { podSandboxId, containerId, config };
    },
  );
  return pods;
}

/** Stops and removes every pod of the daemon, `concurrency` at a time (a 500-pod bench's clean-up, before daemon.cleanup()). */
export async function removeAllPods(daemon: TestDaemon, concurrency = 4): Promise<void> {
  const rt = daemon.cri.runtime;
  const { items } = await rt.listPodSandbox({});
  await pool(items, concurrency, async (p) => {
    await rt.stopPodSandbox({ podSandboxId: p.id });
    await rt.removePodSandbox({ podSandboxId: p.id });
  });
}
