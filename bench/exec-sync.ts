import path from 'node:path';
import { runProgram } from '../lib/process';
import { benchPodConfig, startBenchDaemon } from './bench-daemon';
import { paired, pairedRatio, percentile, result, row, runBench } from './stats';

/**
 * ExecSync `true` against its floor (issue 17: ≤ 1.0×), a bare `runc exec <id> true` of the same
 * command in the same running container, spawned by this bench process (through lib/spawn.ts:
 * posix_spawn, the cheapest way a node process starts it). The two alternate
 * round by round (the order swapping each round), so load on the shared machine hits both; the
 * ratio is the median of the per-round ratios. Also prints ExecSync of `sh -c 'echo out; echo
 * err >&2; exit 3'` next to the floor running the same, which exercises output capture.
 * Usage: node build/bench/exec-sync.js [rounds=100]
 */

const N = Number(process.argv[2] ?? 100);
const NET_INDEX = 172;

async function main(): Promise<void> {
  const out = (l: string): void => void process.stdout.write(l + '\n');
  const { registry, daemon } = await startBenchDaemon(NET_INDEX);
  try {
    const { runtime: rt, image: im } = daemon.cri;
    await im.pullImage({ image: { image: 'busybox' } });
    const config = benchPodConfig(daemon, 'exec');
    const { podSandboxId } = await rt.runPodSandbox({ config });
    const { containerId } = await rt.createContainer({
      podSandboxId,
      sandboxConfig: config,
      config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '3600'], logPath: 'c.log' },
    });
    await rt.startContainer({ containerId });
    const runc = (cmd: string[]) => () => runProgram('/usr/sbin/runc', ['--root', path.join(daemon.dir, 'runc'), 'exec', containerId, ...cmd]);
    const exec = (cmd: string[]) => async () => {
      const r = await rt.execSync({ containerId, cmd, timeout: 10n });
      if (r.exitCode !== (cmd[0] === 'true' ? 0 : 3)) throw new Error(`ExecSync ${cmd.join(' ')} exited ${r.exitCode}`);
    };
    for (const [name, cmd] of [
      ['ExecSync `true`', ['true']],
      ['ExecSync `sh -c "echo; echo >&2; exit 3"`', ['sh', '-c', 'echo out; echo err >&2; exit 3']],
    ] as const) {
      const p = await paired(N, runc([...cmd]), exec([...cmd]));
      const ratio = pairedRatio(p);
      out(row(name, p.value));
      out(row('  floor: bare `runc exec` of the same', p.floor));
      out(`  ratio (median of per-round ratios) ${ratio.toFixed(3)}×, median difference ${percentile(p.diff, 50).toFixed(2)} ms`);
      out(result({ name, value: percentile(p.value, 50), unit: 'ms', floor: percentile(p.floor, 50), ratio }));
    }
    await rt.stopPodSandbox({ podSandboxId });
    await rt.removePodSandbox({ podSandboxId });
  } finally {
    await daemon.cleanup();
    await registry.stop();
  }
}

runBench(main);
