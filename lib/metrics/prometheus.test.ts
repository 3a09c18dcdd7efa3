import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COLLECTORS } from './collectors';
import { PrometheusMetrics } from './prometheus';

/** The value of one series in exposition text ('' labels = none), or undefined. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('CRI-O names, labels and types; counters add up', async () => {
  const m = new PrometheusMetrics(new Set(COLLECTORS));
  m.operation('RunPodSandbox', 0.25, false);
  m.operation('RunPodSandbox', 0.5, true);
  m.imagePullBytes('application/vnd.oci.image.layer.v1.tar+gzip', 2_000_000, 2_000_000);
  m.imagePullLayerDone(2_000_000);
  m.imageLayerReused('docker.io/library/busybox:latest@sha256:aa', 5000);
  m.imagePullSuccess();
  m.imagePullFailure('MANIFEST_UNKNOWN');
  m.containerOom('hog');
  m.containerOom('hog');
  m.containerEventDropped();
  m.defaultRuntime('runc');
  m.defaultRuntime('crun');
  m.containerMonitorStopped('web');
  const text = await m.registry.metrics();
  const p = 'container_runtime_crio_';
  assert.equal(value(text, `${p}operations_total{operation="RunPodSandbox"}`), 2);
  assert.equal(value(text, `${p}operations_errors_total{operation="RunPodSandbox"}`), 1);
  assert.equal(value(text, `${p}operations_latency_seconds{operation="RunPodSandbox"}`), 0.5);
  assert.equal(value(text, `${p}operations_latency_seconds_total_count{operation="RunPodSandbox"}`), 2);
  assert.equal(value(text, `${p}operations_latency_seconds_total{quantile="0.99",operation="RunPodSandbox"}`), 0.5);
  assert.equal(value(text, `${p}image_pulls_bytes_total{mediatype="application/vnd.oci.image.layer.v1.tar+gzip",size=">1 MiB"}`), 2_000_000);
  assert.equal(value(text, `${p}image_pulls_layer_size_count`), 1);
  assert.equal(value(text, `${p}image_layer_reuse_total{name="docker.io/library/busybox:latest@sha256:aa"}`), 1);
  assert.equal(value(text, `${p}image_pulls_skipped_bytes_total{size=">1 KiB"}`), 5000);
  assert.equal(value(text, `${p}image_pulls_success_total`), 1);
  assert.equal(value(text, `${p}image_pulls_failure_total{error="MANIFEST_UNKNOWN"}`), 1);
  assert.equal(value(text, `${p}containers_oom_total`), 2);
  assert.equal(value(text, `${p}containers_oom_count_total{name="hog"}`), 2);
  assert.equal(value(text, `${p}containers_events_dropped_total`), 1);
  assert.equal(value(text, `${p}containers_stopped_monitor_count{name="web"}`), 1);
  assert.equal(value(text, `${p}default_runtime{runtime="crun"}`), 1);
  assert.equal(value(text, `${p}default_runtime{runtime="runc"}`), undefined, 'the old default is gone');
  assert.ok((value(text, `${p}processes_defunct`) ?? -1) >= 0);
  assert.match(text, /^# TYPE container_runtime_crio_operations_latency_seconds gauge$/m);
  assert.match(text, /^# TYPE container_runtime_crio_operations_latency_seconds_total summary$/m);
  assert.match(text, /^# TYPE container_runtime_crio_image_pulls_layer_size histogram$/m);
  // Node's process metrics, as Go's process collector serves them for CRI-O.
  assert.ok((value(text, 'process_resident_memory_bytes') ?? 0) > 0);
  assert.ok((value(text, 'process_open_fds') ?? 0) > 0);
  assert.ok((value(text, 'process_cpu_seconds_total') ?? 0) > 0);
  // Not the ones that cost between scrapes: the 10 ms event-loop sampler and the GC observer.
  assert.doesNotMatch(text, /nodejs_eventloop_lag|nodejs_gc_duration/);
  m.containerRemoved('hog');
  assert.equal(value(await m.registry.metrics(), `${p}containers_oom_count_total{name="hog"}`), undefined);
});

test('metrics_collectors: only the selected ones are exposed', async () => {
  const m = new PrometheusMetrics(new Set(['image_pulls_success_total'] as const));
  m.operation('Version', 0.001, false);
  m.imagePullSuccess();
  const text = await m.registry.metrics();
  assert.equal(value(text, 'container_runtime_crio_image_pulls_success_total'), 1);
  assert.doesNotMatch(text, /container_runtime_crio_operations/);
});
