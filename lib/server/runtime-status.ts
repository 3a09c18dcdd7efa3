import type { StatusRequest, StatusResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';

/** Status: RuntimeReady and NetworkReady conditions, handlers, and (verbose) the effective config. */
export async function status(deps: ServerDeps, _ctx: OpContext, req: StatusRequest): Promise<StatusResponse> {
  const net = deps.cni.status();
  const info: Record<string, string> = {};
  if (req.verbose) info.config = JSON.stringify(deps.config);
  const handlers = Object.keys(deps.config.runtime.runtimes);
  return {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        {
          type: 'NetworkReady',
          status: net.ready,
          reason: net.ready ? '' : (net.reason ?? 'NetworkPluginNotReady'),
          message: net.ready ? '' : (net.message ?? 'no CNI configuration found'),
        },
      ],
    },
    info,
    // "" stands for the default handler, as CRI-O reports it.
    runtimeHandlers: ['', ...handlers].map((name) => ({
      name,
      features: { recursiveReadOnlyMounts: false, userNamespaces: false },
    })),
    features: { supplementalGroupsPolicy: false, userNamespacesHostNetwork: false, mountOptions: false },
  };
}
