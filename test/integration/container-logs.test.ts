import assert from 'node:assert/strict';
import { promises as fs, readFileSync, statSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { rejectsWith, startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * Container logs: the CRI log format (full and partial lines, both streams), log_size_max, log
 * rotation with ReopenContainerLog (refused for a stopped container), and logging that goes on
 * across a daemon restart (conmon owns the log, not the daemon).
 */

const LOG_SIZE_MAX = 16384;
const LINE = /^(\S+) (stdout|stderr) ([FP]) (.*)$/;

let fx: ContainerFixture;

before(async () => {
  fx = await startContainerFixture({ netIndex: 144, dropIn: `[crio.runtime]\nlog_size_max = ${LOG_SIZE_MAX}\n` });
});

after(async () => {
  await fx?.cleanup();
});

async function logPath(containerId: string): Promise<string> {
  return (await fx.daemon.cri.runtime.containerStatus({ containerId })).status?.logPath ?? '';
}

/** The `tick N` numbers in a log file. */
function ticks(file: string): number[] {
  return [...readFileSync(file, 'utf8').matchAll(/ stdout F tick (\d+)$/gm)].map((m) => Number(m[1]));
}

test('CRI log format and log_size_max', async () => {
  const { podSandboxId, config } = await fx.runPod('fmt');
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'c' },
    command: ['sh', '-c', 'echo hello; echo oops >&2; printf part; sleep 0.3; echo ial; sleep 3600'],
  });
  const file = await logPath(id);
  const lines = await waitFor('all lines', async () => {
    const l = readFileSync(file, 'utf8').split('\n').filter(Boolean);
    return l.length >= 4 ? l : undefined;
  });
  const parsed = lines.map((l) => LINE.exec(l));
  for (const p of parsed) {
    assert.ok(p, 'every line has the CRI form');
    assert.match(p[1] ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+(Z|[+-]\d\d:\d\d)$/);
    assert.ok(!Number.isNaN(Date.parse(p[1] ?? '')));
  }
  // Order within a stream is kept; between stdout and stderr (two pipes) it is not defined.
  const stream = (name: string) => parsed.filter((p) => p?.[2] === name).map((p) => p?.slice(3).join(' '));
  assert.deepEqual(stream('stdout'), ['F hello', 'P part', 'F ial']);
  assert.deepEqual(stream('stderr'), ['F oops']);

  const big = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'big' },
    command: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "line $i of the big log"; i=$((i+1)); done; echo done; sleep 3600'],
  });
  const bigFile = await logPath(big);
  await waitFor('the last line', async () => (/stdout F done$/m.test(readFileSync(bigFile, 'utf8')) ? true : undefined));
  assert.ok(statSync(bigFile).size <= LOG_SIZE_MAX, `log is ${statSync(bigFile).size} bytes, over log_size_max`);
});

test('rotation with ReopenContainerLog, across a daemon restart; refused once stopped', async () => {
  const { podSandboxId, config } = await fx.runPod('rot');
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'c' },
    command: ['sh', '-c', 'i=0; while :; do echo "tick $i"; i=$((i+1)); sleep 0.05; done'],
  });
  const file = await logPath(id);
  await waitFor('first ticks', async () => (ticks(file).length > 2 ? true : undefined));
  await fs.rename(file, `${file}.1`);
  await fx.daemon.cri.runtime.reopenContainerLog({ containerId: id });
  await waitFor('ticks in the new file', async () => (ticks(file).length > 2 ? true : undefined));
  const all = [...ticks(`${file}.1`), ...ticks(file)];
  assert.deepEqual(
    all,
    all.map((_, i) => i),
    'no tick lost or repeated across the rotation',
  );

  await fx.daemon.restart();
  const before = ticks(file).length;
  await waitFor('ticks after the restart', async () => (ticks(file).length > before + 2 ? true : undefined));
  await fs.rename(file, `${file}.2`);
  await fx.daemon.cri.runtime.reopenContainerLog({ containerId: id });
  await waitFor('ticks in the file after the second rotation', async () => (ticks(file).length > 0 ? true : undefined));

  await fx.daemon.cri.runtime.stopContainer({ containerId: id, timeout: 0n });
  await rejectsWith(fx.daemon.cri.runtime.reopenContainerLog({ containerId: id }), grpcStatus.FAILED_PRECONDITION, /not running/);
});
