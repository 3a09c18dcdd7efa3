import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ContainerState, NamespaceMode } from '../../lib/cri/gen/api';
import { startDaemon, type TestDaemon } from '../harness/daemon';
import { unusedPort } from '../harness/image-fixtures';
import { startRegistry, type TestRegistry } from '../harness/registry';
import { buildBusyboxImage, type BuiltImage } from '../harness/test-images';
import { selfSignedCert } from '../harness/token-issuer';
import { sizeBucket } from '../../lib/metrics/recorder';
import { grpcCode, waitFor } from './container-fixture';

/**
 * The Prometheus endpoint after real work: every counter is checked against what the test did
 * (pulls with their exact byte counts, reused layers, failures by error, RPCs and their errors,
 * a real OOM kill under a 16 MiB limit), served on TCP and on metrics_socket. Also the pull
 * errors an operator reads: a plain-HTTP registry not marked insecure, a self-signed
 * certificate, an unreachable registry — each naming the image and the registry.
 */

const P = 'container_runtime_crio_';
let registry: TestRegistry;
let daemon: TestDaemon;
let busybox: BuiltImage;
let metricsPort: number;
let tlsServer: https.Server;
let tlsPort: number;
let refusedPort: number;
let tmp: string;

function scrapeVia(options: http.RequestOptions): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ path: '/metrics', timeout: 10_000, ...options }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

async function scrape(): Promise<string> {
  const r = await scrapeVia({ host: '127.0.0.1', port: metricsPort });
  assert.equal(r.status, 200);
  return r.body;
}

/** One series' value, or undefined when it is not exposed. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** The sum over every series of a metric (all label values). */
function sum(text: string, metric: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${metric}{`) || l.startsWith(`${metric} `))
    .reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

function rule(prefix: string, location: string, insecure: boolean): string {
  return `[[registry]]\nprefix = "docker.io/library/${prefix}"\nlocation = "${location}"\ninsecure = ${insecure}\n`;
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'crio-ts-metrics-'));
  registry = await startRegistry();
  busybox = await buildBusyboxImage();
  await registry.push('library/busybox', 'latest', busybox);
  // An HTTPS "registry" with a self-signed certificate the node does not trust.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await fs.writeFile(path.join(tmp, 'key.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await selfSignedCert(path.join(tmp, 'key.pem'), path.join(tmp, 'cert.pem'), '/CN=127.0.0.1');
  tlsServer = https.createServer({ key: await fs.readFile(path.join(tmp, 'key.pem')), cert: await fs.readFile(path.join(tmp, 'cert.pem')) }, (_req, res) => {
    res.writeHead(200).end('{}');
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  tlsPort = (tlsServer.address() as { port: number }).port;
  refusedPort = await unusedPort();
  metricsPort = await unusedPort();
  daemon = await startDaemon({
    netIndex: 150,
    dropIn: `[crio.metrics]\nenable_metrics = true\nmetrics_port = ${metricsPort}\nmetrics_socket = "${tmp}/metrics.sock"\n`,
    registriesConf: [
      rule('busybox', `${registry.host}/library/busybox`, true),
      rule('plain', `${registry.host}/library/busybox`, false),
      rule('selfsigned', `127.0.0.1:${tlsPort}/library/busybox`, false),
      rule('gone', `127.0.0.1:${refusedPort}/library/busybox`, true),
    ].join('\n'),
  });
});

after(async () => {
  await daemon?.cleanup();
  await registry?.stop();
  tlsServer?.close();
  if (tmp) await fs.rm(tmp, { recursive: true, force: true });
});

test('pulls: bytes, layer sizes, successes, reused layers and skipped bytes, failures by error', async () => {
  const blobBytes = busybox.configBytes.length + busybox.layers.reduce((n, l) => n + l.bytes.length, 0);
  await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
  let m = await scrape();
  assert.equal(value(m, `${P}image_pulls_success_total`), 1);
  assert.equal(sum(m, `${P}image_pulls_bytes_total`), blobBytes, 'every config and layer byte, once');
  for (const l of busybox.layers) assert.equal(value(m, `${P}image_pulls_bytes_total{mediatype="${l.mediaType}",size="${sizeBucket(l.bytes.length)}"}`), l.bytes.length);
  assert.equal(value(m, `${P}image_pulls_layer_size_count`), busybox.layers.length);
  assert.equal(sum(m, `${P}image_layer_reuse_total`), 0);

  // Pulled again: nothing is fetched but the manifest; the config and every layer count as reused.
  await daemon.cri.image.pullImage({ image: { image: 'busybox' } });
  m = await scrape();
  assert.equal(value(m, `${P}image_pulls_success_total`), 2);
  assert.equal(sum(m, `${P}image_pulls_bytes_total`), blobBytes, 'no blob fetched twice');
  for (const digest of [busybox.configDigest, ...busybox.layers.map((l) => l.digest)]) {
    assert.equal(value(m, `${P}image_layer_reuse_total{name="docker.io/library/busybox:latest@${digest}"}`), 1, digest);
  }
  assert.equal(sum(m, `${P}image_pulls_skipped_bytes_total`), blobBytes);

  await assert.rejects(daemon.cri.image.pullImage({ image: { image: 'busybox:nope' } }), (err: Error) => {
    assert.match(err.message, new RegExp(`pulling image docker\\.io/library/busybox:nope from registry ${registry.host.replace(/\./g, '\\.')}: .*MANIFEST_UNKNOWN`));
    return true;
  });
  await assert.rejects(daemon.cri.image.pullImage({ image: { image: 'gone' } }), (err: Error) => {
    assert.match(err.message, new RegExp(`pulling image docker\\.io/library/gone:latest from registry 127\\.0\\.0\\.1:${refusedPort}: .*ECONNREFUSED`));
    return true;
  });
  m = await scrape();
  assert.equal(value(m, `${P}image_pulls_failure_total{error="MANIFEST_UNKNOWN"}`), 1);
  assert.equal(value(m, `${P}image_pulls_failure_total{error="CONNECTION_REFUSED"}`), 1);
  assert.equal(sum(m, `${P}image_pulls_failure_total`), 2);
  assert.equal(value(m, `${P}image_pulls_success_total`), 2);
});

test('clear TLS errors: plain HTTP answering HTTPS, a self-signed certificate', async () => {
  await assert.rejects(daemon.cri.image.pullImage({ image: { image: 'plain' } }), (err: Error) => {
    assert.match(
      err.message,
      new RegExp(`pulling image docker\\.io/library/plain:latest from registry ${registry.host.replace(/\./g, '\\.')}: registry ${registry.host.replace(/\./g, '\\.')} answered plain HTTP to an HTTPS request; mark it \`insecure = true\` in registries.conf$`),
    );
    return true;
  });
  await assert.rejects(daemon.cri.image.pullImage({ image: { image: 'selfsigned' } }), (err: Error) => {
    assert.match(err.message, new RegExp(`from registry 127\\.0\\.0\\.1:${tlsPort}: registry 127\\.0\\.0\\.1:${tlsPort}: TLS certificate refused: the certificate is self-signed \\(DEPTH_ZERO_SELF_SIGNED_CERT\\)`));
    return true;
  });
  const m = await scrape();
  assert.equal(value(m, `${P}image_pulls_failure_total{error="UNKNOWN"}`), 2);
});

test('operations: every RPC counted at the boundary, errors (incl. UNIMPLEMENTED) separately, latencies per operation', async () => {
  const before = await scrape();
  for (let i = 0; i < 3; i++) await daemon.cri.image.imageStatus({ image: { image: 'busybox' } });
  for (let i = 0; i < 2; i++) {
    await assert.rejects(daemon.cri.runtime.containerStatus({ containerId: 'nonexistent' }), (err: unknown) => grpcCode(err) === 5);
  }
  await assert.rejects(daemon.cri.runtime.checkpointContainer({ containerId: 'x' }), (err: unknown) => grpcCode(err) === 12);
  const m = await scrape();
  const diff = (series: string): number => (value(m, series) ?? 0) - (value(before, series) ?? 0);
  assert.equal(diff(`${P}operations_total{operation="ImageStatus"}`), 3);
  assert.equal(diff(`${P}operations_errors_total{operation="ImageStatus"}`), 0);
  assert.equal(diff(`${P}operations_total{operation="ContainerStatus"}`), 2);
  assert.equal(diff(`${P}operations_errors_total{operation="ContainerStatus"}`), 2);
  assert.equal(diff(`${P}operations_total{operation="CheckpointContainer"}`), 1);
  assert.equal(diff(`${P}operations_errors_total{operation="CheckpointContainer"}`), 1);
  assert.equal(diff(`${P}operations_latency_seconds_total_count{operation="ImageStatus"}`), 3);
  assert.ok((value(m, `${P}operations_latency_seconds{operation="ImageStatus"}`) ?? -1) >= 0);
  // The pulls of the first test went through the same boundary.
  assert.ok((value(m, `${P}operations_total{operation="PullImage"}`) ?? 0) >= 6);
});

test('an OOM kill under a 16 MiB limit: total and per container name; the name goes with the container', async () => {
  const config = {
    metadata: { name: 'oompod', namespace: 'default', uid: 'uid-oompod', attempt: 0 },
    logDirectory: path.join(daemon.dir, 'pod-logs', 'oompod'),
    linux: { securityContext: { namespaceOptions: { pid: NamespaceMode.CONTAINER } } },
  };
  const { podSandboxId } = await daemon.cri.runtime.runPodSandbox({ config });
  const { containerId } = await daemon.cri.runtime.createContainer({
    podSandboxId,
    sandboxConfig: config,
    config: {
      metadata: { name: 'hog' },
      image: { image: 'busybox' },
      command: ['sh', '-c', 'x=a; while :; do x="$x$x"; done'],
      linux: { resources: { memoryLimitInBytes: 16n << 20n } },
    },
  });
  await daemon.cri.runtime.startContainer({ containerId });
  const status = await waitFor('the OOM kill', async () => {
    const s = (await daemon.cri.runtime.containerStatus({ containerId })).status;
    return s?.state === ContainerState.CONTAINER_EXITED ? s : undefined;
  });
  assert.equal(status.reason, 'OOMKilled');
  let m = await scrape();
  assert.equal(value(m, `${P}containers_oom_total`), 1);
  assert.equal(value(m, `${P}containers_oom_count_total{name="hog"}`), 1);
  // A status poll after the exit must not count it again.
  await daemon.cri.runtime.containerStatus({ containerId });
  await daemon.cri.runtime.removeContainer({ containerId });
  m = await scrape();
  assert.equal(value(m, `${P}containers_oom_total`), 1);
  assert.equal(value(m, `${P}containers_oom_count_total{name="hog"}`), undefined, 'removed with the container, as in CRI-O');
  await daemon.cri.runtime.stopPodSandbox({ podSandboxId });
  await daemon.cri.runtime.removePodSandbox({ podSandboxId });
});

test('the endpoint: default_runtime, processes_defunct, Node process metrics, metrics_socket, 404 elsewhere', async () => {
  const m = await scrape();
  assert.equal(value(m, `${P}default_runtime{runtime="runc"}`), 1);
  assert.ok(Number.isInteger(value(m, `${P}processes_defunct`)));
  assert.ok((value(m, 'process_resident_memory_bytes') ?? 0) > 10 * 1024 * 1024);
  assert.equal(value(m, `${P}containers_events_dropped_total`), 0);
  const viaSocket = await scrapeVia({ socketPath: path.join(tmp, 'metrics.sock') });
  assert.equal(viaSocket.status, 200);
  assert.match(viaSocket.type, /^text\/plain; version=0\.0\.4/);
  assert.match(viaSocket.body, /^container_runtime_crio_image_pulls_success_total 2$/m);
  assert.equal((await scrapeVia({ host: '127.0.0.1', port: metricsPort, path: '/other' })).status, 404);
});

test('the daemon logs in CRI-O\'s text format by default', () => {
  const ready = daemon.logs().split('\n').find((l) => l.includes('crio-ts ready'));
  assert.match(ready ?? '', /^time="[^"]+" level=info msg="crio-ts ready" listen=\S+ version=[\d.]+$/);
  assert.match(daemon.logs(), /^time="[^"]+" level=info msg="serving metrics" address="127\.0\.0\.1:\d+" socket=\S+metrics\.sock tls=false$/m);
});
