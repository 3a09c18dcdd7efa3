import { existsSync, promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage } from '../harness/test-images';
import { removeKubeletLogEntries } from './host-leftovers';
import { kubeletPods, type Pod } from './kubelet-api';
import { createKubelet, portInUse, PORTS, type Kubelet } from './kubelet';
import { NAMESPACE } from './manifests';
import type { ScenarioResult } from './report';

/**
 * The node under test: a registry with the suite's images, crio-ts on the production socket
 * (its own root, runroot and CNI network), and the kubelet on top; plus the helpers scenarios
 * use. setUpNode refuses to start when another daemon serves the socket or the kubelet's ports
 * are taken; tearDownNode leaves nothing of it on the host.
 */

export const SOCKET = '/var/run/crio/crio.sock';
export const NODE = 'crio-e2e-node';
const PAUSE = `#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n`;

/** The running node. */
export interface Node {
  registry: TestRegistry;
  daemon: TestDaemon;
  kubelet: Kubelet;
  kubeletDir: string;
  images: { busybox: string; pause: string; unused: string };
  /** When the kubelet first started (image GC runs then and every 5 minutes). */
  kubeletStartedAt: number;
  /** Directories the suite's daemon and kubelet create that did not exist before (removed at the end). */
  createdDirs: string[];
}

/** Made by the daemon (the socket's) and the kubelet (hard-coded log directories). */
const HOST_DIRS = [path.dirname(SOCKET), '/var/log/pods', '/var/log/containers'];

function socketAnswers(p: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(p);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Registry, daemon and kubelet; throws (starting nothing) when the node is not free. */
export async function setUpNode(kubeletBinary: string): Promise<Node> {
  if (!kubeletBinary || !existsSync(kubeletBinary)) throw new Error('set KUBELET to a kubelet v1.26.1 binary (see ../shared/tools/kubelet/README.md)');
  if (existsSync(SOCKET) && (await socketAnswers(SOCKET))) {
    throw new Error(`another daemon serves ${SOCKET}: refusing to run (the kubelet would take its pods as its own)`);
  }
  for (const port of Object.values(PORTS)) if (await portInUse(port)) throw new Error(`port ${port} is in use: is another kubelet running?`);
  const createdDirs = HOST_DIRS.filter((dir) => !existsSync(dir));

  const registry = await startRegistry();
  const reg = registry.host;
  const images = { pause: `${reg}/e2e/pause:3.9`, busybox: `${reg}/e2e/busybox:1.29-2`, unused: `${reg}/e2e/unused:1` };
  await registry.push('e2e/pause', '3.9', await buildBusyboxImage({ entrypoint: ['/pause'], extraLayers: [{ files: [{ path: 'pause', content: PAUSE, mode: 0o755 }] }] }));
  await registry.push('e2e/busybox', '1.29-2', await buildBusyboxImage());
  await registry.push('e2e/unused', '1', await buildBusyboxImage({ labels: { purpose: 'image-gc' } }));
  let daemon: TestDaemon | undefined;
  try {
    daemon = await startDaemon({
      netIndex: 162,
      socket: SOCKET,
      dropIn: `[crio.image]\npause_image = "${images.pause}"\n`,
      registriesConf: `[[registry]]\nlocation = "${reg}"\ninsecure = true\n`,
    });
    // An image no pod uses, present before the kubelet first looks: image GC must remove it.
    await daemon.cri.image.pullImage({ image: { image: images.unused } });
    const kubeletDir = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-kubelet-'));
    const kubelet = await createKubelet({ binary: kubeletBinary, dir: kubeletDir, nodeName: NODE, pauseImage: images.pause });
    const node: Node = { registry, daemon, kubelet, kubeletDir, images, kubeletStartedAt: 0, createdDirs };
    await kubelet.start().catch(async (err: unknown) => {
      await tearDownNode(node);
      throw err;
    });
    node.kubeletStartedAt = Date.now();
    return node;
  } catch (err) {
    await daemon?.cleanup();
    await registry.stop();
    throw err;
  }
}

/** Stops the kubelet (putting its kernel settings back) and the daemon, removes what they made. */
export async function tearDownNode(node: Node): Promise<void> {
  try {
    await node.kubelet.cleanup();
  } finally {
    await node.daemon.cleanup();
    await node.registry.stop();
    await removeKubeletLogEntries(NAMESPACE);
    // Only when empty: someone else may have started using them meanwhile.
    for (const dir of node.createdDirs) await fs.rmdir(dir).catch(() => undefined);
    if (process.env.CRIO_TEST_KEEP !== '1') await fs.rm(node.kubeletDir, { recursive: true, force: true });
  }
}

/** The scenario → result rows, filled by scenario(). */
export const results: ScenarioResult[] = [];

/** A test whose outcome (and the detail it returns) goes into the closing table. */
export function scenario(name: string, timeoutMs: number, fn: () => Promise<string>): void {
  test(name, { timeout: timeoutMs }, async () => {
    try {
      results.push({ scenario: name, ok: true, detail: await fn() });
    } catch (err) {
      results.push({ scenario: name, ok: false, detail: (err instanceof Error ? err.message : String(err)).slice(0, 500) });
      throw err;
    }
  });
}

/** Polls `check` every second until it returns a value; the last error is in the timeout message. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > until) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/** A static pod's name in the kubelet's API (<name>-<node>). */
export const fullName = (name: string): string => `${name}-${NODE}`;

/** Writes a static pod manifest atomically (the kubelet must never read a half-written file; it skips dot files). */
export async function writeManifest(node: Node, name: string, obj: unknown): Promise<void> {
  const tmp = path.join(node.kubelet.manifests, `.${name}.yaml.tmp`);
  await fs.writeFile(tmp, JSON.stringify(obj, null, 2));
  await fs.rename(tmp, path.join(node.kubelet.manifests, `${name}.yaml`));
}

export async function removeManifest(node: Node, name: string): Promise<void> {
  await fs.rm(path.join(node.kubelet.manifests, `${name}.yaml`), { force: true });
}

/** The kubelet's view of a static pod. */
export async function pod(name: string): Promise<Pod | undefined> {
  return (await kubeletPods()).find((p) => p.metadata.name === fullName(name));
}

export const isReady = (p: Pod | undefined): boolean => p?.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export function waitReady(name: string, timeoutMs = 180_000): Promise<Pod> {
  return waitFor(`${name} Ready`, timeoutMs, async () => {
    const p = await pod(name);
    return isReady(p) ? p : undefined;
  });
}
