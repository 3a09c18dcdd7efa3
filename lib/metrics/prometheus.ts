import { Counter, Gauge, Histogram, Registry, Summary, type Metric } from 'prom-client';
import { COLLECTORS, METRIC_PREFIX, type Collector } from './collectors';
import { countDefunctProcesses } from './defunct';
import { sizeBucket, type MetricsRecorder } from './recorder';

/**
 * The MetricsRecorder behind `enable_metrics = true`: CRI-O's metrics with CRI-O's names, help
 * texts, labels and types (server/metrics/metrics.go), in a registry of their own together with
 * Node's process metrics (what Go's process collector is to CRI-O). Only the selected collectors
 * are registered; calls for the others still update their (unexported) metric, which is cheaper
 * than asking at every call. This module is the only importer of prom-client and is loaded only
 * when metrics are on (lib/metrics/start.ts).
 */

/** Per-operation children, looked up once per RPC name instead of hashing labels at every call. */
interface OperationSeries {
  total: Counter.Internal;
  errors: Counter.Internal;
  latency: Gauge.Internal<string>;
  latencyTotal: Summary.Internal<string>;
}

/**
 * Node's process metrics, as Go's process collector serves them for CRI-O (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_open_fds, process_start_time_seconds …) plus the heap
 * and version: prom-client's default metrics, all computed at scrape time. Left out are the two
 * that work between scrapes — eventLoopLag samples every 10 ms and gc observes every collection —
 * which measured +0.2 ms of daemon CPU per RPC and ~7 ms of CPU per idle second (bench/metrics-overhead.ts).
 */
const PROCESS_METRICS = [
  require('prom-client/lib/metrics/processCpuTotal'),
  require('prom-client/lib/metrics/processStartTime'),
  require('prom-client/lib/metrics/osMemoryHeap'),
  require('prom-client/lib/metrics/processOpenFileDescriptors'),
  require('prom-client/lib/metrics/processMaxFileDescriptors'),
  require('prom-client/lib/metrics/processHandles'),
  require('prom-client/lib/metrics/processRequests'),
  require('prom-client/lib/metrics/heapSizeAndUsed'),
  require('prom-client/lib/metrics/heapSpacesSizeAndUsed'),
  require('prom-client/lib/metrics/version'),
] as Array<typeof import('prom-client/lib/metrics/version')>;

/** Bytes by decimal size thresholds, as CRI-O's histogram buckets. */
const LAYER_SIZE_BUCKETS = [1e3, 1e6, 10e6, 50e6, 100e6, 200e6, 300e6, 400e6, 500e6, 1e9, 10e9];

/** A registry with CRI-O's metrics, plus the recorder that feeds them. */
export class PrometheusMetrics implements MetricsRecorder {
  readonly registry = new Registry();
  private readonly operations = new Map<string, OperationSeries>();

  private readonly layerSize = new Histogram({ name: name('image_pulls_layer_size'), help: 'Bytes transferred by CRI-O image pulls per layer', buckets: LAYER_SIZE_BUCKETS, registers: [] });
  private readonly eventsDropped = new Counter({ name: name('containers_events_dropped_total'), help: 'Amount of container events dropped', registers: [] });
  private readonly oomTotal = new Counter({ name: name('containers_oom_total'), help: 'Amount of containers killed because they ran out of memory (OOM)', registers: [] });
  private readonly defunct = new Gauge({
    name: name('processes_defunct'),
    help: 'Total number of defunct processes in the node',
    registers: [],
    async collect() {
      this.set(await countDefunctProcesses());
    },
  });
  private readonly opsTotal = new Counter({ name: name('operations_total'), help: 'Cumulative number of CRI-O operations by operation type.', labelNames: ['operation'], registers: [] });
  private readonly opsLatency = new Gauge({
    name: name('operations_latency_seconds'),
    help: 'Latency in seconds of individual CRI calls for CRI-O operations. Broken down by operation type.',
    labelNames: ['operation'],
    registers: [],
  });
  // Go's client keeps a summary's quantiles over the last 10 minutes in 5 buckets; so does this one.
  private readonly opsLatencyTotal = new Summary({
    name: name('operations_latency_seconds_total'),
    help: 'Latency in seconds of CRI-O operations. Broken down by operation type.',
    labelNames: ['operation'],
    percentiles: [0.5, 0.9, 0.99],
    maxAgeSeconds: 600,
    ageBuckets: 5,
    registers: [],
  });
  private readonly opsErrors = new Counter({ name: name('operations_errors_total'), help: 'Cumulative number of CRI-O operation errors by operation type.', labelNames: ['operation'], registers: [] });
  private readonly pullBytes = new Counter({ name: name('image_pulls_bytes_total'), help: 'Bytes transferred by CRI-O image pulls', labelNames: ['mediatype', 'size'], registers: [] });
  private readonly pullSkipped = new Counter({ name: name('image_pulls_skipped_bytes_total'), help: 'Bytes skipped by CRI-O image pulls', labelNames: ['size'], registers: [] });
  private readonly pullFailures = new Counter({ name: name('image_pulls_failure_total'), help: 'Cumulative number of CRI-O image pull failures by error.', labelNames: ['error'], registers: [] });
  private readonly pullSuccesses = new Counter({ name: name('image_pulls_success_total'), help: 'Cumulative number of CRI-O image pull successes.', registers: [] });
  private readonly layerReuse = new Counter({ name: name('image_layer_reuse_total'), help: 'Reused (not pulled) local image layer count by name', labelNames: ['name'], registers: [] });
  private readonly oomByName = new Counter({
    name: name('containers_oom_count_total'),
    help: 'Amount of containers killed because they ran out of memory (OOM) by their name',
    labelNames: ['name'],
    registers: [],
  });
  private readonly monitorStopped = new Counter({
    name: name('containers_stopped_monitor_count'),
    help: 'Amount of containers whose monitor process (conmon) exited before them, by their name',
    labelNames: ['name'],
    registers: [],
  });
  private readonly runtime = new Gauge({ name: name('default_runtime'), help: 'Default container runtime configured. Value is always 1.', labelNames: ['runtime'], registers: [] });

  constructor(collectors: ReadonlySet<Collector>) {
    const byCollector: Record<Collector, Metric> = {
      image_pulls_layer_size: this.layerSize,
      containers_events_dropped_total: this.eventsDropped,
      containers_oom_total: this.oomTotal,
      processes_defunct: this.defunct,
      operations_total: this.opsTotal,
      operations_latency_seconds: this.opsLatency,
      operations_latency_seconds_total: this.opsLatencyTotal,
      operations_errors_total: this.opsErrors,
      image_pulls_bytes_total: this.pullBytes,
      image_pulls_skipped_bytes_total: this.pullSkipped,
      image_pulls_failure_total: this.pullFailures,
      image_pulls_success_total: this.pullSuccesses,
      image_layer_reuse_total: this.layerReuse,
      containers_oom_count_total: this.oomByName,
      default_runtime: this.runtime,
      containers_stopped_monitor_count: this.monitorStopped,
    };
    for (const c of COLLECTORS) {
      if (collectors.has(c)) this.registry.registerMetric(byCollector[c]);
    }
    for (const register of PROCESS_METRICS) register(this.registry);
  }

  operation(operation: string, seconds: number, failed: boolean): void {
    let s = this.operations.get(operation);
    if (!s) {
      s = {
        total: this.opsTotal.labels(operation),
        errors: this.opsErrors.labels(operation),
        latency: this.opsLatency.labels(operation),
        latencyTotal: this.opsLatencyTotal.labels(operation),
      };
      this.operations.set(operation, s);
    }
    s.total.inc();
    s.latency.set(seconds);
    s.latencyTotal.observe(seconds);
    if (failed) s.errors.inc();
  }

  imagePullBytes(mediaType: string, blobSize: number, bytes: number): void {
    this.pullBytes.labels(mediaType, sizeBucket(blobSize)).inc(bytes);
  }

  imagePullLayerDone(blobSize: number): void {
    this.layerSize.observe(blobSize);
  }

  imageLayerReused(layer: string, blobSize: number): void {
    this.layerReuse.labels(layer).inc();
    this.pullSkipped.labels(sizeBucket(blobSize)).inc(blobSize);
  }

  imagePullSuccess(): void {
    this.pullSuccesses.inc();
  }

  imagePullFailure(label: string): void {
    this.pullFailures.labels(label).inc();
  }

  containerOom(container: string): void {
    this.oomTotal.inc();
    this.oomByName.labels(container).inc();
  }

  containerRemoved(container: string): void {
    this.oomByName.remove(container);
  }

  containerEventDropped(): void {
    this.eventsDropped.inc();
  }

  containerMonitorStopped(container: string): void {
    this.monitorStopped.labels(container).inc();
  }

  defaultRuntime(handler: string): void {
    this.runtime.reset();
    this.runtime.labels(handler).set(1);
  }
}

function name(collector: Collector): string {
  return METRIC_PREFIX + collector;
}
