import { promises as fs } from 'node:fs';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, type BusyboxImageOptions } from '../harness/test-images';

/**
 * What the fault tests share (no side effects at load): a registry with busybox, a pause image
 * and extra images; a daemon whose pods get an infra container, as the kubelet's do; pod and
 * container configs; small wait and error helpers.
 */

/** The pause process: exits on SIGTERM at once, so pod stops take no grace period. */
const PAUSE = `#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n`;
/** A container process that exits on SIGTERM at once. */
export const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1 & wait $!; done'];

export interface FaultFixture {
  daemon: TestDaemon;
  registry: TestRegistry;
  /** Pod config with a per-test log dir; PID mode POD (an infra container) unless `extra` says otherwise. */
  podConfig(name: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Container config running `cmd` (SLEEPER by default) from busybox. */
  ctrConfig(name: string, extra?: Record<string, unknown>): Record<string, unknown>;
  /** Rewrites registries.conf with `extra` rules ahead of the fixture's (the daemon reads it at its next start). */
  setRegistriesConf(extra: string): Promise<void>;
  cleanup(): Promise<void>;
}

/** Options of startFaultFixture. */
export interface FaultFixtureOptions {
  netIndex: number;
  /** Images pushed as docker.io/library/<name> (not pulled). */
  extra?: Record<string, BusyboxImageOptions>;
  /** More crio.conf (a drop-in). */
  dropIn?: string;
  /** More registries.conf, ahead of the fixture's own rules. */
  registriesConf?: string;
}

/** Starts a registry (busybox, pause, `extra` images as docker.io/library/<name>) and a daemon pulling from it. */
export async function startFaultFixture(options: FaultFixtureOptions): Promise<FaultFixture> {
  const { netIndex, extra = {}, dropIn = '', registriesConf = '' } = options;
  const registry = await startRegistry();
  await registry.push('library/busybox', 'latest', await buildBusyboxImage());
  await registry.push('test/pause', '1', await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'pause', content: PAUSE, mode: 0o755 }] }] }));
  for (const [name, opts] of Object.entries(extra)) await registry.push(`library/${name}`, 'latest', await buildBusyboxImage(opts));
  const rules = `[[registry]]\nprefix = "docker.io/library"\nlocation = "${registry.host}/library"\ninsecure = true\n\n[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`;
  let daemon: TestDaemon;
  try {
    daemon = await startDaemon({
      netIndex,
      registriesConf: `${registriesConf}\n${rules}`,
      dropIn: `[crio.image]\npause_image = "${registry.host}/test/pause:1"\n${dropIn}`,
    });
  } catch (err) {
    await registry.stop();
    throw err;
  }
  await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
  await daemon.cri.image.pullImage({ image: { image: `${registry.host}/test/pause:1` } });
  return {
    daemon,
    registry,
    podConfig: (name, more = {}) => ({
      metadata: { name, namespace: 'faults', uid: `uid-${name}`, attempt: 0 },
      hostname: name,
      logDirectory: path.join(daemon.dir, 'pod-logs', name),
      ...more,
    }),
    ctrConfig: (name, more = {}) => ({ metadata: { name, attempt: 0 }, image: { image: 'busybox' }, command: SLEEPER, logPath: `${name}.log`, ...more }),
    setRegistriesConf: (more) => fs.writeFile(path.join(daemon.dir, 'registries.conf'), `${more}\n${rules}`),
    cleanup: async () => {
      try {
        await daemon.cleanup();
      } finally {
        await registry.stop();
      }
    },
  };
}

/** The gRPC status code of a rejected call, or 'ok'. */
export async function outcome(p: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return (err as ServiceError).code;
  }
}

/** `ok`, or the gRPC code name a call was answered with. */
export async function codeName(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return status[(err as ServiceError).code] ?? String(err);
  }
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
