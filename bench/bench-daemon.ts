import path from 'node:path';
import { NamespaceMode } from '../lib/cri/gen/api';
import { startDaemon, type TestDaemon } from '../test/harness/daemon';
import { startRegistry, type TestRegistry } from '../test/harness/registry';
import { buildBusyboxImage } from '../test/harness/test-images';

/** The set-up every daemon bench shares: a local registry with busybox and a quiet daemon that pulls it as `busybox`. */
export async function startBenchDaemon(netIndex: number, extraDropIn = ''): Promise<{ registry: TestRegistry; daemon: TestDaemon }> {
  const registry = await startRegistry();
  await registry.push('library/busybox', 'latest', await buildBusyboxImage());
  const daemon = await startDaemon({
    netIndex,
    dropIn: `[crio.runtime]\nlog_level = "warn"\n${extraDropIn}`,
    registriesConf: `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
  });
  return { registry, daemon };
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

/** RunPodSandbox + CreateContainer (busybox `true`) + StartContainer; returns the pod and how long RunPodSandbox took. */
export async function startBenchPod(daemon: TestDaemon, config: ReturnType<typeof benchPodConfig>): Promise<{ podSandboxId: string; sandboxMs: number }> {
  const rt = daemon.cri.runtime;
  const t0 = process.hrtime.bigint();
  const { podSandboxId } = await rt.runPodSandbox({ config });
  const sandboxMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const { containerId } = await rt.createContainer({
    podSandboxId,
    sandboxConfig: config,
    config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: ['true'], logPath: 'c.log' },
  });
  await rt.startContainer({ containerId });
  return { podSandboxId, sandboxMs };
}
