import assert from 'node:assert/strict';
import { existsSync, promises as fs, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ContainerState, MountPropagation } from '../../lib/cri/gen/api';
import { runProgram } from '../../lib/process';
import { cgroupFile, rejectsWith, startContainerFixture, waitFor, type ContainerFixture } from './container-fixture';

/**
 * CreateContainer semantics against the real daemon, conmon and runc: user by name, CRI mounts
 * (created host paths, rejected ones, read-only vs recursive read-only, propagation checks),
 * devices, termination message, image VOLUMEs (bind), default_ulimits, pids_limit, cgroup
 * resources with container_min_memory and the clamped oom_score_adj, tty, labels/annotations.
 */

let fx: ContainerFixture;
let scratch: string;
const mounted: string[] = [];

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\napp:x:1234:2345:app:/home/app:/bin/sh\n';
const GROUP = 'root:x:0:\napp:x:2345:\nextra:x:3456:app\n';

before(async () => {
  fx = await startContainerFixture({
    netIndex: 140,
    dropIn: [
      '[crio.runtime]',
      'default_ulimits = ["nofile=1024:2048"]',
      'pids_limit = 100',
      'additional_devices = ["/dev/zero:/dev/extra-zero:rw"]',
      'absent_mount_sources_to_reject = ["/nonexistent-crio-ts-reject"]',
      '[crio.image]',
      'image_volumes = "bind"',
      '',
    ].join('\n'),
    extra: {
      appimg: {
        volumes: ['/data'],
        extraLayers: [
          {
            files: [
              { path: 'etc/passwd', content: PASSWD },
              { path: 'etc/group', content: GROUP },
            ],
          },
        ],
      },
    },
  });
  scratch = path.join(fx.daemon.dir, 'scratch');
  await fs.mkdir(scratch, { recursive: true });
});

after(async () => {
  for (const m of mounted.reverse()) await runProgram('umount', ['-l', m]);
  await fx?.cleanup();
});

async function exec(containerId: string, cmd: string[]): Promise<{ out: string; err: string; code: number }> {
  const r = await fx.daemon.cri.runtime.execSync({ containerId, cmd, timeout: 10n });
  return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exitCode };
}

async function mountOnHost(args: string[], target: string): Promise<void> {
  await fs.mkdir(target, { recursive: true });
  const r = await runProgram('mount', [...args, target]);
  assert.equal(r.exitCode, 0, r.stderr.toString());
  mounted.push(target);
}

test('user by name, ulimits, pids limit, resources, devices and an image VOLUME', async () => {
  const { podSandboxId, config } = await fx.runPod('res');
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'main' },
    image: { image: 'appimg' },
    command: ['sleep', '3600'],
    devices: [{ hostPath: '/dev/loop-control', containerPath: '/dev/lc', permissions: 'r' }],
    labels: { tier: 'x' },
    annotations: { note: 'kept' },
    linux: {
      securityContext: { runAsUsername: 'app' },
      resources: { cpuShares: 512n, cpuQuota: 50_000n, cpuPeriod: 100_000n, cpusetCpus: '0', memoryLimitInBytes: 64n << 20n, oomScoreAdj: 500n },
    },
  });
  assert.deepEqual((await exec(id, ['id'])).out.trim(), 'uid=1234(app) gid=2345(app) groups=2345(app),3456(extra)');
  // The container process (PID 1 here); runc 1.1.5's exec leaves NOFILE at Go's raised soft limit (runc#4195).
  assert.match((await exec(id, ['cat', '/proc/1/limits'])).out, /Max open files\s+1024\s+2048\s/);
  assert.equal((await exec(id, ['cat', '/proc/self/oom_score_adj'])).out.trim(), '500');
  // image_volumes = bind: /data is a writable bind mount owned by the daemon's per-container dir.
  assert.match((await exec(id, ['grep', ' /data ', '/proc/self/mountinfo'])).out, / \/data rw/);
  // Devices: the global one (additional_devices) is usable; the CRI one has the host's numbers.
  assert.equal((await exec(id, ['sh', '-c', 'head -c 4 /dev/extra-zero | wc -c'])).out.trim(), '4');
  assert.equal((await exec(id, ['stat', '-c', '%F %t:%T', '/dev/lc'])).out.trim(), 'character special file a:ed');

  const status = await fx.daemon.cri.runtime.containerStatus({ containerId: id, verbose: true });
  const cg = JSON.parse(status.info.info ?? '{}').runtimeSpec.linux.cgroupsPath as string;
  assert.equal(cgroupFile('cpu', cg, 'cpu.shares'), '512');
  assert.equal(cgroupFile('cpu', cg, 'cpu.cfs_quota_us'), '50000');
  assert.equal(cgroupFile('cpuset', cg, 'cpuset.cpus'), '0');
  assert.equal(cgroupFile('memory', cg, 'memory.limit_in_bytes'), String(64 << 20));
  // Swap is accounted on this host: memory+swap equals the memory limit, so no swap is used.
  assert.equal(cgroupFile('memory', cg, 'memory.memsw.limit_in_bytes'), String(64 << 20));
  assert.equal(cgroupFile('pids', cg, 'pids.max'), '100');
  // The CRI device's permissions reach the device cgroup (read-only: no w, no m).
  assert.match(cgroupFile('devices', cg, 'devices.list'), /^c 10:237 r$/m);
  assert.deepEqual(status.status?.user?.linux, { uid: 1234n, gid: 2345n, supplementalGroups: [2345n, 3456n] });
  assert.equal(status.status?.resources?.linux?.cpuShares, 512n);
  assert.equal(status.status?.labels.tier, 'x');
  assert.equal(status.status?.annotations.note, 'kept');
  const spec = JSON.parse(status.info.info ?? '{}').runtimeSpec;
  assert.equal(spec.annotations['io.kubernetes.cri-o.ContainerID'], id);
  assert.equal(spec.annotations.note, 'kept');
});

test('memory below container_min_memory and a negative oom_score_adj', async () => {
  const { podSandboxId, config } = await fx.runPod('minmem');
  await rejectsWith(
    fx.runContainer(podSandboxId, config, { metadata: { name: 'tiny' }, command: ['true'], linux: { resources: { memoryLimitInBytes: 1n << 20n } } }, false),
    grpcStatus.INVALID_ARGUMENT,
    /at least 12582912 bytes/,
  );
  // Root lacks CAP_SYS_RESOURCE here: a negative score is raised to 0 (with a warning) instead of failing.
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'neg' },
    command: ['sleep', '3600'],
    linux: { resources: { oomScoreAdj: -900n } },
  });
  assert.equal((await exec(id, ['cat', '/proc/self/oom_score_adj'])).out.trim(), '0');
  assert.match(fx.daemon.logs(), /oom_score_adj -900 needs CAP_SYS_RESOURCE/);
});

test('CRI mounts: created and rejected host paths, ro vs recursive ro, propagation', async () => {
  const { podSandboxId, config } = await fx.runPod('mounts');
  const created = path.join(scratch, 'created', 'deep');
  const tree = path.join(scratch, 'tree');
  await fs.mkdir(tree, { recursive: true });
  await mountOnHost(['-t', 'tmpfs', 'tmpfs'], path.join(tree, 'sub'));
  const shared = path.join(scratch, 'shared');
  await mountOnHost(['--bind', shared], shared);
  assert.equal((await runProgram('mount', ['--make-shared', shared])).exitCode, 0);

  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 'm' },
    command: ['sleep', '3600'],
    mounts: [
      { hostPath: created, containerPath: '/created' },
      { hostPath: tree, containerPath: '/ro', readonly: true },
      { hostPath: tree, containerPath: '/rro', readonly: true, recursiveReadOnly: true },
      { hostPath: shared, containerPath: '/shared', propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER },
    ],
  });
  assert.ok(existsSync(created), 'a missing host path is created');
  assert.notEqual((await exec(id, ['touch', '/ro/x'])).code, 0);
  // Plain ro binds only the top mount read-only; rro reaches the tmpfs below it too.
  assert.equal((await exec(id, ['touch', '/ro/sub/x'])).code, 0);
  assert.notEqual((await exec(id, ['touch', '/rro/sub/y'])).code, 0);
  // HostToContainer: a mount made on the host later shows up inside.
  await mountOnHost(['-t', 'tmpfs', '-o', 'size=1m', 'late'], path.join(shared, 'late'));
  await waitFor('the late mount inside', async () => ((await exec(id, ['grep', ' /shared/late ', '/proc/self/mountinfo'])).code === 0 ? true : undefined));

  await rejectsWith(
    fx.runContainer(
      podSandboxId,
      config,
      { metadata: { name: 'rej' }, command: ['true'], mounts: [{ hostPath: '/nonexistent-crio-ts-reject', containerPath: '/x' }] },
      false,
    ),
    grpcStatus.INVALID_ARGUMENT,
    /nonexistent-crio-ts-reject.*does not exist/,
  );
  await rejectsWith(
    fx.runContainer(
      podSandboxId,
      config,
      {
        metadata: { name: 'slave' },
        command: ['true'],
        mounts: [{ hostPath: created, containerPath: '/x', propagation: MountPropagation.PROPAGATION_HOST_TO_CONTAINER }],
      },
      false,
    ),
    grpcStatus.FAILED_PRECONDITION,
    /not a shared or slave mount/,
  );
  await rejectsWith(
    fx.runContainer(
      podSandboxId,
      config,
      { metadata: { name: 'rrw' }, command: ['true'], mounts: [{ hostPath: tree, containerPath: '/x', recursiveReadOnly: true }] },
      false,
    ),
    grpcStatus.INVALID_ARGUMENT,
    /recursive read-only conflicts with a read-write mount/,
  );
  assert.equal(existsSync('/nonexistent-crio-ts-reject'), false);
});

test('termination message, tty, and a failed create leaving nothing', async () => {
  const { podSandboxId, config } = await fx.runPod('term');
  const id = await fx.runContainer(podSandboxId, config, {
    metadata: { name: 't' },
    command: ['sh', '-c', 'echo -n "bye: disk full" > /dev/termination-log; exit 3'],
    annotations: { 'io.kubernetes.container.terminationMessagePath': '/dev/termination-log' },
  });
  const st = await waitFor('exit', async () => {
    const s = await fx.daemon.cri.runtime.containerStatus({ containerId: id });
    return s.status?.state === ContainerState.CONTAINER_EXITED ? s.status : undefined;
  });
  assert.equal(st.exitCode, 3);
  assert.equal(st.reason, 'Error');
  assert.equal(st.message, 'bye: disk full');

  const ttyId = await fx.runContainer(podSandboxId, config, { metadata: { name: 'tty' }, tty: true, stdin: true, command: ['sh', '-c', 'tty; sleep 3600'] });
  const logPath = (await fx.daemon.cri.runtime.containerStatus({ containerId: ttyId })).status?.logPath ?? '';
  await waitFor('tty output in the log', async () => (/stdout [FP] \/dev\/pts\/0/.test(readFileSync(logPath, 'utf8')) ? true : undefined));
  const viaTty = await exec(ttyId, ['sh', '-c', 'tty; echo to-stderr >&2']);
  assert.equal(viaTty.code, 0);
  assert.match(viaTty.out, /\/dev\/pts\/\d+/);
  assert.match(viaTty.out, /to-stderr/); // a terminal merges the streams

  const before = (await fs.readdir(path.join(fx.daemon.dir, 'run', 'crio-bundles'))).length;
  await assert.rejects(fx.runContainer(podSandboxId, config, { metadata: { name: 'bad' }, command: ['/no/such/binary'] }, false));
  assert.equal((await fs.readdir(path.join(fx.daemon.dir, 'run', 'crio-bundles'))).length, before);
});

test('a create failing after its conmon started (spec step) leaves no conmon, log, bundle or cgroup', async () => {
  const { podSandboxId, config } = await fx.runPod('early-fail');
  const logDir = path.join(fx.daemon.dir, 'pod-logs', 'early-fail');
  const bundles = path.join(fx.daemon.dir, 'run', 'crio-bundles');
  const conmons = async (): Promise<Set<string>> => {
    const out = new Set<string>();
    for (const pid of (await fs.readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
      const argv = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
      if (path.basename(argv[0] ?? '') === 'conmon' && argv.some((a) => a.startsWith(bundles))) out.add(pid);
    }
    return out;
  };
  const [bundlesBefore, conmonsBefore] = [(await fs.readdir(bundles)).length, await conmons()];
  const mark = fx.daemon.logs().length;
  // The rejected mount source is found while the spec is built: after the layer and conmon.
  await rejectsWith(
    fx.runContainer(podSandboxId, config, { metadata: { name: 'late' }, command: ['true'], mounts: [{ hostPath: '/nonexistent-crio-ts-reject', containerPath: '/x' }] }, false),
    grpcStatus.INVALID_ARGUMENT,
    /does not exist/,
  );
  assert.equal((await fs.readdir(bundles)).length, bundlesBefore);
  assert.deepEqual([...(await conmons())].filter((pid) => !conmonsBefore.has(pid)), []);
  assert.deepEqual(await fs.readdir(logDir).catch(() => []), []);
  // No container cgroup: `runc create` never ran. Any 64-hex ID the daemon logged that is not the pod's.
  const ids = new Set((fx.daemon.logs().slice(mark).match(/\b[0-9a-f]{64}\b/g) ?? []).filter((i) => i !== podSandboxId));
  const cgroups = (await runProgram('find', ['/sys/fs/cgroup/pids', '-type', 'd', '-name', '*crio*'])).stdout.toString();
  for (const id of ids) assert.equal(cgroups.includes(id), false, `cgroup of ${id}`);
  // The name is free again: the same container without the bad mount is created and runs.
  const id = await fx.runContainer(podSandboxId, config, { metadata: { name: 'late' }, command: ['sleep', '3600'] });
  assert.equal((await fx.daemon.cri.runtime.containerStatus({ containerId: id })).status?.state, ContainerState.CONTAINER_RUNNING);
});
