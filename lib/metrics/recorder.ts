/**
 * What the daemon reports to Prometheus, as calls: the RPC boundary, the puller and the exit
 * handling hold a MetricsRecorder and call it unconditionally. With `enable_metrics = false`
 * (the default) it is NO_METRICS, whose methods do nothing, so prom-client is never loaded and
 * an RPC pays one empty call. lib/metrics/prometheus.ts is the real one.
 */
export interface MetricsRecorder {
  /** One finished CRI call (`operation` is the RPC name, as CRI-O's interceptor records it). */
  operation(operation: string, seconds: number, failed: boolean): void;
  /** Bytes of one blob received during a pull. */
  imagePullBytes(mediaType: string, blobSize: number, bytes: number): void;
  /** One layer blob fully received (its size goes to the layer-size histogram). */
  imagePullLayerDone(blobSize: number): void;
  /** A layer already present locally, so not fetched: `name` is `<image>@<blob digest>`. */
  imageLayerReused(name: string, blobSize: number): void;
  imagePullSuccess(): void;
  /** A failed pull of one candidate name; `label` from pullFailureLabel(). */
  imagePullFailure(label: string): void;
  /** A container killed by the kernel for memory; `name` is the CRI container name. */
  containerOom(name: string): void;
  /** The container is removed: its per-name OOM series goes (CRI-O does the same). */
  containerRemoved(name: string): void;
  /** An event no GetContainerEvents stream could take. */
  containerEventDropped(): void;
  /** The default runtime handler (after start and each reload). */
  defaultRuntime(name: string): void;
  /** A container's monitor (conmon) exited before recording its exit; `name` is the CRI container name. */
  containerMonitorStopped(name: string): void;
}

/** The recorder used when metrics are off: every call is a no-op. */
export const NO_METRICS: MetricsRecorder = {
  operation: () => undefined,
  imagePullBytes: () => undefined,
  imagePullLayerDone: () => undefined,
  imageLayerReused: () => undefined,
  imagePullSuccess: () => undefined,
  imagePullFailure: () => undefined,
  containerOom: () => undefined,
  containerRemoved: () => undefined,
  containerEventDropped: () => undefined,
  defaultRuntime: () => undefined,
  containerMonitorStopped: () => undefined,
};

/** Distribution-spec error codes a registry may answer with (the label CRI-O gives such failures). */
const REGISTRY_ERROR_CODES = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'MANIFEST_UNVERIFIED',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
];
const REGISTRY_CODE = new RegExp(`\\b(${REGISTRY_ERROR_CODES.join('|')})\\b`);

/**
 * The `error` label of image_pulls_failure_total, as CRI-O picks it: the registry's error code
 * when it sent one, else CONNECTION_REFUSED, CONNECTION_TIMEOUT or NOT_FOUND, else UNKNOWN.
 */
export function pullFailureLabel(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = REGISTRY_CODE.exec(message)?.[1];
  if (code) return code;
  if (/ECONNREFUSED|connection refused/i.test(message)) return 'CONNECTION_REFUSED';
  if (/ETIMEDOUT|timed out|no data for/i.test(message)) return 'CONNECTION_TIMEOUT';
  const kind = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined;
  if (kind === 'NOT_FOUND' || /\bnot found\b|\b404\b/.test(message)) return 'NOT_FOUND';
  return 'UNKNOWN';
}

/** CRI-O's size buckets for the `size` label of the pull byte counters (decimal units, as CRI-O's). */
export function sizeBucket(size: number): string {
  const buckets: Array<[number, string]> = [
    [10e9, '>10 GiB'],
    [1e9, '>1 GiB'],
    [500e6, '>500 MiB'],
    [400e6, '>400 MiB'],
    [300e6, '>300 MiB'],
    [200e6, '>200 MiB'],
    [100e6, '>100 MiB'],
    [50e6, '>50 MiB'],
    [10e6, '>10 MiB'],
    [1e6, '>1 MiB'],
    [1e3, '>1 KiB'],
  ];
  for (const [limit, name] of buckets) if (size > limit) return name;
  return '>0 B';
}
