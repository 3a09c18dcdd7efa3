import type { CniNetwork, CniPluginConfig } from './cni-config';

/**
 * The pure half of driving CNI plugins: what goes into CNI_ARGS and a plugin's stdin, and
 * what comes out of a result. Mirrors libcni's buildOneConfig/injectRuntimeConfig and ocicni.
 */

/** The Kubernetes identity of a pod, passed to plugins in CNI_ARGS. */
export interface CniPodInfo {
  podSandboxId: string;
  name: string;
  namespace: string;
  uid: string;
}

/** A hostPort mapping in the CNI `portMappings` capability format. */
export interface CniPortMapping {
  hostPort: number;
  containerPort: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  hostIP?: string;
}

/** The `bandwidth` capability (bits per second / bits). */
export interface CniBandwidth {
  ingressRate?: number;
  ingressBurst?: number;
  egressRate?: number;
  egressBurst?: number;
}

/** Runtime-supplied values; each reaches only plugins that declare the matching capability. */
export interface CniRuntimeConfig {
  portMappings?: CniPortMapping[];
  bandwidth?: CniBandwidth;
  ips?: string[];
}

/** An IP entry of a CNI result (0.3.0 and later). */
export interface CniResultIp {
  address: string;
  gateway?: string;
  interface?: number;
  version?: string;
}

/** An interface entry of a CNI result. */
export interface CniResultInterface {
  name: string;
  mac?: string;
  sandbox?: string;
}

/** A CNI ADD result; unknown fields are carried through to the next plugin untouched. */
export interface CniResult {
  cniVersion?: string;
  interfaces?: CniResultInterface[];
  ips?: CniResultIp[];
  [key: string]: unknown;
}

/** CNI_ARGS as ocicni builds it; IgnoreUnknown lets plugins skip keys they do not know. */
export function buildCniArgs(pod: CniPodInfo): string {
  return [
    'IgnoreUnknown=1',
    `K8S_POD_NAMESPACE=${pod.namespace}`,
    `K8S_POD_NAME=${pod.name}`,
    `K8S_POD_INFRA_CONTAINER_ID=${pod.podSandboxId}`,
    `K8S_POD_UID=${pod.uid}`,
  ].join(';');
}

/** True when dotted version a >= b (missing parts count as 0). */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d > 0;
  }
  return true;
}

/** The runtimeConfig a plugin gets: only capabilities it declares true, only non-empty values. */
export function filterRuntimeConfig(plugin: CniPluginConfig, rc: CniRuntimeConfig): Record<string, unknown> | undefined {
  const caps = plugin.capabilities ?? {};
  const out: Record<string, unknown> = {};
  // Like ocicni, only mappings that actually claim a host port are passed on.
  const ports = (rc.portMappings ?? []).filter((p) => p.hostPort > 0);
  if (caps.portMappings === true && ports.length > 0) out.portMappings = ports;
  if (caps.bandwidth === true && rc.bandwidth && Object.keys(rc.bandwidth).length > 0) out.bandwidth = rc.bandwidth;
  if (caps.ips === true && rc.ips && rc.ips.length > 0) out.ips = rc.ips;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Plugins that only act on a runtime capability (portmap on `portMappings`, bandwidth on
 * `bandwidth`) do nothing for a pod that does not use it, but each exec costs ~20 ms of pod
 * start. They are left out of that pod's ADD, and — since the cache stores the list that ran —
 * out of its DEL too.
 */
const CAPABILITY_ONLY_PLUGINS: Readonly<Record<string, string>> = { portmap: 'portMappings', bandwidth: 'bandwidth' };

/** The plugins of a list that have work to do for this pod (see CAPABILITY_ONLY_PLUGINS). */
export function pluginsForPod(plugins: readonly CniPluginConfig[], rc: CniRuntimeConfig): CniPluginConfig[] {
  return plugins.filter((p) => {
    const capability = CAPABILITY_ONLY_PLUGINS[p.type];
    if (capability === undefined) return true;
    const passed = filterRuntimeConfig(p, rc);
    return passed !== undefined && capability in passed;
  });
}

/** The stdin document for one plugin of a list: its own config plus name, cniVersion, runtimeConfig and prevResult. */
export function buildPluginConfig(
  network: Pick<CniNetwork, 'name' | 'cniVersion'>,
  plugin: CniPluginConfig,
  rc: CniRuntimeConfig,
  prevResult?: CniResult,
): string {
  const conf: Record<string, unknown> = { ...plugin, name: network.name, cniVersion: network.cniVersion };
  delete conf.runtimeConfig;
  delete conf.prevResult;
  const runtimeConfig = filterRuntimeConfig(plugin, rc);
  if (runtimeConfig) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return JSON.stringify(conf);
}

/** Whether DEL gets the cached result: the CNI spec added that in 0.4.0, older plugins may reject it. */
export function delTakesPrevResult(cniVersion: string): boolean {
  return versionAtLeast(cniVersion, '0.4.0');
}

/**
 * The pod's IP addresses (without prefix length) from a result, in result order. IPs bound to
 * a host-side interface (no `sandbox`) are left out when the result says which is which.
 */
export function podIpsFromResult(result: CniResult | undefined): string[] {
  const ips = result?.ips ?? [];
  const ifaces = result?.interfaces ?? [];
  const out: string[] = [];
  for (const ip of ips) {
    if (typeof ip.address !== 'string') continue;
    if (typeof ip.interface === 'number') {
      const iface = ifaces[ip.interface];
      if (iface && !iface.sandbox) continue;
    }
    const addr = ip.address.split('/')[0];
    if (addr && !out.includes(addr)) out.push(addr);
  }
  return out;
}
