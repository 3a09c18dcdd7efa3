import { parseQuantity } from '../quantity';
import type { CniBandwidth } from '../network/cni-request';
import type { ServerDeps } from './deps';
import { DEFAULT_SHM_SIZE } from './sandbox-shm';

/**
 * Pod settings that come from annotations: traffic shaping (the kubelet's
 * kubernetes.io/{ingress,egress}-bandwidth) and the /dev/shm size (CRI-O's shm-size.crio.io,
 * only where the runtime handler allows that annotation, as CRI-O does).
 */

const INGRESS = 'kubernetes.io/ingress-bandwidth';
const EGRESS = 'kubernetes.io/egress-bandwidth';
const SHM_SIZE_ANNOTATIONS = ['shm-size.crio.io', 'io.kubernetes.cri-o.ShmSize'];
/** CRI-O (ocicni) passes the largest 32-bit burst so only the rate limits. */
const BURST = 2 ** 31 - 1;

/** The CNI bandwidth capability for a pod, if it asked for shaping. */
export function podBandwidth(annotations: Record<string, string>): CniBandwidth | undefined {
  const out: CniBandwidth = {};
  const ingress = annotations[INGRESS];
  const egress = annotations[EGRESS];
  if (ingress) {
    out.ingressRate = parseQuantity(ingress, INGRESS);
    out.ingressBurst = BURST;
  }
  if (egress) {
    out.egressRate = parseQuantity(egress, EGRESS);
    out.egressBurst = BURST;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The pod's /dev/shm size in bytes. */
export function podShmSize(deps: ServerDeps, handler: string, annotations: Record<string, string>): number {
  const allowed = deps.config.runtime.runtimes[handler || deps.config.runtime.default_runtime]?.allowed_annotations ?? [];
  for (const key of SHM_SIZE_ANNOTATIONS) {
    const value = annotations[key];
    if (value && allowed.includes(key)) return parseQuantity(value, key);
  }
  return DEFAULT_SHM_SIZE;
}
