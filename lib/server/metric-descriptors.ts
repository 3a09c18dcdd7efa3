import { MetricType, type MetricDescriptor } from '../cri/gen/api';

/**
 * The cAdvisor-style pod metrics crio-ts serves (names, help and label keys as in CRI-O's stats
 * server). CRI-O serves only `container_last_seen` unless `[crio.stats] included_pod_metrics` lists
 * groups; crio-ts has no such key yet and serves every group it computes.
 */

const BASE = ['id', 'image', 'namespace', 'pod', 'container'];

/** One metric crio-ts computes: descriptor plus its Prometheus type. */
export interface MetricDef {
  descriptor: MetricDescriptor;
  type: MetricType;
}

function def(name: string, help: string, extraLabels: string[] = []): MetricDef {
  return { descriptor: { name, help, labelKeys: [...BASE, ...extraLabels] }, type: name.endsWith('_total') ? MetricType.COUNTER : MetricType.GAUGE };
}

/** Per-container metrics. */
export const CONTAINER_METRICS = {
  lastSeen: def('container_last_seen', 'Last time a container was seen by the exporter'),
  cpuUser: def('container_cpu_user_seconds_total', 'Cumulative user CPU time consumed in seconds.'),
  cpuSystem: def('container_cpu_system_seconds_total', 'Cumulative system CPU time consumed in seconds.'),
  cpuUsage: def('container_cpu_usage_seconds_total', 'Cumulative CPU time consumed in seconds.', ['cpu']),
  cfsPeriods: def('container_cpu_cfs_periods_total', 'Number of elapsed enforcement period intervals.'),
  cfsThrottledPeriods: def('container_cpu_cfs_throttled_periods_total', 'Number of throttled period intervals.'),
  cfsThrottledSeconds: def('container_cpu_cfs_throttled_seconds_total', 'Total time duration the container has been throttled.'),
  memoryCache: def('container_memory_cache', 'Number of bytes of page cache memory.'),
  memoryRss: def('container_memory_rss', 'Size of RSS in bytes.'),
  memoryMappedFile: def('container_memory_mapped_file', 'Size of memory mapped files in bytes.'),
  memorySwap: def('container_memory_swap', 'Container swap usage in bytes.'),
  memoryFailcnt: def('container_memory_failcnt', 'Number of memory usage hits limits'),
  memoryUsage: def('container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed'),
  memoryMaxUsage: def('container_memory_max_usage_bytes', 'Maximum memory usage recorded in bytes'),
  memoryWorkingSet: def('container_memory_working_set_bytes', 'Current working set in bytes.'),
  oomEvents: def('container_oom_events_total', 'Count of out of memory events observed for the container'),
  processes: def('container_processes', 'Number of processes running inside the container.'),
  specCpuPeriod: def('container_spec_cpu_period', 'CPU period of the container.'),
  specCpuShares: def('container_spec_cpu_shares', 'CPU share of the container.'),
  specCpuQuota: def('container_spec_cpu_quota', 'CPU quota of the container.'),
  specMemoryLimit: def('container_spec_memory_limit_bytes', 'Memory limit for the container in bytes.'),
  startTime: def('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.'),
} as const;

/** Pod-level (network) metrics; one value per interface. */
export const POD_METRICS = {
  rxBytes: def('container_network_receive_bytes_total', 'Cumulative count of bytes received', ['interface']),
  rxPackets: def('container_network_receive_packets_total', 'Cumulative count of packets received', ['interface']),
  rxDropped: def('container_network_receive_packets_dropped_total', 'Cumulative count of packets dropped while receiving', ['interface']),
  rxErrors: def('container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', ['interface']),
  txBytes: def('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', ['interface']),
  txPackets: def('container_network_transmit_packets_total', 'Cumulative count of packets transmitted', ['interface']),
  txDropped: def('container_network_transmit_packets_dropped_total', 'Cumulative count of packets dropped while transmitting', ['interface']),
  txErrors: def('container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', ['interface']),
} as const;

/** Every descriptor, pod metrics first. */
export function allMetricDescriptors(): MetricDescriptor[] {
  return [...Object.values(POD_METRICS), ...Object.values(CONTAINER_METRICS)].map((m) => ({ ...m.descriptor, labelKeys: [...m.descriptor.labelKeys] }));
}
