import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fs, rmSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { DgramSocket } from 'node-unix-socket';
import { ContainerState, NamespaceMode } from '../../lib/cri/gen/api';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { unusedPort } from '../harness/image-fixtures';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage } from '../harness/test-images';
import { selfSignedCert } from '../harness/token-issuer';
import { grpcCode, waitFor } from './container-fixture';

/**
 * Operating the daemon as a node service: SIGHUP reloads every key CRI-O reloads, each checked
 * for its effect (a new seccomp default blocks mkdir in the next container, a new pause image
 * and command for the next infra container, pinned images, a new runtime handler and default,
 * registries.conf, log level and filter, a new cdi_spec_dirs), and a bad file keeps the whole old configuration;
 * `--log-format json`; the systemd notify protocol against a NOTIFY_SOCKET the test listens on;
 * HTTPS metrics; `crio wipe` after a "reboot" and with --force.
 */

const CRIO_JS = path.resolve(__dirname, '..', '..', 'cmd', 'crio.js');
const PAUSE = `#!/bin/sh\ntrap 'exit 0' TERM INT\nwhile :; do sleep 3600 & wait $!; done\n`;
let registry: TestRegistry;

function rule(name: string): string {
  return `[[registry]]\nprefix = "docker.io/library/${name}"\nlocation = "${registry.host}/library/${name}"\ninsecure = true\n`;
}

before(async () => {
  registry = await startRegistry();
  const busybox = await buildBusyboxImage();
  await registry.push('library/busybox', 'latest', busybox);
  await registry.push('library/later', 'latest', busybox);
  await registry.push('library/pausey', 'latest', await buildBusyboxImage({ extraLayers: [{ files: [{ path: 'pause2', content: PAUSE, mode: 0o755 }] }] }));
});

after(async () => {
  await registry?.stop();
});

function podConfig(d: TestDaemon, name: string, pid = NamespaceMode.CONTAINER) {
  return {
    metadata: { name, namespace: 'ops', uid: `uid-${name}`, attempt: 0 },
    logDirectory: path.join(d.dir, 'pod-logs', name),
    linux: { securityContext: { namespaceOptions: { pid } } },
  };
}

/** Runs `sh -c script` in a new container of a new pod (with the CDI devices named); returns its exit code and log. */
async function runOnce(d: TestDaemon, name: string, script: string, cdiDevices: string[] = []): Promise<{ exitCode: number; log: string }> {
  const config = podConfig(d, name);
  const { podSandboxId } = await d.cri.runtime.runPodSandbox({ config });
  const { containerId } = await d.cri.runtime.createContainer({
    podSandboxId,
    sandboxConfig: config,
    config: { metadata: { name: 'c' }, image: { image: 'busybox' }, command: ['sh', '-c', script], logPath: 'c.log', CDIDevices: cdiDevices.map((n) => ({ name: n })) },
  }).catch(async (err: unknown) => {
    await d.cri.runtime.stopPodSandbox({ podSandboxId });
    await d.cri.runtime.removePodSandbox({ podSandboxId });
    throw err;
  });
  await d.cri.runtime.startContainer({ containerId });
  const s = await waitFor('container exit', async () => {
    const st = (await d.cri.runtime.containerStatus({ containerId })).status;
    return st?.state === ContainerState.CONTAINER_EXITED ? st : undefined;
  });
  const log = await fs.readFile(path.join(config.logDirectory, 'c.log'), 'utf8').catch(() => '');
  await d.cri.runtime.removePodSandbox({ podSandboxId }).catch(async () => {
    await d.cri.runtime.stopPodSandbox({ podSandboxId });
    await d.cri.runtime.removePodSandbox({ podSandboxId });
  });
  return { exitCode: s.exitCode, log };
}

/** Writes the reload drop-in (or removes it for undefined), sends SIGHUP and waits for the outcome line. */
async function reload(d: TestDaemon, dropIn: string | undefined): Promise<{ ok: boolean; lines: string[] }> {
  const file = path.join(d.dir, 'crio.conf.d', '60-reload.conf');
  if (dropIn === undefined) await fs.rm(file, { force: true });
  else await fs.writeFile(file, dropIn);
  const count = (): number => (d.logs().match(/msg="configuration reload(ed| failed)/g) ?? []).length;
  const before = count();
  const offset = d.logs().length;
  d.signal('SIGHUP');
  await waitFor('the reload', async () => (count() > before ? true : undefined));
  const lines = d.logs().slice(offset).split('\n');
  return { ok: lines.some((l) => l.includes('msg="configuration reloaded"')), lines };
}

async function pinned(d: TestDaemon, name: string): Promise<boolean | undefined> {
  return (await d.cri.image.imageStatus({ image: { image: name } })).image?.pinned;
}

test('SIGHUP reloads what CRI-O reloads, each with its effect; a bad file keeps everything', async () => {
  const d = await startDaemon({ netIndex: 152, dropIn: '[crio.runtime]\nlog_level = "info"\n', registriesConf: [rule('busybox'), rule('pausey')].join('\n') });
  try {
    await d.cri.image.pullImage({ image: { image: 'busybox' } });
    const before = await runOnce(d, 'before', 'mkdir /tmp/x && echo made');
    assert.equal(before.exitCode, 0, before.log);
    await assert.rejects(d.cri.runtime.runPodSandbox({ config: podConfig(d, 'alt0'), runtimeHandler: 'alt' }), (e: unknown) => grpcCode(e) === 3);
    await assert.rejects(d.cri.image.pullImage({ image: { image: 'later' } }));

    // cdi_spec_dirs: a device defined only in the new directory is unknown until the reload.
    const cdiDir = path.join(d.dir, 'cdi-reloaded');
    await fs.mkdir(cdiDir);
    await fs.writeFile(path.join(cdiDir, 'late.json'), JSON.stringify({ cdiVersion: '0.3.0', kind: 'reload.example.com/c', devices: [{ name: 'one', containerEdits: { env: ['FROM_CDI=reloaded'] } }] }));
    await assert.rejects(runOnce(d, 'cdi0', 'true', ['reload.example.com/c=one']), (e: unknown) => grpcCode(e) === 5);

    const profile = path.join(d.dir, 'no-mkdir.json');
    await fs.writeFile(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    const badProfile = path.join(d.dir, 'bad.json');
    await fs.writeFile(badProfile, '{"defaultAction": "SCMP_ACT_NOPE"}');
    const good = [
      '[crio.runtime]',
      'log_level = "debug"',
      `seccomp_profile = "${profile}"`,
      'default_runtime = "alt"',
      `cdi_spec_dirs = ["${cdiDir}"]`,
      '[crio.runtime.runtimes.alt]',
      'runtime_path = "/usr/sbin/runc"',
      // The same state directory as runc's: pods made before the switch stay reachable.
      `runtime_root = "${d.dir}/runc"`,
      '[crio.image]',
      'pinned_images = ["docker.io/library/busybox:latest"]',
      'pause_image = "docker.io/library/pausey:latest"',
      'pause_command = "/pause2"',
      '[crio.api]',
      'stream_port = "10999"',
    ].join('\n');

    // A profile that does not parse: nothing of the file applies, and the log says why.
    const bad = await reload(d, good.replace(profile, badProfile));
    assert.equal(bad.ok, false);
    assert.ok(bad.lines.some((l) => /level=error msg="configuration reload failed; keeping the old configuration" err=".*crio\.runtime\.seccomp_profile.*bad\.json.*SCMP_ACT_NOPE/.test(l)), bad.lines.join('\n'));
    assert.equal(await pinned(d, 'busybox'), false);
    assert.ok(!bad.lines.some((l) => l.includes('level=debug')), 'log_level unchanged');
    // A TOML syntax error: the same.
    const syntax = await reload(d, `${good}\n[crio.image\n`);
    assert.equal(syntax.ok, false);
    assert.ok(syntax.lines.some((l) => /reload failed.*TOML syntax error/.test(l)), syntax.lines.join('\n'));
    assert.equal(await pinned(d, 'busybox'), false);

    await fs.writeFile(path.join(d.dir, 'registries.conf'), [rule('busybox'), rule('pausey'), rule('later')].join('\n'));
    const ok = await reload(d, good);
    assert.equal(ok.ok, true, ok.lines.join('\n'));
    assert.ok(ok.lines.some((l) => /level=warning msg="changed settings take effect at the next start" keys=crio\.api\.stream_port/.test(l)), ok.lines.join('\n'));
    assert.ok(ok.lines.some((l) => /msg="set config" key=crio\.runtime\.seccomp_profile/.test(l)));
    // seccomp_profile: the new RuntimeDefault blocks mkdir in the next container.
    const after = await runOnce(d, 'after', 'mkdir /tmp/x && echo made || echo refused');
    assert.match(after.log, /Operation not permitted/);
    assert.match(after.log, /refused/);
    // pinned_images.
    assert.equal(await pinned(d, 'busybox'), true);
    // cdi_spec_dirs: the new directory's device is there.
    const cdi = await runOnce(d, 'cdi1', 'echo "cdi=$FROM_CDI"', ['reload.example.com/c=one']);
    assert.match(cdi.log, /cdi=reloaded/);
    // runtimes table: the new handler works; default_runtime is the new one.
    const alt = await d.cri.runtime.runPodSandbox({ config: podConfig(d, 'alt1'), runtimeHandler: 'alt' });
    await d.cri.runtime.stopPodSandbox({ podSandboxId: alt.podSandboxId });
    await d.cri.runtime.removePodSandbox({ podSandboxId: alt.podSandboxId });
    // pause_image and pause_command: the next infra container runs /pause2 from pausey (pulled on demand, pinned).
    const infraPod = await d.cri.runtime.runPodSandbox({ config: podConfig(d, 'infra', NamespaceMode.POD) });
    const spec = JSON.parse(await fs.readFile(path.join(d.dir, 'run', 'crio-bundles', infraPod.podSandboxId, 'config.json'), 'utf8')) as { process: { args: string[] } };
    assert.deepEqual(spec.process.args, ['/pause2']);
    assert.equal(await pinned(d, 'pausey'), true);
    await d.cri.runtime.stopPodSandbox({ podSandboxId: infraPod.podSandboxId });
    await d.cri.runtime.removePodSandbox({ podSandboxId: infraPod.podSandboxId });
    // registries.conf(.d).
    await d.cri.image.pullImage({ image: { image: 'later' } });
    // log_level: debug lines appear from now on.
    const mark = d.logs().length;
    await d.cri.runtime.version({});
    assert.match(d.logs().slice(mark), /level=debug msg=request .*rpc=Version/);

    // log_filter (and log_level back to info): only lines matching the filter are written.
    const filter = 'container (created|started)|configuration reloaded';
    const filtered = await reload(d, good.replace('log_level = "debug"', `log_level = "info"\nlog_filter = "${filter}"`));
    assert.equal(filtered.ok, true, filtered.lines.join('\n'));
    const mark2 = d.logs().length;
    const r = await runOnce(d, 'filtered', 'true');
    assert.equal(r.exitCode, 0);
    const after2 = d.logs().slice(mark2).split('\n').filter(Boolean);
    assert.ok(after2.length >= 2, after2.join('\n'));
    for (const l of after2) assert.match(l, /container (created|started)/);
  } finally {
    await d.cleanup();
  }
});

/** A NOTIFY_SOCKET the test owns, collecting datagrams. */
function notifyListener(dir: string): { path: string; messages: string[]; close: () => void } {
  const sock = path.join(dir, 'notify.sock');
  const socket = new DgramSocket();
  const messages: string[] = [];
  socket.on('data', (buf: Buffer) => messages.push(buf.toString()));
  socket.bind(sock);
  return { path: sock, messages, close: () => socket.close() };
}

function crio(d: TestDaemon, args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CRIO_JS, '--config', path.join(d.dir, 'crio.conf'), '--config-dir', path.join(d.dir, 'crio.conf.d'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}

test('json logs, sd_notify READY/WATCHDOG/STOPPING, HTTPS metrics, crio wipe', async () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'crio-ts-operate-'));
  const listener = notifyListener(tmp);
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await fs.writeFile(path.join(tmp, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await selfSignedCert(path.join(tmp, 'key.pem'), path.join(tmp, 'cert.pem'), '/CN=127.0.0.1');
  const metricsPort = await unusedPort();
  const d = await startDaemon({
    netIndex: 153,
    noCni: true,
    args: ['--log-format', 'json'],
    env: { NOTIFY_SOCKET: listener.path, WATCHDOG_USEC: '2000000' },
    dropIn:
      `[crio]\nversion_file_persist = "${tmp}/version-persist"\n` +
      `[crio.metrics]\nenable_metrics = true\nmetrics_port = ${metricsPort}\nmetrics_cert = "${tmp}/cert.pem"\nmetrics_key = "${tmp}/key.pem"\n`,
    registriesConf: rule('busybox'),
  });
  let stopped = false;
  try {
    // READY=1 comes once the socket serves (the harness's Version call succeeded), then the watchdog pings.
    await waitFor('READY=1', async () => (listener.messages.length > 0 ? true : undefined));
    assert.equal(listener.messages[0], 'READY=1');
    await waitFor('a watchdog ping', async () => (listener.messages.includes('WATCHDOG=1') ? true : undefined));
    for (const line of d.logs().split('\n').filter(Boolean)) {
      const doc = JSON.parse(line) as { level?: unknown; msg?: unknown; time?: unknown };
      assert.ok(typeof doc.level === 'string' && typeof doc.msg === 'string' && typeof doc.time === 'string', line);
    }
    const metrics = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', rejectUnauthorized: false }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    assert.match(metrics, /^container_runtime_crio_default_runtime\{runtime="runc"\} 1$/m);

    // Something to wipe: an image, and a host-network pod with a running container.
    await d.cri.image.pullImage({ image: { image: 'busybox' } });
    const config = { ...podConfig(d, 'wipe'), linux: { securityContext: { namespaceOptions: { network: NamespaceMode.NODE, pid: NamespaceMode.CONTAINER } } } };
    const { podSandboxId } = await d.cri.runtime.runPodSandbox({ config });
    const { containerId } = await d.cri.runtime.createContainer({ podSandboxId, sandboxConfig: config, config: { metadata: { name: 'sleeper' }, image: { image: 'busybox' }, command: ['sleep', '3600'] } });
    await d.cri.runtime.startContainer({ containerId });

    const refused = await crio(d, ['wipe']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.output, /crio-ts is running on .*crio\.sock: stop it before crio wipe/);

    await d.stop();
    stopped = true;
    assert.ok(listener.messages.includes('STOPPING=1'), listener.messages.join(','));
    // Nothing changed: nothing is wiped.
    const noop = await crio(d, ['wipe']);
    assert.equal(noop.code, 0, noop.output);
    assert.match(noop.output, /no wipe needed/);
    const records = path.join(d.dir, 'root', 'crio-state');
    assert.ok(existsSync(path.join(records, 'containers', `${containerId}.json`)));
    // A "reboot": the tmpfs version file is gone. Containers and pods go; images stay (version_file_persist unchanged).
    rmSync(path.join(d.dir, 'run', 'version'));
    const wiped = await crio(d, ['wipe']);
    assert.equal(wiped.code, 0, wiped.output);
    assert.match(wiped.output, /msg="wiping containers" reason=".*version does not exist"/);
    assert.ok(!existsSync(path.join(records, 'containers', `${containerId}.json`)));
    assert.ok(!existsSync(path.join(records, 'sandboxes', `${podSandboxId}.json`)));
    await d.restart();
    stopped = false;
    assert.deepEqual((await d.cri.runtime.listPodSandbox({})).items, []);
    assert.ok((await d.cri.image.imageStatus({ image: { image: 'busybox' } })).image, 'images kept');
    // --force: images too.
    await d.stop();
    stopped = true;
    const forced = await crio(d, ['wipe', '--force']);
    assert.equal(forced.code, 0, forced.output);
    assert.match(forced.output, /msg="wiping images" reason=--force/);
    await d.restart();
    stopped = false;
    assert.deepEqual((await d.cri.image.listImages({})).images, []);
  } finally {
    listener.close();
    if (stopped) await d.restart().catch(() => undefined);
    await d.cleanup();
    await fs.rm(tmp, { recursive: true, force: true });
  }
});
