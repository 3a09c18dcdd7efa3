/**
 * CRI-O's metrics collectors (server/metrics/collectors): `metrics_collectors` names them
 * without prefix, and each is exposed as `container_runtime_crio_<name>`. Names may also be
 * written with the `crio_` or `container_runtime_crio_` prefix, as CRI-O accepts.
 */

/** The prefix of every metric name: CRI-O's subsystem `container_runtime` plus `crio_`. */
export const METRIC_PREFIX = 'container_runtime_crio_';

/** The collectors crio-ts serves, in CRI-O's order; also the default of metrics_collectors. */
export const COLLECTORS = [
  'image_pulls_layer_size',
  'containers_events_dropped_total',
  'containers_oom_total',
  'processes_defunct',
  'operations_total',
  'operations_latency_seconds',
  'operations_latency_seconds_total',
  'operations_errors_total',
  'image_pulls_bytes_total',
  'image_pulls_skipped_bytes_total',
  'image_pulls_failure_total',
  'image_pulls_success_total',
  'image_layer_reuse_total',
  'containers_oom_count_total',
  'default_runtime',
  'containers_stopped_monitor_count',
] as const;

export type Collector = (typeof COLLECTORS)[number];

/** CRI-O collectors for features crio-ts does not have (seccomp notifier, resource store). */
const NOT_COLLECTED = ['containers_seccomp_notifier_count_total', 'resources_stalled_at_stage'];

/** A collector name without CRI-O's optional prefixes. */
export function strippedCollector(name: string): string {
  return name.replace(/^container_runtime_/, '').replace(/^crio_/, '');
}

/** The enabled collectors for a metrics_collectors list, and warnings about names crio-ts does not collect. */
export function selectCollectors(names: readonly string[]): { enabled: Set<Collector>; warnings: string[] } {
  const enabled = new Set<Collector>();
  const warnings: string[] = [];
  for (const raw of names) {
    const name = strippedCollector(raw);
    if ((COLLECTORS as readonly string[]).includes(name)) enabled.add(name as Collector);
    else if (NOT_COLLECTED.includes(name)) warnings.push(`crio.metrics.metrics_collectors: "${raw}" is not collected by crio-ts (it lacks that feature); ignored`);
    else warnings.push(`crio.metrics.metrics_collectors: unknown collector "${raw}" ignored`);
  }
  return { enabled, warnings };
}
