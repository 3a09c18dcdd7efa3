/**
 * Turn a validated config into the one canonical form the rest of crio-ts consumes, so callers
 * never re-interpret operator spellings ("unix://", "chown", grpc size 0), and collect the
 * warnings about settings that are accepted but have no effect.
 */
import { selectCollectors } from '../metrics/collectors';
import { normalizeCapability } from '../security/capabilities';
import { DEFAULT_GRPC_MAX_MSG_SIZE, type Config } from './config';

/** CRI-O raises a smaller ctr_stop_timeout to this, with a warning. */
const MIN_CTR_STOP_TIMEOUT = 30;

/** Canonicalize a validated config in place; returns warnings for the operator. */
export function normalizeConfig(config: Config): string[] {
  const warnings: string[] = [];
  const { crio, api, runtime, image } = config;
  if (crio.storage_driver === '') crio.storage_driver = 'overlay';
  api.listen = api.listen.replace(/^unix:\/\//, '');
  if (api.grpc_max_send_msg_size <= 0) api.grpc_max_send_msg_size = DEFAULT_GRPC_MAX_MSG_SIZE;
  if (api.grpc_max_recv_msg_size <= 0) api.grpc_max_recv_msg_size = DEFAULT_GRPC_MAX_MSG_SIZE;
  runtime.log_level = runtime.log_level.toLowerCase();
  runtime.default_capabilities = runtime.default_capabilities.map((c) => normalizeCapability(c) ?? c);
  if (runtime.ctr_stop_timeout < MIN_CTR_STOP_TIMEOUT) {
    warnings.push(
      `crio.runtime.ctr_stop_timeout: ${runtime.ctr_stop_timeout} is below the minimum, using ${MIN_CTR_STOP_TIMEOUT}`,
    );
    runtime.ctr_stop_timeout = MIN_CTR_STOP_TIMEOUT;
  }
  if (image.insecure_registries.length > 0) {
    warnings.push(
      'crio.image.insecure_registries: deprecated and has no effect; mark registries insecure in registries.conf',
    );
  }
  warnings.push(...selectCollectors(config.metrics.metrics_collectors).warnings);
  if ((config.metrics.metrics_cert === '') !== (config.metrics.metrics_key === '')) {
    warnings.push('crio.metrics: metrics_cert and metrics_key work only together; serving plain HTTP');
  }
  const unsupported: Array<[string, boolean]> = [
    ['crio.tracing.enable_tracing', config.tracing.enable_tracing],
    ['crio.nri.enable_nri', config.nri.enable_nri],
  ];
  for (const [key, enabled] of unsupported) {
    if (enabled) warnings.push(`${key}: unsupported by crio-ts, ignored`);
  }
  return warnings;
}
