import type { VersionRequest, VersionResponse } from '../cri/gen/api';
import type { OpContext } from '../context';

/** The daemon's own version, printed by `crio version` too. */
export const CRIO_TS_VERSION = '0.1.0';

/** Version: runtime name and versions (crictl calls it before every command). */
export async function version(_ctx: OpContext, _req: VersionRequest): Promise<VersionResponse> {
  return {
    // The kubelet-facing API version string CRI-O returns.
    version: '0.1.0',
    // CRI-O's name: the kubelet prefixes container IDs with it (`cri-o://<id>`), and
    // kube-state-metrics series, dashboards and log shippers key on that prefix. The version
    // below says which implementation answers.
    runtimeName: 'cri-o',
    runtimeVersion: CRIO_TS_VERSION,
    runtimeApiVersion: 'v1',
  };
}
