import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ContainerState } from '../../lib/cri/gen/api';
import { grpcCode, rejectsWith, startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * Restart safety: the daemon is SIGKILLed while containers run; one exits while it is down and
 * must show its real exit code, another keeps running and stays usable; a corrupt record does not
 * block start-up and its container is cleaned; an identical CreateContainer retried after a
 * client timeout gets the same ID (also after a restart) while a changed one gets AlreadyExists.
 */

let fx: ContainerFixture;

before(async () => {
  fx = await startContainerFixture({ netIndex: 147 });
});

after(async () => {
  await fx?.cleanup();
});

test('SIGKILL of the daemon: an exit while it is down, a survivor, a corrupt record', async () => {
  const rt = fx.daemon.cri.runtime;
  const { podSandboxId, config } = await fx.runPod('crash');
  const signals = path.join(fx.daemon.dir, 'signals');
  await fs.mkdir(signals, { recursive: true });
  const exiter = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'exiter' },
    command: ['sh', '-c', 'while [ ! -e /signals/go ]; do sleep 0.1; done; exit 7'],
    mounts: [{ hostPath: signals, containerPath: '/signals' }],
  });
  const survivor = await fx.runContainer(podSandboxId, config, { metadata: { name: 'survivor' }, command: ['sleep', '3600'] });
  const doomed = await fx.runContainer(podSandboxId, config, { metadata: { name: 'doomed' }, command: ['sleep', '3600'] });
  const doomedPid = JSON.parse((await rt.containerStatus({ containerId: doomed, verbose: true })).info.info ?? '{}').pid as number;

  await fx.daemon.kill();
  await fs.writeFile(path.join(signals, 'go'), '');
  // conmon, not the daemon, records the exit.
  await waitFor('the exit file', async () => (existsSync(path.join(fx.daemon.dir, 'run', 'exits', exiter)) ? true : undefined));
  const records = path.join(fx.daemon.dir, 'root', 'crio-state', 'containers');
  await fs.writeFile(path.join(records, `${doomed}.json`), '{"version": 1, "id": "trunc');
  await fs.writeFile(path.join(records, `${'e'.repeat(64)}.json`), 'not json at all');
  await fx.daemon.restart();

  const ex = (await rt.containerStatus({ containerId: exiter })).status;
  assert.deepEqual([ex?.state, ex?.exitCode, ex?.reason], [ContainerState.CONTAINER_EXITED, 7, 'Error']);
  assert.ok((ex?.finishedAt ?? 0n) > (ex?.startedAt ?? 0n));
  assert.equal((await rt.containerStatus({ containerId: survivor })).status?.state, ContainerState.CONTAINER_RUNNING);
  assert.equal((await rt.execSync({ containerId: survivor, cmd: ['echo', 'alive'], timeout: 10n })).stdout.toString(), 'alive\n');
  // The corrupt records were set aside; the container behind one was cleaned up.
  assert.ok(existsSync(path.join(records, `${doomed}.json.corrupt`)));
  await rejectsWith(rt.containerStatus({ containerId: doomed }), grpcStatus.NOT_FOUND, /not found/);
  await waitFor('the orphan to be gone', async () => (existsSync(`/proc/${doomedPid}`) ? undefined : true));
  await rt.stopContainer({ containerId: survivor, timeout: 0n });
  assert.equal((await rt.containerStatus({ containerId: survivor })).status?.exitCode, 137);
});

test('an identical CreateContainer retried after a client timeout gets the same ID; a changed one AlreadyExists', async () => {
  const rt = fx.daemon.cri.runtime;
  const { podSandboxId, config } = await fx.runPod('retry');
  const req = {
    podSandboxId,
    sandboxConfig: config,
    config: { metadata: { name: 'c', attempt: 0 }, image: { image: 'busybox' }, command: ['sleep', '3600'], labels: { a: '1', b: '2' } },
  };
  // A deadline far shorter than a create: the client gives up, the daemon carries on.
  const first = await rt.createContainer(req, 50).then(
    (r) => r.containerId,
    (err: unknown) => {
      assert.ok([grpcStatus.DEADLINE_EXCEEDED, grpcStatus.CANCELLED].includes(grpcCode(err) ?? -1), String(err));
      return undefined;
    },
  );
  // Same request with the labels in another order (Go marshals maps in random order).
  const retry = await rt.createContainer({ ...req, config: { ...req.config, labels: { b: '2', a: '1' } } });
  if (first !== undefined) assert.equal(retry.containerId, first);
  const again = await rt.createContainer(req);
  assert.equal(again.containerId, retry.containerId);
  assert.deepEqual(
    (await rt.listContainers({ filter: { podSandboxId } })).containers.map((c) => c.id),
    [retry.containerId],
  );

  await rejectsWith(
    rt.createContainer({ ...req, config: { ...req.config, command: ['sleep', '1'] } }),
    grpcStatus.ALREADY_EXISTS,
    new RegExp(`reserved for container ${retry.containerId} by a request with different settings`),
  );
  await fx.daemon.restart();
  assert.equal((await rt.createContainer(req)).containerId, retry.containerId, 'the fingerprint survives a restart');
});
