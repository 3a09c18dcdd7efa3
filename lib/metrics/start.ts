import type { Logger } from '../log';
import { selectCollectors } from './collectors';
import { NO_METRICS, type MetricsRecorder } from './recorder';
import type { MetricsServer } from './server';

/** `[crio.metrics]` as the daemon passes it (lib/metrics stays free of lib/config). */
export interface MetricsSettings {
  enable_metrics: boolean;
  metrics_host: string;
  metrics_port: number;
  metrics_socket: string;
  metrics_cert: string;
  metrics_key: string;
  metrics_collectors: string[];
}

/** The recorder the daemon hands out, and the endpoint (undefined when metrics are off). */
export interface Metrics {
  recorder: MetricsRecorder;
  server?: MetricsServer;
  close(): Promise<void>;
}

/**
 * Starts metrics when enabled. prom-client and the HTTP server are loaded here, on first use,
 * so a daemon with metrics off (the default) never pays their memory (bench/idle-rss.ts).
 */
export async function startMetrics(settings: MetricsSettings, log: Logger): Promise<Metrics> {
  if (!settings.enable_metrics) return { recorder: NO_METRICS, close: async () => undefined };
  const { PrometheusMetrics } = require('./prometheus') as typeof import('./prometheus');
  const { startMetricsServer } = require('./server') as typeof import('./server');
  const prom = new PrometheusMetrics(selectCollectors(settings.metrics_collectors).enabled);
  const server = await startMetricsServer({
    host: settings.metrics_host,
    port: settings.metrics_port,
    socket: settings.metrics_socket,
    cert: settings.metrics_cert,
    key: settings.metrics_key,
    render: async () => ({ body: await prom.registry.metrics(), contentType: prom.registry.contentType }),
    log,
  });
  return { recorder: prom, server, close: () => server.close() };
}
