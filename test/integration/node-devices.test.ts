import assert from 'node:assert/strict';
import { promises as fs, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { ContainerState, NamespaceMode } from '../../lib/cri/gen/api';
import { criLogText } from '../harness/cri-log';
import { rejectsWith, startContainerFixture, type ContainerFixture } from './container-fixture';

/**
 * What a GPU/FPGA/SR-IOV node's configuration adds to containers, through the real daemon and
 * runc: a fake vendor's CDI spec (a device node aliasing /dev/null, env, a bind mount, a
 * createContainer hook) requested by the CRI field and by annotation, OCI hooks from hooks_dir at
 * every stage writing the OCI state they get on stdin, selected by annotation, command and bind
 * mounts, mounts.conf, the io.kubernetes.cri-o.Devices annotation and device ownership — for
 * unprivileged and privileged containers and pods with a user namespace.
 */

let fx: ContainerFixture;
let root: string;
const VENDOR = 'vendor0.example.com/device';
const MARKERS = (): string => path.join(root, 'markers');
const USERNS_MAP = [{ containerId: 0, hostId: 410_000, length: 65536 }];

/** Writes `$1/<container id>.<$2>` with the OCI state runc gave on stdin (atomically). */
const HOOK = `#!/bin/sh
state=$(cat)
id=$(printf '%s' "$state" | sed -n 's/.*"id":"\\([0-9a-f]*\\)".*/\\1/p')
printf '%s' "$state" > "$1/.$id.$2" && mv "$1/.$id.$2" "$1/$id.$2"
`;

const STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

function hookFile(stages: string[], when: object, marker: string, exe = path.join(root, 'bin', 'hook')): string {
  return JSON.stringify({ version: '1.0.0', hook: { path: exe, args: ['hook', MARKERS(), marker] }, when, stages });
}

function cdiSpec(): string {
  return `cdiVersion: "0.6.0"
kind: "${VENDOR}"
containerEdits:
  env:
    - VENDOR0=injected
devices:
  - name: dev0
    containerEdits:
      env:
        - DEV0=present
      deviceNodes:
        - path: /dev/vendor0
          hostPath: /dev/null
      mounts:
        - hostPath: ${root}/vendor-lib
          containerPath: /usr/lib/vendor0
          type: bind
          options: [ro, bind]
      hooks:
        - hookName: createContainer
          path: ${root}/bin/hook
          args: [hook, ${MARKERS()}, cdi]
  - name: dev1
    containerEdits:
      env:
        - DEV1=present
      deviceNodes:
        - path: /dev/vendor1
          hostPath: /dev/loop-control
          permissions: r
`;
}

before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-devices-'));
  // Hooks in user-namespaced pods run as the pod's root: the tree must be reachable, markers writable.
  await fs.chmod(root, 0o755);
  for (const d of ['bin', 'markers', 'etc-cdi', 'hooks-usr', 'hooks-etc', 'vendor-lib', 'secrets', 'data']) await fs.mkdir(path.join(root, d), { mode: 0o755 });
  await fs.chmod(MARKERS(), 0o777);
  await fs.writeFile(path.join(root, 'bin', 'hook'), HOOK, { mode: 0o755 });
  await fs.writeFile(path.join(root, 'vendor-lib', 'lib.txt'), 'vendor library\n', { mode: 0o644 });
  await fs.writeFile(path.join(root, 'secrets', 'token'), 'TOKEN\n', { mode: 0o600 });
  await fs.writeFile(path.join(root, 'mounts.conf'), `${root}/secrets:/run/secrets\n${root}/absent:/run/absent\n`);
  await fs.writeFile(path.join(root, 'etc-cdi', 'vendor0.yaml'), cdiSpec());
  // Same device in two files of one directory: a conflict.
  for (const f of ['a', 'b']) {
    await fs.writeFile(path.join(root, 'etc-cdi', `conflict-${f}.json`), JSON.stringify({ cdiVersion: '0.3.0', kind: 'vendor2.example.com/c', devices: [{ name: 'x', containerEdits: { env: [`FROM=${f}`] } }] }));
  }
  await fs.writeFile(path.join(root, 'etc-cdi', 'broken.yaml'), 'cdiVersion: "0.3.0"\nkind: "vendor1.example.com/c"\ndevices:\n  invalid data\n');
  const usr = path.join(root, 'hooks-usr');
  const etc = path.join(root, 'hooks-etc');
  for (const s of STAGES) await fs.writeFile(path.join(usr, `10-${s}.json`), hookFile([s], { annotations: { '^hooks\\.test/stages$': '^yes$' } }, s));
  await fs.writeFile(path.join(usr, '20-command.json'), hookFile(['createRuntime'], { commands: ['^/bin/echo$'] }, 'command'));
  await fs.writeFile(path.join(usr, '30-bindmounts.json'), hookFile(['createRuntime'], { hasBindMounts: true }, 'bindmounts'));
  await fs.writeFile(path.join(usr, '40-annotation.json'), hookFile(['createRuntime'], { annotations: { '^hooks\\.test/select$': '^on$' } }, 'masked'));
  await fs.writeFile(path.join(etc, '40-annotation.json'), hookFile(['createRuntime'], { annotations: { '^hooks\\.test/select$': '^on$' } }, 'annotation'));
  await fs.writeFile(path.join(etc, '50-missing.json'), hookFile(['createRuntime'], { always: true }, 'missing', path.join(root, 'bin', 'no-such-hook')));
  fx = await startContainerFixture({
    netIndex: 150,
    dropIn: [
      '[crio.runtime]',
      `cdi_spec_dirs = ["${root}/etc-cdi", "${root}/run-cdi"]`,
      `hooks_dir = ["${usr}", "${etc}"]`,
      `default_mounts_file = "${root}/mounts.conf"`,
      'allowed_devices = ["/dev/zero"]',
      'device_ownership_from_security_context = true',
      '[crio.runtime.runtimes.runc]',
      'allowed_annotations = ["io.kubernetes.cri-o.Devices"]',
    ].join('\n'),
  });
});

after(async () => {
  await fx?.cleanup();
  await fs.rm(root, { recursive: true, force: true });
});

let seq = 0;
type Config = Record<string, unknown>;

async function create(podSandboxId: string, config: Config): Promise<string> {
  const name = `c${++seq}`;
  const { containerId } = await fx.daemon.cri.runtime.createContainer({
    podSandboxId,
    config: { metadata: { name }, image: { image: 'busybox' }, logPath: `${name}.log`, ...config },
  });
  return containerId;
}

/** Creates, starts and waits for a one-shot container. */
async function run(podSandboxId: string, config: Config): Promise<{ id: string; exitCode: number; out: string }> {
  const id = await create(podSandboxId, config);
  await fx.daemon.cri.runtime.startContainer({ containerId: id });
  const until = Date.now() + 30_000;
  for (;;) {
    const st = await fx.daemon.cri.runtime.containerStatus({ containerId: id });
    if (st.status?.state === ContainerState.CONTAINER_EXITED) return { id, exitCode: st.status.exitCode, out: criLogText(st.status.logPath) };
    if (Date.now() > until) throw new Error(`container did not exit:\n${fx.daemon.logs().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sh = (script: string): Config => ({ command: ['sh', '-c', script] });

/** Marker names ("createRuntime", ...) written for a container. */
function markers(id: string): string[] {
  return readdirSync(MARKERS())
    .filter((f) => f.startsWith(`${id}.`))
    .map((f) => f.slice(id.length + 1))
    .sort();
}

function marker(id: string, stage: string): { ociVersion: string; id: string; status: string; pid?: number; bundle: string; annotations?: Record<string, string> } {
  return JSON.parse(readFileSync(path.join(MARKERS(), `${id}.${stage}`), 'utf8')) as ReturnType<typeof marker>;
}

async function usernsPod(name: string, annotations: Record<string, string> = {}): Promise<{ podSandboxId: string }> {
  return fx.runPod(name, {
    annotations,
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER, usernsOptions: { mode: NamespaceMode.POD, uids: USERNS_MAP, gids: USERNS_MAP } } } },
  });
}

const CDI_CHECK = [
  'echo "VENDOR0=$VENDOR0 DEV0=$DEV0 DEV1=$DEV1"',
  "ls -l /dev/vendor0 | awk '{print $1, $5, $6}'",
  'echo written > /dev/vendor0 && echo write-ok',
  'cat /usr/lib/vendor0/lib.txt',
  'touch /usr/lib/vendor0/new 2>/dev/null || echo lib-readonly',
].join('; ');

test('CDI device by the CRI field: env, device node, read-only mount and createContainer hook', async () => {
  const { podSandboxId } = await fx.runPod('cdi-field');
  const r = await run(podSandboxId, { ...sh(CDI_CHECK), envs: [{ key: 'VENDOR0', value: Buffer.from('unset') }], CDIDevices: [{ name: `${VENDOR}=dev0` }] });
  assert.equal(r.exitCode, 0, r.out);
  assert.equal(r.out, 'VENDOR0=injected DEV0=present DEV1=\ncrw-rw-rw- 1, 3\nwrite-ok\nvendor library\nlib-readonly\n');
  assert.deepEqual(markers(r.id), ['cdi']);
  const state = marker(r.id, 'cdi');
  assert.equal(state.id, r.id);
  assert.equal(state.status, 'creating');
  assert.ok((state.pid ?? 0) > 0);
});

test('CDI devices by annotation (and =all): both devices, cgroup permissions from the spec', async () => {
  const { podSandboxId } = await fx.runPod('cdi-annotation');
  // loop-control is outside the default device rules: the spec's "r" is all the container gets.
  const script = `${CDI_CHECK}; ls -l /dev/vendor1 | awk '{print $1, $5, $6}'; true < /dev/vendor1 && echo vendor1-readable; true 2>/dev/null >/dev/vendor1 || echo vendor1-not-writable`;
  const byAnnotation = await run(podSandboxId, { ...sh(script), annotations: { 'cdi.k8s.io/test': `${VENDOR}=dev0,${VENDOR}=dev1` } });
  assert.equal(byAnnotation.exitCode, 0, byAnnotation.out);
  assert.equal(byAnnotation.out, 'VENDOR0=injected DEV0=present DEV1=present\ncrw-rw-rw- 1, 3\nwrite-ok\nvendor library\nlib-readonly\ncrw------- 10, 237\nvendor1-readable\nvendor1-not-writable\n');
  const all = await run(podSandboxId, { ...sh('echo "$DEV0 $DEV1"'), CDIDevices: [{ name: `${VENDOR}=all` }], annotations: { 'cdi.k8s.io/dup': `${VENDOR}=dev1` } });
  assert.equal(all.out, 'present present\n');
  // One createContainer hook run per container, though dev0 was asked for twice.
  assert.equal(markers(all.id).filter((m) => m === 'cdi').length, 1);
});

test('bad CDI requests fail CreateContainer cleanly, naming the device and the files', async () => {
  const { podSandboxId } = await fx.runPod('cdi-bad');
  const rt = fx.daemon.cri.runtime;
  const before = (await rt.listContainers({})).containers.length;
  const bundles = path.join(fx.daemon.dir, 'run', 'crio-bundles');
  const bundlesBefore = readdirSync(bundles).length;
  await rejectsWith(create(podSandboxId, { ...sh('true'), CDIDevices: [{ name: `${VENDOR}=dev9` }] }), grpcStatus.NOT_FOUND, new RegExp(`"${VENDOR}=dev9" is not defined by any CDI spec in ${root}/etc-cdi, ${root}/run-cdi.*broken.yaml`));
  await rejectsWith(
    create(podSandboxId, { ...sh('true'), CDIDevices: [{ name: 'vendor2.example.com/c=x' }] }),
    grpcStatus.FAILED_PRECONDITION,
    /"vendor2.example.com\/c=x" is defined by conflicting specs .*conflict-a.json, .*conflict-b.json/,
  );
  await rejectsWith(create(podSandboxId, { ...sh('true'), annotations: { 'cdi.k8s.io/x': 'gpu0' } }), grpcStatus.INVALID_ARGUMENT, /annotation cdi.k8s.io\/x: invalid CDI device name "gpu0"/);
  assert.equal((await rt.listContainers({})).containers.length, before);
  assert.equal(readdirSync(bundles).length, bundlesBefore, 'no bundle left behind');
  assert.match(fx.daemon.logs(), /level=warning msg="CDI spec refused" .*file=\S*\/broken\.yaml/);
});

test('a CDI spec written while the daemon runs, into a directory that did not exist, is used', async () => {
  const dir = path.join(root, 'run-cdi');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'late.json'), JSON.stringify({ cdiVersion: '0.3.0', kind: 'late.example.com/c', devices: [{ name: 'one', containerEdits: { env: ['LATE=1'] } }] }));
  const { podSandboxId } = await fx.runPod('cdi-late');
  const r = await run(podSandboxId, { ...sh('echo "LATE=$LATE"'), CDIDevices: [{ name: 'late.example.com/c=one' }] });
  assert.equal(r.out, 'LATE=1\n');
});

test('OCI hooks at every stage get the OCI state on stdin', async () => {
  const { podSandboxId } = await fx.runPod('hook-stages');
  const rt = fx.daemon.cri.runtime;
  // startContainer hooks run inside the container: the hook and the markers dir are mounted at the same path.
  const r = await run(podSandboxId, { command: ['true'], annotations: { 'hooks.test/stages': 'yes' }, mounts: [{ hostPath: root, containerPath: root }] });
  assert.equal(r.exitCode, 0);
  assert.deepEqual(markers(r.id), ['bindmounts', 'createContainer', 'createRuntime', 'poststart', 'prestart', 'startContainer']);
  await rt.removeContainer({ containerId: r.id });
  assert.ok(markers(r.id).includes('poststop'), 'poststop runs when the container is deleted');
  // runc 1.1 runs poststart hooks at the end of `runc create` ("created"); runc 1.2+ after start ("running").
  const want: Record<string, string[]> = {
    prestart: ['creating'],
    createRuntime: ['creating'],
    createContainer: ['creating'],
    startContainer: ['created'],
    poststart: ['created', 'running'],
    poststop: ['stopped'],
  };
  for (const [stage, statuses] of Object.entries(want)) {
    const state = marker(r.id, stage);
    assert.equal(state.id, r.id, stage);
    assert.ok(statuses.includes(state.status), `${stage}: status ${state.status}`);
    assert.equal(state.bundle, path.join(fx.daemon.dir, 'run', 'crio-bundles', r.id), stage);
    assert.equal(state.annotations?.['hooks.test/stages'], 'yes', stage);
  }
});

test('OCI hooks are selected by command, by bind mounts and by (pod) annotation; a later dir masks by name', async () => {
  const { podSandboxId } = await fx.runPod('hook-select');
  const byCommand = await run(podSandboxId, { command: ['/bin/echo', 'hi'] });
  assert.deepEqual(markers(byCommand.id), ['command']);
  const byMounts = await run(podSandboxId, { ...sh('true'), mounts: [{ hostPath: path.join(root, 'data'), containerPath: '/data', readonly: true }] });
  assert.deepEqual(markers(byMounts.id), ['bindmounts']);
  const plain = await run(podSandboxId, sh('true'));
  assert.deepEqual(markers(plain.id), []);
  const annotated = await fx.runPod('hook-annotated', { annotations: { 'hooks.test/select': 'on' } });
  const byAnnotation = await run(annotated.podSandboxId, sh('true'));
  assert.deepEqual(markers(byAnnotation.id), ['annotation']);
  assert.match(fx.daemon.logs(), /level=error msg="OCI hook refused" err="hook executable \S*\/no-such-hook does not exist" file=\S*\/50-missing\.json/);
});

test('a hook added while the daemon runs applies once it is loaded; removing it stops it', async () => {
  const file = path.join(root, 'hooks-etc', '60-late.json');
  const loaded = (): number => fx.daemon.logs().split('\n').filter((l) => l.includes('msg="OCI hooks loaded"') && l.includes('60-late.json')).length;
  await fs.writeFile(file, hookFile(['createRuntime'], { annotations: { '^hooks\\.test/late$': '' } }, 'late'));
  const until = Date.now() + 20_000;
  while (loaded() === 0) {
    assert.ok(Date.now() < until, 'the new hook was not loaded within 20s');
    await new Promise((r) => setTimeout(r, 50));
  }
  const { podSandboxId } = await fx.runPod('hook-late');
  const withHook = await run(podSandboxId, { ...sh('true'), annotations: { 'hooks.test/late': 'x' } });
  assert.deepEqual(markers(withHook.id), ['late']);
  const logLines = (): number => fx.daemon.logs().split('\n').filter((l) => l.includes('msg="OCI hooks loaded"') && !l.includes('60-late.json')).length;
  const before = logLines();
  await fs.rm(file);
  while (logLines() === before) {
    assert.ok(Date.now() < until + 20_000, 'the removal was not noticed');
    await new Promise((r) => setTimeout(r, 50));
  }
  const without = await run(podSandboxId, { ...sh('true'), annotations: { 'hooks.test/late': 'x' } });
  assert.deepEqual(markers(without.id), []);
});

test('mounts.conf: read-only, missing sources skipped', async () => {
  const { podSandboxId } = await fx.runPod('mounts-conf');
  const r = await run(podSandboxId, sh("cat /run/secrets/token; touch /run/secrets/x 2>/dev/null || echo readonly; ls /run/absent 2>/dev/null || echo no-absent"));
  assert.equal(r.out, 'TOKEN\nreadonly\nno-absent\n');
});

test('the io.kubernetes.cri-o.Devices annotation gives allowed devices and refuses others', async () => {
  const ok = await fx.runPod('devices-annotation', { annotations: { 'io.kubernetes.cri-o.Devices': '/dev/zero:/dev/annzero:r' } });
  const r = await run(ok.podSandboxId, sh("ls -l /dev/annzero | awk '{print $1, $5, $6}'; head -c 2 /dev/annzero | od -An -tx1"));
  assert.equal(r.out, 'crw-rw-rw- 1, 5\n 00 00\n');
  const refused = await fx.runPod('devices-refused', { annotations: { 'io.kubernetes.cri-o.Devices': '/dev/null' } });
  await rejectsWith(create(refused.podSandboxId, sh('true')), grpcStatus.INVALID_ARGUMENT, /device \/dev\/null is not in crio.runtime.allowed_devices \(\/dev\/zero\)/);
});

test('device_ownership_from_security_context: CRI devices owned by runAsUser/runAsGroup', async () => {
  const { podSandboxId } = await fx.runPod('ownership');
  const devices = [{ hostPath: '/dev/null', containerPath: '/dev/mynull', permissions: 'rw' }];
  const nonRoot = await run(podSandboxId, { ...sh("stat -c '%u:%g' /dev/mynull; echo x > /dev/mynull && echo writable"), devices, linux: { securityContext: { runAsUser: { value: 1234n }, runAsGroup: { value: 5678n } } } });
  assert.equal(nonRoot.out, '1234:5678\nwritable\n');
  const rootUser = await run(podSandboxId, { ...sh("stat -c '%u:%g' /dev/mynull"), devices });
  assert.equal(rootUser.out, '0:0\n');
});

test('privileged containers get CDI devices, hooks and mounts.conf too', async () => {
  const { podSandboxId } = await fx.runPod('privileged', { annotations: { 'hooks.test/select': 'on' }, linux: { securityContext: { privileged: true, namespaceOptions: { pid: NamespaceMode.CONTAINER } } } });
  const r = await run(podSandboxId, { ...sh(`${CDI_CHECK}; cat /run/secrets/token; touch /run/secrets/x 2>/dev/null || echo readonly`), CDIDevices: [{ name: `${VENDOR}=dev0` }], linux: { securityContext: { privileged: true } } });
  assert.equal(r.exitCode, 0, r.out);
  assert.equal(r.out, 'VENDOR0=injected DEV0=present DEV1=\ncrw-rw-rw- 1, 3\nwrite-ok\nvendor library\nlib-readonly\nTOKEN\nreadonly\n');
  assert.deepEqual(markers(r.id), ['annotation', 'cdi']);
});

test('pods with a user namespace: relocated devices are bind-mounted, mounts.conf is a copy owned by the pod root, hooks run', async () => {
  const { podSandboxId } = await usernsPod('userns', { 'hooks.test/select': 'on', 'io.kubernetes.cri-o.Devices': '/dev/zero:/dev/annzero' });
  const script = `${CDI_CHECK}; cat /run/secrets/token; stat -c '%u:%g' /run/secrets/token; head -c 2 /dev/myzero | od -An -tx1; head -c 1 /dev/annzero | od -An -tx1`;
  const r = await run(podSandboxId, { ...sh(script), CDIDevices: [{ name: `${VENDOR}=dev0` }], devices: [{ hostPath: '/dev/zero', containerPath: '/dev/myzero', permissions: 'r' }] });
  assert.equal(r.exitCode, 0, r.out);
  assert.match(r.out, /^VENDOR0=injected DEV0=present DEV1=\ncrw-rw-rw- 1, 3\nwrite-ok\nvendor library\nlib-readonly\nTOKEN\n0:0\n 00 00\n 00\n$/);
  assert.deepEqual(markers(r.id), ['annotation', 'cdi']);
});
