import { startBenchDaemon } from './bench-daemon';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { NamespaceMode } from '../lib/cri/gen/api';
import { runProgram } from '../lib/process';
import { measureListContainers } from './list-containers';
import { daemonPid, procMemory } from './proc-memory';
import { row, percentile, pool, sample } from './stats';

/**
 * The container RPCs at node scale. With 30 running pods (one `sleep` container each): p50 of
 * ListContainers, ListPodSandbox, ContainerStatus, ListContainerStats and ExecSync (next to a
 * bare `runc exec` of the same command, the floor), daemon RSS and conmon RSS per container.
 * Then ListContainers with 500 containers (target ≤ 2 ms p50), taken apart (bench/list-containers.ts).
 * Usage: node build/bench/containers.js [iterations=200]
 */

const N = Number(process.argv[2] ?? 200);
const NET_INDEX = 171;
const PODS = 30;
const MANY = 500;

async function rssKiB(pid: number): Promise<number> {
  return (await procMemory(pid)).rss;
}

async function main(): Promise<void> {
  const { registry, daemon } = await startBenchDaemon(NET_INDEX);
  try {
    const { runtime: rt, image: im } = daemon.cri;
    await im.pullImage({ image: { image: 'busybox' } });
    const pods: { podSandboxId: string; config: Record<string, unknown> }[] = [];
    const containers: string[] = [];
    for (let i = 0; i < PODS; i++) {
      const config = {
        metadata: { name: `bench-${i}`, namespace: 'bench', uid: `u${i}`, attempt: 0 },
        hostname: `bench-${i}`,
        logDirectory: path.join(daemon.dir, 'logs', `bench-${i}`),
        labels: { app: `bench-${i}`, tier: 'bench' },
        linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
      };
      const { podSandboxId } = await rt.runPodSandbox({ config });
      const { containerId } = await rt.createContainer({
        podSandboxId,
        sandboxConfig: config,
        config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '3600'], labels: { app: `bench-${i}` } },
      });
      await rt.startContainer({ containerId });
      pods.push({ podSandboxId, config });
      containers.push(containerId);
    }
    const runcRoot = path.join(daemon.dir, 'runc');
    const lines = [
      row(`ListContainers (${PODS} containers)`, await sample(N, () => rt.listContainers({}))),
      row(`ListPodSandbox (${PODS} pods)`, await sample(N, () => rt.listPodSandbox({}))),
      row('ContainerStatus', await sample(N, (i) => rt.containerStatus({ containerId: containers[i % PODS] ?? '' }))),
      row(`ListContainerStats (${PODS} containers)`, await sample(Math.min(N, 100), () => rt.listContainerStats({}))),
      row('ExecSync `true`', await sample(Math.min(N, 50), (i) => rt.execSync({ containerId: containers[i % PODS] ?? '', cmd: ['true'], timeout: 10n }))),
      row(
        '  floor: bare `runc exec <id> true`',
        await sample(Math.min(N, 50), (i) => runProgram('/usr/sbin/runc', ['--root', runcRoot, 'exec', containers[i % PODS] ?? '', 'true'])),
      ),
    ];
    const pid = await daemonPid(daemon);
    const conmons = await Promise.all(
      containers.map(async (id) => rssKiB(Number((await fs.readFile(path.join(daemon.dir, 'run', 'crio-bundles', id, 'conmon-pidfile'), 'utf8')).trim()))),
    );
    lines.push(`daemon RSS with ${PODS} pods: ${((await rssKiB(pid)) / 1024).toFixed(1)} MiB`);
    lines.push(
      `conmon RSS per container (one per pod here): p50 ${(percentile(conmons, 50) / 1024).toFixed(2)} MiB, total ${(conmons.reduce((a, b) => a + b, 0) / 1024).toFixed(1)} MiB`,
    );

    // Created (never started) containers are enough for the list: each still has its conmon and record.
    const extra = Array.from({ length: MANY - PODS }, (_, i) => i);
    await pool(extra, 4, async (i) => {
      const pod = pods[i % PODS];
      if (!pod) return;
      await rt.createContainer({
        podSandboxId: pod.podSandboxId,
        sandboxConfig: pod.config,
        config: { metadata: { name: `x${i}`, attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '3600'], labels: { app: 'many', n: String(i) } },
      });
    });
    lines.push(...(await measureListContainers(daemon, N)));
    lines.push(
      row(`ListContainers (${MANY}, label filter → ~16)`, await sample(N, () => rt.listContainers({ filter: { labelSelector: { app: 'bench-3' } } }))),
    );
    lines.push(`daemon RSS with ${MANY} containers: ${((await rssKiB(pid)) / 1024).toFixed(1)} MiB`);
    process.stdout.write(lines.join('\n') + '\n');
    await pool(pods, 4, async (p) => {
      const { containers: cs } = await rt.listContainers({ filter: { podSandboxId: p.podSandboxId } });
      await Promise.all(cs.map((c) => rt.stopContainer({ containerId: c.id, timeout: 0n })));
    });
  } finally {
    await daemon.cleanup();
    await registry.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
