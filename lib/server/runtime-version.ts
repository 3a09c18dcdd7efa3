import type { VersionRequest, VersionResponse } from '../cri/gen/api';
import type { OpContext } from '../context';

/** The daemon's own version, printed by `crio version` too. */
export const CRIO_TS_VERSION = '0.1.0';

/** Version: runtime name and versions (crictl calls it before every command). */
export async function version(_ctx: OpContext, _req: VersionRequest): Promise<VersionResponse> {
  return {
    // The kubelet-facing API version string CRI-O returns.
    version: '0.1.0',
    runtimeName: 'crio-ts',
    runtimeVersion: CRIO_TS_VERSION,
    runtimeApiVersion: 'v1',
  };
}
