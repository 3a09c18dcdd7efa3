import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import { ExecSyncRequest, type ExecSyncResponse } from '../../lib/cri/gen/api';
import { rejectsWith, startContainerFixture, type ContainerFixture } from './container-fixture';

/**
 * ExecSync: separated streams and exit code, CRI-O's timeout contract (exit -1 and "command timed
 * out", the process killed), the 16 MiB cap per stream, and refusal for a container that is not
 * running. (Exec in tty containers is covered in container-create.test.ts.)
 */

let fx: ContainerFixture;

before(async () => {
  fx = await startContainerFixture({ netIndex: 142 });
});

after(async () => {
  await fx?.cleanup();
});

test('streams, exit code, timeout, and the 16 MiB cap', async () => {
  const { podSandboxId, config } = await fx.runPod('exec');
  const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'c' }, command: ['sleep', '3600'] });
  const rt = fx.daemon.cri.runtime;

  const r = await rt.execSync({ containerId: id, cmd: ['sh', '-c', 'echo out; echo err >&2; exit 5'], timeout: 10n });
  assert.deepEqual([r.stdout.toString(), r.stderr.toString(), r.exitCode], ['out\n', 'err\n', 5]);

  const timedOut = await rt.execSync({ containerId: id, cmd: ['sh', '-c', 'echo started; exec sleep 600'], timeout: 1n });
  assert.equal(timedOut.exitCode, -1);
  assert.equal(timedOut.stderr.toString(), 'command timed out');
  assert.equal(timedOut.stdout.toString(), 'started\n');
  const ps = await rt.execSync({ containerId: id, cmd: ['ps', '-o', 'args'], timeout: 10n });
  assert.doesNotMatch(ps.stdout.toString(), /sleep 600/, 'the timed-out command was killed');

  // The default client refuses messages over 4 MiB; this one takes the whole capped answer.
  const raw = fx.rawRuntime({ 'grpc.max_receive_message_length': -1 });
  const big = await new Promise<ExecSyncResponse>((resolve, reject) => {
    const req = ExecSyncRequest.fromPartial({ containerId: id, cmd: ['sh', '-c', 'head -c 20000000 /dev/zero; head -c 17000000 /dev/zero >&2'], timeout: 60n });
    raw.execSync(req, new Metadata(), { deadline: Date.now() + 60_000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
  assert.equal(big.exitCode, 0);
  assert.equal(big.stdout.length, 16 * 1024 * 1024);
  assert.equal(big.stderr.length, 16 * 1024 * 1024);

  await rt.stopContainer({ containerId: id, timeout: 0n });
  await rejectsWith(rt.execSync({ containerId: id, cmd: ['true'], timeout: 5n }), grpcStatus.NOT_FOUND, /is not running/);
  await rejectsWith(rt.execSync({ containerId: id, cmd: [], timeout: 5n }), grpcStatus.INVALID_ARGUMENT, /cmd is empty/);
});
