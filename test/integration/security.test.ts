import assert from 'node:assert/strict';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ContainerState, NamespaceMode, SecurityProfile_ProfileType as Profile, SupplementalGroupsPolicy } from '../../lib/cri/gen/api';
import { runProgram } from '../../lib/process';
import { renderHostDefaultProfile } from '../../lib/security/apparmor-host';
import { criLogText } from '../harness/cri-log';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage } from '../harness/test-images';

/**
 * Security settings enforced by the real kernel through the daemon and runc: seccomp (built-in
 * RuntimeDefault with CRI-O's namespace hardening, Localhost, Unconfined), capabilities (CapEff of
 * /proc/self/status), no_new_privs, read-only rootfs, masked paths, users and groups, privileged
 * containers, annotation gating; AppArmor only as a profile syntax check (no AppArmor in this kernel).
 */

let registry: TestRegistry;
let daemon: TestDaemon;
let pod: string;
let privilegedPod: string;
const IMAGE = 'busybox:sec';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:alice:/home/alice:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
const GROUP = 'root:x:0:\nalice:x:1000:\ndevs:x:2000:alice\nnobody:x:65534:\n';
/** CAP_CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE. */
const DEFAULT_CAPS = 0x5fbn;

type SecurityContext = Record<string, unknown>;

function podConfig(name: string, securityContext: SecurityContext = {}, annotations: Record<string, string> = {}) {
  return {
    metadata: { name, namespace: 'security', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    logDirectory: path.join(daemon.dir, 'pod-logs', name),
    annotations,
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER }, ...securityContext } },
  };
}

function grpcCode(err: unknown): number | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? (err as { code: number }).code : undefined;
}

async function rejectsWith(p: Promise<unknown>, code: grpcStatus, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(grpcCode(err), code, `expected gRPC code ${grpcStatus[code]}, got ${String(err)}`);
    assert.match(String((err as Error).message), pattern);
    return true;
  });
}

let seq = 0;
/** Creates, starts and waits for a one-shot container; returns its exit code and output. */
async function run(podId: string, command: string[], securityContext: SecurityContext = {}): Promise<{ exitCode: number; out: string }> {
  const rt = daemon.cri.runtime;
  const name = `c${++seq}`;
  const { containerId } = await rt.createContainer({
    podSandboxId: podId,
    config: { metadata: { name }, image: { image: IMAGE }, command, logPath: `${name}.log`, linux: { securityContext } },
  });
  await rt.startContainer({ containerId });
  const until = Date.now() + 20_000;
  for (;;) {
    const st = await rt.containerStatus({ containerId });
    // Left for the pod removal at the end: removing each one would only add time.
    if (st.status?.state === ContainerState.CONTAINER_EXITED) return { exitCode: st.status.exitCode, out: criLogText(st.status.logPath) };
    if (Date.now() > until) throw new Error(`container ${name} did not exit:\n${daemon.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A `/proc/self/status` field of a process run with the given security context. */
async function status(podId: string, securityContext: SecurityContext): Promise<Record<string, string>> {
  const { out } = await run(podId, ['cat', '/proc/self/status'], securityContext);
  return Object.fromEntries(out.split('\n').map((l) => l.split(/:\s*/, 2) as [string, string]));
}

const hex = (v: string | undefined): bigint => BigInt(`0x${v ?? 'x'}`);
const hostBounding = hex(/^CapBnd:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);

before(async () => {
  registry = await startRegistry();
  const image = await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'etc/passwd', content: PASSWD }, { path: 'etc/group', content: GROUP }] }] });
  await registry.push('library/busybox', 'sec', image);
  daemon = await startDaemon({
    netIndex: 100,
    noCni: false,
    registriesConf: `[[registry]]\nprefix = "docker.io/library/busybox"\nlocation = "${registry.host}/library/busybox"\ninsecure = true\n`,
    dropIn: '[crio.runtime.runtimes.runc]\nallowed_annotations = ["umask.crio.io"]\n',
  });
  await daemon.cri.image.pullImage({ image: { image: IMAGE } });
  pod = (await daemon.cri.runtime.runPodSandbox({ config: podConfig('plain', {}, { 'umask.crio.io': '0077', 'io.kubernetes.cri-o.userns-mode': 'auto' }) })).podSandboxId;
  privilegedPod = (await daemon.cri.runtime.runPodSandbox({ config: podConfig('priv', { privileged: true }) })).podSandboxId;
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
});

test('RuntimeDefault seccomp: plain work runs, unshare(2) is ENOSYS unless CAP_SYS_ADMIN; Unconfined allows it', async () => {
  const script = 'echo work > /tmp/w && cat /tmp/w && grep Seccomp: /proc/self/status; unshare -U true; echo rc=$?';
  const confined = await run(pod, ['sh', '-c', script], { seccomp: { profileType: Profile.RuntimeDefault } });
  assert.match(confined.out, /^work$/m);
  assert.match(confined.out, /^Seccomp:\s+2$/m);
  assert.match(confined.out, /unshare.*Function not implemented/);
  assert.match(confined.out, /^rc=[1-9]/m);

  const admin = await run(pod, ['sh', '-c', 'unshare -U true; echo rc=$?'], { seccomp: { profileType: Profile.RuntimeDefault }, capabilities: { addCapabilities: ['SYS_ADMIN'] } });
  assert.match(admin.out, /^rc=0$/m);

  const unconfined = await run(pod, ['sh', '-c', 'grep Seccomp: /proc/self/status; unshare -U true; echo rc=$?'], { seccomp: { profileType: Profile.Unconfined } });
  assert.match(unconfined.out, /^Seccomp:\s+0$/m);
  assert.match(unconfined.out, /^rc=0$/m);
});

test('the deprecated seccomp_profile_path (older kubelets, critest) is honoured when seccomp is unset', async () => {
  const seccompOf = async (seccompProfilePath: string) => (await run(pod, ['grep', 'Seccomp:', '/proc/self/status'], { seccompProfilePath })).out;
  assert.match(await seccompOf('unconfined'), /^Seccomp:\s+0$/m);
  assert.match(await seccompOf('docker/default'), /^Seccomp:\s+2$/m);
  const profile = path.join(daemon.dir, 'deny-mkdir.json');
  await fs.writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM' }] }));
  const blocked = await run(pod, ['sh', '-c', 'mkdir /tmp/x; echo rc=$?'], { seccompProfilePath: `localhost/${profile}` });
  assert.match(blocked.out, /^rc=1$/m);
  await rejectsWith(
    daemon.cri.runtime.createContainer({ podSandboxId: pod, config: { metadata: { name: 'bad-path' }, image: { image: IMAGE }, command: ['true'], linux: { securityContext: { seccompProfilePath: profile } } } }),
    grpcStatus.INVALID_ARGUMENT,
    /seccomp_profile_path .* is not "unconfined"/,
  );
});

test('Localhost seccomp profile blocking mkdir gives EPERM; Unconfined allows mkdir; a missing profile fails create', async () => {
  const profile = path.join(daemon.dir, 'no-mkdir.json');
  await fs.writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM' }] }));
  const blocked = await run(pod, ['sh', '-c', 'mkdir /tmp/d; echo rc=$?; echo still-running'], { seccomp: { profileType: Profile.Localhost, localhostRef: profile } });
  assert.match(blocked.out, /mkdir.*Operation not permitted/);
  assert.match(blocked.out, /^rc=1$/m);
  assert.match(blocked.out, /^still-running$/m);

  const free = await run(pod, ['sh', '-c', 'mkdir /tmp/d && echo made'], { seccomp: { profileType: Profile.Unconfined } });
  assert.match(free.out, /^made$/m);

  const missing = path.join(daemon.dir, 'missing.json');
  await rejectsWith(
    daemon.cri.runtime.createContainer({ podSandboxId: pod, config: { metadata: { name: 'nope' }, image: { image: IMAGE }, command: ['true'], linux: { securityContext: { seccomp: { profileType: Profile.Localhost, localhostRef: missing } } } } }),
    grpcStatus.NOT_FOUND,
    new RegExp(`unable to load local profile "${missing.replace(/[.]/g, '\\.')}"`),
  );
});

const capCases: { name: string; sc: SecurityContext; eff: bigint; bnd?: bigint; nnp?: string }[] = [
  { name: 'defaults', sc: {}, eff: DEFAULT_CAPS, nnp: '0' },
  { name: 'add NET_RAW, drop CHOWN', sc: { capabilities: { addCapabilities: ['NET_RAW'], dropCapabilities: ['CHOWN'] } }, eff: (DEFAULT_CAPS & ~1n) | (1n << 13n) },
  { name: 'drop ALL, add NET_BIND_SERVICE', sc: { capabilities: { addCapabilities: ['NET_BIND_SERVICE'], dropCapabilities: ['ALL'] } }, eff: 1n << 10n },
  { name: 'SYS_RESOURCE, which the host lacks, is dropped', sc: { capabilities: { addCapabilities: ['SYS_RESOURCE'] } }, eff: DEFAULT_CAPS & hostBounding },
  { name: 'non-root user: no effective capabilities, bounding kept', sc: { runAsUser: { value: 1000n } }, eff: 0n, bnd: DEFAULT_CAPS },
  { name: 'no_new_privs', sc: { noNewPrivs: true }, eff: DEFAULT_CAPS, nnp: '1' },
];
test('capabilities (CapEff of /proc/self/status)', { concurrency: true }, async (t) => {
  await Promise.all(
    capCases.map((c) =>
      t.test(c.name, async () => {
        const st = await status(pod, c.sc);
        assert.equal(hex(st.CapEff), c.eff, `CapEff ${st.CapEff}`);
        assert.equal(hex(st.CapPrm), c.eff, `CapPrm ${st.CapPrm}`);
        assert.equal(hex(st.CapBnd), c.bnd ?? c.eff, `CapBnd ${st.CapBnd}`);
        assert.equal(hex(st.CapAmb), 0n);
        assert.equal(hex(st.CapInh), 0n);
        if (c.nnp) assert.equal(st.NoNewPrivs, c.nnp);
      }),
    ),
  );
});

test('capabilities the host lacks are dropped with a warning in the daemon log', () => {
  assert.match(daemon.logs(), /CAP_SYS_RESOURCE is not available on this host/);
});

test('read-only rootfs refuses writes', async () => {
  const r = await run(pod, ['sh', '-c', 'touch /x; echo rc=$?; touch /dev/shm/ok && echo shm-ok'], { readonlyRootfs: true });
  assert.match(r.out, /Read-only file system/);
  assert.match(r.out, /^rc=1$/m);
  assert.match(r.out, /^shm-ok$/m);
});

test('masked paths are unreadable and readonly paths refuse writes; Unmasked (empty lists) shows them', async () => {
  const script = 'wc -c < /proc/timer_list; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/domainname; echo rc=$?';
  const masked = await run(pod, ['sh', '-c', script], { maskedPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'] });
  assert.match(masked.out, /^0\n0\n/);
  assert.match(masked.out, /Read-only file system/);
  const unmasked = await run(pod, ['sh', '-c', 'wc -c < /proc/timer_list'], { maskedPaths: [], readonlyPaths: [] });
  assert.ok(Number(unmasked.out.trim()) > 0, unmasked.out);
});

test('id shows the requested uid, gid and groups for Merge and Strict', async () => {
  const base = { runAsUser: { value: 1000n }, supplementalGroups: [3000n] };
  const merge = await run(pod, ['id'], { ...base, supplementalGroupsPolicy: SupplementalGroupsPolicy.Merge });
  assert.equal(merge.out.trim(), 'uid=1000(alice) gid=1000(alice) groups=1000(alice),2000(devs),3000');
  const strict = await run(pod, ['id'], { ...base, supplementalGroupsPolicy: SupplementalGroupsPolicy.Strict });
  assert.equal(strict.out.trim(), 'uid=1000(alice) gid=1000(alice) groups=1000(alice),3000');
  const byName = await run(pod, ['id'], { runAsUsername: 'alice', runAsGroup: { value: 4000n } });
  // The kernel keeps supplementary groups sorted.
  assert.equal(byName.out.trim(), 'uid=1000(alice) gid=4000 groups=2000(devs),4000');
});

test('privileged: refused in an unprivileged pod; in a privileged pod every host capability, no seccomp, writable /sys, host devices', async () => {
  await rejectsWith(
    daemon.cri.runtime.createContainer({ podSandboxId: pod, config: { metadata: { name: 'p' }, image: { image: IMAGE }, command: ['true'], linux: { securityContext: { privileged: true } } } }),
    grpcStatus.INVALID_ARGUMENT,
    /no privileged container allowed in sandbox/,
  );
  const st = await status(privilegedPod, { privileged: true, seccomp: { profileType: Profile.RuntimeDefault }, maskedPaths: ['/proc/kcore'] });
  assert.equal(hex(st.CapEff), hostBounding);
  assert.equal(hex(st.CapAmb), hostBounding);
  assert.equal(st.Seccomp, '0');
  // A host device runc would not create on its own shows up only in the privileged container.
  const RUNC_DEFAULT = new Set(['null', 'zero', 'full', 'random', 'urandom', 'tty', 'ptmx', 'console']);
  const hostDev = readdirSync('/dev', { withFileTypes: true }).find((e) => (e.isCharacterDevice() || e.isBlockDevice()) && !RUNC_DEFAULT.has(e.name))?.name;
  assert.ok(hostDev, 'the host has a device node to look for');
  const sys = await run(privilegedPod, ['sh', '-c', `grep " /sys " /proc/mounts; wc -c < /proc/timer_list; ls /dev/${hostDev}`], { privileged: true, maskedPaths: ['/proc/timer_list'] });
  assert.match(sys.out, /sysfs \/sys sysfs rw/);
  assert.doesNotMatch(sys.out, /^0$/m);
  assert.match(sys.out, new RegExp(`^/dev/${hostDev}$`, 'm'));
  const plain = await run(pod, ['ls', `/dev/${hostDev}`]);
  assert.notEqual(plain.exitCode, 0);
});

test('annotations: allowed umask.crio.io applies; a disallowed userns-mode is stripped; a container cannot add a user namespace', async () => {
  const r = await run(pod, ['sh', '-c', 'umask']);
  assert.equal(r.out.trim(), '0077');
  const st = await daemon.cri.runtime.podSandboxStatus({ podSandboxId: pod });
  assert.equal(st.status?.annotations['umask.crio.io'], '0077');
  assert.equal(st.status?.annotations['io.kubernetes.cri-o.userns-mode'], undefined);
  await rejectsWith(
    daemon.cri.runtime.createContainer({ podSandboxId: pod, config: { metadata: { name: 'u' }, image: { image: IMAGE }, command: ['true'], linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER, usernsOptions: { mode: NamespaceMode.POD } } } } } }),
    grpcStatus.INVALID_ARGUMENT,
    /asks for the pod's user namespace, but pod \w+ was created without one/,
  );
});

test('AppArmor: a specific profile on this AppArmor-less host is ignored with a warning', async () => {
  const r = await run(pod, ['true'], { apparmor: { profileType: Profile.Localhost, localhostRef: 'my-profile' } });
  assert.equal(r.exitCode, 0);
  assert.match(daemon.logs(), /AppArmor is not enabled on this host; ignoring AppArmor profile \\?"my-profile\\?"/);
});

test('AppArmor: the generated crio-default profile passes apparmor_parser -Q -K; a broken one does not', async () => {
  const text = await renderHostDefaultProfile('crio-default');
  const ok = await runProgram('apparmor_parser', ['-Q', '-K'], { input: text, timeoutMs: 30_000 });
  assert.equal(ok.exitCode, 0, ok.stderr.toString());
  const broken = await runProgram('apparmor_parser', ['-Q', '-K'], { input: text.replace('deny mount,', 'deny mount'), timeoutMs: 30_000 });
  assert.notEqual(broken.exitCode, 0);
});
