import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { credentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';
import * as api from '../../lib/cri/gen/api';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, type BusyboxImageOptions } from '../harness/test-images';

/**
 * Shared set-up of the container-*.test.ts files (not a test itself): a registry with busybox
 * images, a daemon pulling through a registries.conf prefix rewrite, and small helpers to run a
 * pod and a container. No top-level side effects.
 */

/** Extra images to push as docker.io/library/<name>:latest. */
export type ExtraImages = Record<string, BusyboxImageOptions>;

/** A daemon with images pulled, plus helpers. */
export interface ContainerFixture {
  daemon: TestDaemon;
  registry: TestRegistry;
  /** RunPodSandbox with a per-test log dir; returns the ID and the config used. */
  runPod(name: string, extra?: Record<string, unknown>): Promise<{ podSandboxId: string; config: Record<string, unknown> }>;
  /** CreateContainer (busybox unless `image` is given) and optionally StartContainer. */
  runContainer(podSandboxId: string, podConfig: Record<string, unknown>, config: Record<string, unknown>, start?: boolean): Promise<string>;
  /** The daemon's raw RuntimeService client, for streaming RPCs (and channel options such as message size). */
  rawRuntime(options?: ChannelOptions): api.RuntimeServiceClient;
  cleanup(): Promise<void>;
}

function pullRules(host: string, names: string[]): string {
  return names.map((n) => `[[registry]]\nprefix = "docker.io/library/${n}"\nlocation = "${host}/library/${n}"\ninsecure = true\n`).join('\n');
}

/** Starts registry + daemon, pushes and pulls busybox (and `extra` images). */
export async function startContainerFixture(options: { netIndex: number; dropIn?: string; extra?: ExtraImages; env?: Record<string, string> }): Promise<ContainerFixture> {
  const registry = await startRegistry();
  const extra = options.extra ?? {};
  await registry.push('library/busybox', 'latest', await buildBusyboxImage());
  for (const [name, opts] of Object.entries(extra)) await registry.push(`library/${name}`, 'latest', await buildBusyboxImage(opts));
  let daemon: TestDaemon;
  try {
    daemon = await startDaemon({
      netIndex: options.netIndex,
      dropIn: options.dropIn,
      env: options.env,
      registriesConf: pullRules(registry.host, ['busybox', ...Object.keys(extra)]),
    });
  } catch (err) {
    await registry.stop();
    throw err;
  }
  for (const name of ['busybox', ...Object.keys(extra)]) await daemon.cri.image.pullImage({ image: { image: name } });
  const raw: api.RuntimeServiceClient[] = [];
  return {
    daemon,
    registry,
    runPod: async (name, extraConfig = {}) => {
      const config = {
        metadata: { name, namespace: 'default', uid: `uid-${name}`, attempt: 0 },
        hostname: name,
        logDirectory: path.join(daemon.dir, 'pod-logs', name),
        labels: { app: name },
        linux: { securityContext: { namespaceOptions: { pid: api.NamespaceMode.CONTAINER } } },
        ...extraConfig,
      };
      const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config });
      return { podSandboxId, config };
    },
    runContainer: async (podSandboxId, podConfig, config, start = true) => {
      const { containerId } = await daemon.cri.runtime.createContainer({
        podSandboxId,
        sandboxConfig: podConfig,
        config: { image: { image: 'busybox' }, ...config },
      });
      if (start) await daemon.cri.runtime.startContainer({ containerId });
      return containerId;
    },
    rawRuntime: (channelOptions) => {
      const c = new api.RuntimeServiceClient(`unix://${daemon.socket}`, credentials.createInsecure(), channelOptions);
      raw.push(c);
      return c;
    },
    cleanup: async () => {
      for (const c of raw) c.close();
      try {
        // Test containers mostly run `sleep` as PID 1, which ignores SIGTERM: kill them at once
        // instead of waiting out the pod stop's grace period.
        const { containers } = await daemon.cri.runtime.listContainers({}).catch(() => ({ containers: [] }));
        await Promise.all(containers.map((c) => daemon.cri.runtime.stopContainer({ containerId: c.id, timeout: 0n }).catch(() => undefined)));
        await daemon.cleanup();
      } finally {
        await registry.stop();
      }
    },
  };
}

/** The gRPC status code of a rejected call. */
export function grpcCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? (err as ServiceError).code : undefined;
}

/** Asserts a call fails with `code` and a message matching `pattern`. */
export async function rejectsWith(p: Promise<unknown>, code: number, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(grpcCode(err), code, `expected gRPC code ${code}, got ${String(err)}`);
    assert.match(String((err as Error).message), pattern);
    return true;
  });
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads a cgroup v1 file of a container's cgroup (`<controller>/<cgroupsPath>/<file>`). */
export function cgroupFile(controller: string, cgroupsPath: string, file: string): string {
  return readFileSync(path.join('/sys/fs/cgroup', controller, cgroupsPath, file), 'utf8').trim();
}
