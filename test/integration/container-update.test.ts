import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { cgroupFile, rejectsWith, startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * UpdateContainerResources through `runc update`: new cpu and memory limits land in the cgroup
 * files and in ContainerStatus; lowering memory below what the container uses is refused with a
 * clear message and leaves the old limit; exited containers cannot be updated.
 */

let fx: ContainerFixture;

before(async () => {
  fx = await startContainerFixture({ netIndex: 145 });
});

after(async () => {
  await fx?.cleanup();
});

test('cpu and memory updates reach the cgroup; a too-low memory limit is refused', async () => {
  const { podSandboxId, config } = await fx.runPod('upd');
  // The shell keeps a 16 MiB string in a variable, so the cgroup uses more than that.
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'c' },
    command: ['sh', '-c', 'x=a; i=0; while [ $i -lt 24 ]; do x="$x$x"; i=$((i+1)); done; echo ready; sleep 3600; echo "${#x}"'],
    linux: { resources: { cpuShares: 256n, memoryLimitInBytes: 128n << 20n } },
  });
  const rt = fx.daemon.cri.runtime;
  const verbose = await rt.containerStatus({ containerId: id, verbose: true });
  const cg = JSON.parse(verbose.info.info ?? '{}').runtimeSpec.linux.cgroupsPath as string;
  const logPath = verbose.status?.logPath ?? '';
  await waitFor('the memory to be taken', async () => (/stdout F ready/.test(readFileSync(logPath, 'utf8')) ? true : undefined));

  await rt.updateContainerResources({ containerId: id, linux: { cpuShares: 1024n, cpuQuota: 20_000n, cpuPeriod: 100_000n, memoryLimitInBytes: 256n << 20n } });
  assert.equal(cgroupFile('cpu', cg, 'cpu.shares'), '1024');
  assert.equal(cgroupFile('cpu', cg, 'cpu.cfs_quota_us'), '20000');
  assert.equal(cgroupFile('memory', cg, 'memory.limit_in_bytes'), String(256 << 20));
  assert.equal(cgroupFile('memory', cg, 'memory.memsw.limit_in_bytes'), String(256 << 20));
  const st = await rt.containerStatus({ containerId: id });
  assert.equal(st.status?.resources?.linux?.cpuShares, 1024n);
  assert.equal(st.status?.resources?.linux?.memoryLimitInBytes, 256n << 20n);

  const usage = Number(cgroupFile('memory', cg, 'memory.usage_in_bytes'));
  assert.ok(usage > 16 << 20, `usage ${usage}`);
  await rejectsWith(
    rt.updateContainerResources({ containerId: id, linux: { memoryLimitInBytes: 13n << 20n } }),
    grpcStatus.FAILED_PRECONDITION,
    new RegExp(`cannot decrease the memory limit .* to 13631488 bytes: current usage is \\d+ bytes; the limit stays at ${256 << 20} bytes`),
  );
  assert.equal(cgroupFile('memory', cg, 'memory.limit_in_bytes'), String(256 << 20));
  assert.equal((await rt.containerStatus({ containerId: id })).status?.resources?.linux?.memoryLimitInBytes, 256n << 20n);

  // Lowering to a value above the usage works.
  await rt.updateContainerResources({ containerId: id, linux: { memoryLimitInBytes: 96n << 20n } });
  assert.equal(cgroupFile('memory', cg, 'memory.limit_in_bytes'), String(96 << 20));

  await rt.stopContainer({ containerId: id, timeout: 0n });
  await rejectsWith(rt.updateContainerResources({ containerId: id, linux: { cpuShares: 2n } }), grpcStatus.FAILED_PRECONDITION, /only created or running/);
});
