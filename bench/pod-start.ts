import { benchPodConfig, startBenchDaemon, startBenchPod } from './bench-daemon';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProgram } from '../lib/process';
import { unmountUnder } from '../test/harness/daemon';
import { row, percentile, timeMs } from './stats';

/**
 * Pod + container start: RunPodSandbox + CreateContainer + StartContainer through the CRI,
 * next to the floor measured by this same script: `ip netns add` + CNI bridge ADD + overlay
 * mount + `runc run true`, with the same rootfs and the same bridge plugin. Also RunPodSandbox
 * alone next to its own floor (`ip netns add` + CNI bridge ADD).
 * Usage: node build/bench/pod-start.js [iterations=20]
 */

const N = Number(process.argv[2] ?? 20);
const NET_INDEX = 231;

async function must(file: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const r = await runProgram(file, args, opts);
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')}: ${r.stderr.toString()} ${r.stdout.toString()}`);
  return r.stdout.toString();
}

interface FloorTimes {
  total: number[];
  /** netns + CNI ADD only: the floor of RunPodSandbox. */
  sandbox: number[];
}

async function floor(dir: string, lowerDir: string): Promise<FloorTimes> {
  const bridgeConf = (ipamDir: string) =>
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'bench-floor',
      type: 'bridge',
      bridge: `crts${NET_INDEX + 1}`,
      isGateway: true,
      ipMasq: false,
      ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: `10.88.${NET_INDEX + 1}.0/24` }]] },
    });
  const template = path.join(dir, 'template');
  await fs.mkdir(template, { recursive: true });
  await runProgram('runc', ['spec', '-b', template]);
  const spec = JSON.parse(await fs.readFile(path.join(template, 'config.json'), 'utf8')) as {
    process: { args: string[]; terminal: boolean };
    root: { path: string; readonly: boolean };
    linux: { namespaces: { type: string; path?: string }[] };
  };
  const times: number[] = [];
  const sandboxTimes: number[] = [];
  for (let i = 0; i < N; i++) {
    const id = `crts-floor-${process.pid}-${i}`;
    const base = path.join(dir, id);
    const env = {
      ...process.env,
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: id,
      CNI_NETNS: `/var/run/netns/${id}`,
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/usr/lib/cni',
    };
    let sandboxDone = 0;
    const started = process.hrtime.bigint();
    const t = await timeMs(async () => {
      await must('ip', ['netns', 'add', id]);
      await must('/usr/lib/cni/bridge', [], { input: bridgeConf(path.join(dir, 'ipam')), env });
      sandboxDone = Number(process.hrtime.bigint() - started) / 1e6;
      for (const d of ['upper', 'work', 'merged']) await fs.mkdir(path.join(base, d), { recursive: true });
      await must('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowerDir},upperdir=${base}/upper,workdir=${base}/work`, `${base}/merged`]);
      spec.process.args = ['true'];
      spec.process.terminal = false;
      spec.root = { path: `${base}/merged`, readonly: false };
      spec.linux.namespaces = spec.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', path: `/var/run/netns/${id}` } : n));
      await fs.writeFile(path.join(base, 'config.json'), JSON.stringify(spec));
      await must('runc', ['--root', path.join(dir, 'runc'), 'run', '-b', base, id]);
    });
    times.push(t);
    sandboxTimes.push(sandboxDone);
    await runProgram('runc', ['--root', path.join(dir, 'runc'), 'delete', '-f', id]);
    await runProgram('umount', [`${base}/merged`]);
    await runProgram('/usr/lib/cni/bridge', [], { input: bridgeConf(path.join(dir, 'ipam')), env: { ...env, CNI_COMMAND: 'DEL' } });
    await runProgram('ip', ['netns', 'del', id]);
  }
  await runProgram('ip', ['link', 'del', `crts${NET_INDEX + 1}`]);
  return { total: times, sandbox: sandboxTimes };
}

async function main(): Promise<void> {
  // The bridge plugin (isGateway) turns on IPv4 forwarding; the floor's own run must put it back.
  const ipForward = await fs.readFile('/proc/sys/net/ipv4/ip_forward', 'utf8');
  const { registry, daemon } = await startBenchDaemon(NET_INDEX);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-bench-'));
  try {
    const { runtime: rt, image: im } = daemon.cri;
    await im.pullImage({ image: { image: 'busybox' } });
    const ours: number[] = [];
    const oursSandbox: number[] = [];
    for (let i = 0; i < N + 2; i++) {
      const config = benchPodConfig(daemon, `bench-${i}`);
      let podSandboxId = '';
      let sandboxMs = 0;
      const t = await timeMs(async () => {
        ({ podSandboxId, sandboxMs } = await startBenchPod(daemon, config));
      });
      if (i >= 2) {
        // the first two warm caches (JIT, page cache)
        ours.push(t);
        oursSandbox.push(sandboxMs);
      }
      await rt.stopPodSandbox({ podSandboxId });
      await rt.removePodSandbox({ podSandboxId });
    }
    const layers = path.join(daemon.dir, 'root', 'crio-layers');
    const layerId = (await fs.readdir(layers)).find((n) => /^[0-9a-f]{64}$/.test(n));
    if (!layerId) throw new Error('no layer found for the floor rootfs');
    const f = await floor(work, path.join(layers, layerId, 'diff'));
    const ratio = percentile(ours, 50) / percentile(f.total, 50);
    const sandboxRatio = percentile(oursSandbox, 50) / percentile(f.sandbox, 50);
    process.stdout.write(`pod + container start, ${N} iterations on ${os.cpus().length} cores\n`);
    process.stdout.write(row('floor: netns + CNI bridge + overlay + runc run', f.total) + '\n');
    process.stdout.write(row('crio-ts: RunPodSandbox + Create + Start', ours) + '\n');
    process.stdout.write(`ratio p50 crio-ts / floor: ${ratio.toFixed(2)}x (target <= 1.4x; CRI-O 1.8x, containerd 2.6x)\n`);
    process.stdout.write(row('floor: netns + CNI bridge ADD', f.sandbox) + '\n');
    process.stdout.write(row('crio-ts: RunPodSandbox', oursSandbox) + '\n');
    process.stdout.write(`ratio p50 RunPodSandbox / floor: ${sandboxRatio.toFixed(2)}x\n`);
  } finally {
    await daemon.cleanup();
    await registry.stop();
    await unmountUnder(work);
    await fs.rm(work, { recursive: true, force: true });
    await fs.writeFile('/proc/sys/net/ipv4/ip_forward', ipForward);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
