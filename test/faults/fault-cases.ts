import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { ContainerState } from '../../lib/cri/gen/api';
import { pidAlive, readPidFile } from '../../lib/oci/pids';
import { buildBusyboxImage, type BuiltImage } from '../harness/test-images';
import { layerStoreState } from '../integration/storage-fixtures';
import { codeName, waitFor, type FaultFixture } from './fault-fixture';
import type { Row } from './fault-table';
import { invariantViolations } from './host-state';
import type { StallProxy } from './stall-proxy';

/**
 * The fault cases that are not a step of an operation: conmon dying under a running container
 * (with the daemon up and down), and a registry that stalls mid-transfer (client deadline,
 * pull_progress_timeout, a daemon crash during the stall).
 */

/** The image behind the stalling proxy. */
export const STALL_IMAGE = 'stalled';

/** busybox plus a 2 MiB layer of random bytes (gzip cannot shrink it to one read). */
export function stallImage(): Promise<BuiltImage> {
  return buildBusyboxImage({ extraLayers: [{ files: [{ path: 'blob', content: randomBytes(2 * 1024 * 1024) }] }] });
}

/** Conmon SIGKILLed (alone or with the container's process), with the daemon running and while it is down. */
export async function monitorCases(f: FaultFixture): Promise<Row[]> {
  const d = f.daemon;
  const cfg = f.podConfig('monitor');
  const { podSandboxId } = await d.cri.runtime.runPodSandbox({ config: cfg });
  const cases: { point: string; daemonDown: boolean; processToo: boolean }[] = [
    { point: 'conmon SIGKILL, daemon up', daemonDown: false, processToo: false },
    { point: 'conmon + process SIGKILL, daemon up', daemonDown: false, processToo: true },
    { point: 'conmon SIGKILL, daemon down', daemonDown: true, processToo: false },
    { point: 'conmon + process SIGKILL, daemon down', daemonDown: true, processToo: true },
  ];
  const rows: Row[] = [];
  for (const [i, c] of cases.entries()) {
    const { containerId } = await d.cri.runtime.createContainer({ podSandboxId, sandboxConfig: cfg, config: f.ctrConfig(`monitor-${i}`) });
    await d.cri.runtime.startContainer({ containerId });
    const bundle = path.join(d.dir, 'run', 'crio-bundles', containerId);
    const conmon = (await readPidFile(path.join(bundle, 'conmon-pidfile'))) ?? 0;
    const init = (await readPidFile(path.join(bundle, 'pidfile'))) ?? 0;
    if (c.daemonDown) await d.kill();
    process.kill(conmon, 'SIGKILL');
    if (c.processToo) process.kill(init, 'SIGKILL');
    if (c.daemonDown) await d.restart({});
    const violations: string[] = [];
    const st = await waitFor(
      'EXITED',
      async () => {
        const s = (await d.cri.runtime.containerStatus({ containerId })).status;
        return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
      },
      20_000,
      100,
    ).catch((err: Error) => (violations.push(err.message), undefined));
    if (st && st.exitCode !== 255) violations.push(`exit code ${st.exitCode}, want 255`);
    if (st && !/conmon exited without recording an exit code/.test(st.message)) violations.push(`message ${JSON.stringify(st.message)}`);
    await waitFor('the orphaned process to be gone', async () => ((await pidAlive(init)) ? undefined : true), 10_000).catch((err: Error) => violations.push(err.message));
    rows.push({ what: 'monitor death', point: c.point, killed: true, retry: st ? `EXITED ${st.exitCode} ${st.reason}` : 'not exited', violations });
  }
  const last = rows.at(-1);
  last?.violations.push(...(await invariantViolations(d)));
  await d.cri.runtime.stopPodSandbox({ podSandboxId });
  await d.cri.runtime.removePodSandbox({ podSandboxId });
  return rows;
}

/** A registry stalling mid-layer: the daemon stays responsive and no half image or layer is left, whatever ends the pull. */
export async function stallCases(f: FaultFixture, proxy: StallProxy): Promise<Row[]> {
  const d = f.daemon;
  const pull = (deadlineMs?: number) => d.cri.image.pullImage({ image: { image: STALL_IMAGE } }, deadlineMs);
  const leftovers = async (): Promise<string[]> => {
    const out: string[] = [];
    if ((await d.cri.image.imageStatus({ image: { image: STALL_IMAGE } })).image) out.push('the stalled image was stored');
    const st = await layerStoreState(path.join(d.dir, 'root'));
    out.push(...st.incomplete.map((l) => `incomplete layer ${l} left`));
    return out;
  };
  const stalledNow = () => waitFor('the transfer to stall', async () => (proxy.held() > 0 ? true : undefined), 20_000);
  const rows: Row[] = [];
  const cases: { point: string; run: () => Promise<string[]> }[] = [
    {
      point: 'stall, client deadline 2 s',
      run: async () => {
        const bad: string[] = [];
        const p = codeName(pull(2_000));
        await stalledNow();
        const t = Date.now();
        await d.cri.runtime.version({});
        if (Date.now() - t > 1_000) bad.push(`Version took ${Date.now() - t} ms during the stall`);
        const got = await p;
        if (got !== 'DEADLINE_EXCEEDED') bad.push(`pull answered ${got}`);
        await waitFor('the abandoned transfer to be closed', async () => (proxy.held() === 0 ? true : undefined), 10_000).catch((err: Error) => bad.push(err.message));
        return bad;
      },
    },
    {
      point: 'stall past pull_progress_timeout (3 s)',
      run: async () => {
        const bad: string[] = [];
        const got = await pull().then(
          () => 'ok',
          (err: ServiceError) => `${status[err.code] ?? err.code}: ${err.details}`,
        );
        if (!/no progress/.test(got)) bad.push(`pull answered ${got}`);
        return bad;
      },
    },
    {
      point: 'stall, daemon SIGKILLed mid-transfer',
      run: async () => {
        const p = codeName(pull());
        await stalledNow();
        await d.kill();
        await p;
        proxy.release();
        await d.restart({});
        return [];
      },
    },
  ];
  for (const c of cases) {
    proxy.stalled = true;
    const violations = await c.run();
    proxy.stalled = false;
    proxy.release();
    violations.push(...(await leftovers()));
    const retry = await codeName(pull());
    violations.push(...(await invariantViolations(d)));
    await d.cri.image.removeImage({ image: { image: STALL_IMAGE } });
    rows.push({ what: 'registry stall', point: c.point, killed: c.point.includes('SIGKILL'), retry, violations });
  }
  return rows;
}
