import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { backgroundContext } from '../lib/context';
import { nullLogger } from '../lib/log';
import { removeCgroup } from '../lib/oci/cgroupfs';
import { OciRuntime, type CreateContainerOptions } from '../lib/oci/runtime';
import { generateSpec } from '../lib/oci/spec';
import { DEFAULT_CAPABILITIES } from '../lib/security/capabilities';
import { resolveSecurity } from '../lib/security/security';
import { percentile, result, row, runBench } from './stats';

/**
 * What starting conmon before the bundle is complete saves (OciRuntime.prepareCreate): the same
 * create with the bundle ready, timed from the moment the bundle is complete, once the serial
 * way (spawn conmon, then `runc create` through it) and once with conmon already waiting on its
 * start pipe, alternately. The difference is what CreateContainer saves when the layer and spec
 * work takes longer than conmon's start-up. Real runc + conmon + busybox; needs root.
 * Usage: node build/bench/create-early.js [iterations=20]
 */

const N = Number(process.argv[2] ?? 20);
const WARM_UP = 2;
const CGROUP_PARENT = `/crio-ts-create-early-${process.pid}`;

function writeBundle(dir: string, id: string): void {
  const rootfs = path.join(dir, 'rootfs');
  for (const d of ['bin', 'proc', 'dev', 'sys', 'etc', 'tmp']) mkdirSync(path.join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  symlinkSync('busybox', path.join(rootfs, 'bin', 'true'));
  const { security } = resolveSecurity({
    privileged: false,
    defaultCapabilities: DEFAULT_CAPABILITIES,
    addInheritableCapabilities: false,
    hostCapabilities: DEFAULT_CAPABILITIES,
    noNewPrivileges: false,
    readonlyRootfs: false,
    maskedPaths: [],
    readonlyPaths: [],
    hostFeatures: { apparmor: false, selinux: false, seccomp: false },
  });
  const spec = generateSpec({
    containerId: id,
    rootfs,
    hostname: 'bench',
    process: { args: ['true'], env: ['PATH=/bin'], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [0] }, terminal: false },
    security,
    namespaces: { network: { mode: 'new' }, ipc: { mode: 'new' }, uts: { mode: 'new' }, pid: { mode: 'new' } },
    mounts: [],
    podFiles: {},
    cgroupsPath: `${CGROUP_PARENT}/crio-${id}`,
    annotations: {},
  });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec));
}

const sinceMs = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crio-ts-create-early-'));
  const log = nullLogger();
  const runtime = new OciRuntime({
    runtimePath: '/usr/sbin/runc',
    runtimeRoot: path.join(tmp, 'runc'),
    conmonPath: '/usr/bin/conmon',
    exitsDir: path.join(tmp, 'exits'),
    persistDir: path.join(tmp, 'bundles'),
    cgroupManager: 'cgroupfs',
    logLevel: 'info',
    log,
    sealedCopy: true,
  });
  const ctx = backgroundContext(log);
  const serial: number[] = [];
  const early: number[] = [];
  try {
    for (let i = 0; i < N + WARM_UP; i++) {
      for (const mode of ['serial', 'early'] as const) {
        const id = randomBytes(32).toString('hex');
        const bundleDir = path.join(tmp, 'bundles', id);
        writeBundle(bundleDir, id);
        const opts: CreateContainerOptions = { containerId: id, name: 'bench', bundleDir, logPath: path.join(tmp, 'logs', `${id}.log`), terminal: false, stdin: false, stdinOnce: false };
        let t = process.hrtime.bigint();
        if (mode === 'serial') {
          await runtime.createContainer(opts, ctx);
        } else {
          const pending = await runtime.prepareCreate(opts, ctx);
          // conmon opens the log just before it blocks on the start pipe; the wait stands for
          // the layer and spec work it overlaps in CreateContainer.
          while (!existsSync(opts.logPath)) await sleep(2);
          await sleep(20);
          t = process.hrtime.bigint();
          await pending.create();
        }
        const ms = sinceMs(t);
        if (i >= WARM_UP) (mode === 'serial' ? serial : early).push(ms);
        await runtime.delete(id, true);
        await runtime.removeContainerFiles(id);
      }
    }
  } finally {
    runtime.dispose();
    await removeCgroup(CGROUP_PARENT).catch(() => undefined);
    rmSync(tmp, { recursive: true, force: true });
  }
  const saved = percentile(serial, 50) - percentile(early, 50);
  const out = (l: string): void => void process.stdout.write(l + '\n');
  out(`create with the bundle ready, ${N} rounds on ${os.cpus().length} cores`);
  out(row('serial: spawn conmon + runc create', serial));
  out(row('early: conmon already waiting', early));
  out(`saved p50: ${saved.toFixed(1)} ms`);
  out(result({ name: 'create, conmon started early', value: percentile(early, 50), floor: percentile(serial, 50), ratio: percentile(early, 50) / percentile(serial, 50), unit: 'ms' }));
}

runBench(main);
