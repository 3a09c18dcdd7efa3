import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ContainerState, Signal } from '../../lib/cri/gen/api';
import { runProgram } from '../../lib/process';
import { rejectsWith, startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * Stop and remove semantics: stop signal from the CRI config or the image, SIGKILL after the
 * timeout for a container that ignores SIGTERM, a second StopContainer with a shorter timeout
 * cutting the first one's wait, ExecSync refused while the container is being killed, idempotent
 * stop/remove, and remove force-stopping a running container.
 */

let fx: ContainerFixture;

/** A shell loop as PID 1 that exits with `code` on `signal` and ignores SIGTERM otherwise. */
const onSignal = (signal: string, code: number): string[] => ['sh', '-c', `trap "exit ${code}" ${signal}; trap "" TERM; while :; do sleep 1 & wait $!; done`];

before(async () => {
  fx = await startContainerFixture({ netIndex: 141, extra: { sigimg: { stopSignal: 'SIGUSR2' } } });
});

after(async () => {
  await fx?.cleanup();
});

async function status(containerId: string) {
  const s = (await fx.daemon.cri.runtime.containerStatus({ containerId })).status;
  assert.ok(s);
  return s;
}

test('stop signal from the CRI config, from the image, and SIGKILL for a SIGTERM-ignoring container', async () => {
  const { podSandboxId, config } = await fx.runPod('sig');
  const fromCri = await fx.runContainer(podSandboxId, config, { metadata: { name: 'cri' }, command: onSignal('USR1', 42), stopSignal: Signal.SIGNAL_SIGUSR1 });
  const fromImage = await fx.runContainer(podSandboxId, config, { metadata: { name: 'img' }, image: { image: 'sigimg' }, command: onSignal('USR2', 43) });
  const stubborn = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'stubborn' },
    command: ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'],
  });
  assert.equal((await status(fromImage)).stopSignal, Signal.SIGNAL_SIGUSR2);

  await fx.daemon.cri.runtime.stopContainer({ containerId: fromCri, timeout: 30n });
  await fx.daemon.cri.runtime.stopContainer({ containerId: fromImage, timeout: 30n });
  await fx.daemon.cri.runtime.stopContainer({ containerId: stubborn, timeout: 1n });
  assert.deepEqual(
    [await status(fromCri), await status(fromImage)].map((s) => [s.exitCode, s.reason]),
    [
      [42, 'Error'],
      [43, 'Error'],
    ],
  );
  const killed = await status(stubborn);
  assert.equal(killed.state, ContainerState.CONTAINER_EXITED);
  assert.equal(killed.exitCode, 137); // SIGKILL after the grace period

  // Stop and remove are idempotent.
  await fx.daemon.cri.runtime.stopContainer({ containerId: stubborn, timeout: 1n });
  await fx.daemon.cri.runtime.removeContainer({ containerId: stubborn });
  await fx.daemon.cri.runtime.removeContainer({ containerId: stubborn });
  await fx.daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await fx.daemon.cri.runtime.removePodSandbox({ podSandboxId });
});

test('a second StopContainer with a shorter timeout cuts the wait of the first', { timeout: 60_000 }, async () => {
  const { podSandboxId, config } = await fx.runPod('short');
  const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'c' }, command: ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'] });
  const long = fx.daemon.cri.runtime.stopContainer({ containerId: id, timeout: 3600n });
  // Let the first stop start its grace period (ordering only; nothing is measured).
  await new Promise((r) => setTimeout(r, 300));
  await fx.daemon.cri.runtime.stopContainer({ containerId: id, timeout: 0n });
  await long; // would take an hour without the second call
  assert.equal((await status(id)).exitCode, 137);
});

test('ExecSync is refused while the container is being killed; remove force-stops', async () => {
  const { podSandboxId, config } = await fx.runPod('kill');
  const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'c' }, command: ['sleep', '3600'] });
  // With its conmon stopped, the killed container's exit is not recorded, so the stop stays in its
  // SIGKILL phase until conmon continues.
  const conmonPid = Number((await fs.readFile(path.join(fx.daemon.dir, 'run', 'crio-bundles', id, 'conmon-pidfile'), 'utf8')).trim());
  process.kill(conmonPid, 'SIGSTOP');
  let stopping: Promise<unknown> | undefined;
  try {
    stopping = fx.daemon.cri.runtime.stopContainer({ containerId: id, timeout: 0n });
    await waitFor('exec refusal', async () => {
      try {
        await fx.daemon.cri.runtime.execSync({ containerId: id, cmd: ['true'], timeout: 5n });
        return undefined;
      } catch (err) {
        return /being killed/.test(String(err)) ? true : undefined;
      }
    });
    await rejectsWith(fx.daemon.cri.runtime.execSync({ containerId: id, cmd: ['true'], timeout: 5n }), grpcStatus.FAILED_PRECONDITION, /is being killed/);
  } finally {
    process.kill(conmonPid, 'SIGCONT');
  }
  await stopping;
  assert.equal((await status(id)).exitCode, 137);
  await rejectsWith(fx.daemon.cri.runtime.execSync({ containerId: id, cmd: ['true'], timeout: 5n }), grpcStatus.NOT_FOUND, /not running/);

  const running = await fx.runContainer(podSandboxId, config, { metadata: { name: 'r' }, command: ['sleep', '3600'] });
  const verbose = await fx.daemon.cri.runtime.containerStatus({ containerId: running, verbose: true });
  const pid = JSON.parse(verbose.info.info ?? '{}').pid as number;
  assert.equal(verbose.status?.state, ContainerState.CONTAINER_RUNNING);
  await fx.daemon.cri.runtime.removeContainer({ containerId: running });
  assert.equal((await fx.daemon.cri.runtime.listContainers({ filter: { id: running } })).containers.length, 0);
  assert.equal((await runProgram('kill', ['-0', String(pid)])).exitCode === 0, false, 'the process is gone');
  await fx.daemon.cri.runtime.removeContainer({ containerId: 'ffffffffffff' }); // unknown: fine
});
