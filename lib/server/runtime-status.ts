import type { StatusRequest, StatusResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';

/** Whether the handler's runtime can make mounts recursively read-only (runc lists `rro`). */
async function supportsRro(deps: ServerDeps, handler: string): Promise<boolean> {
  try {
    return await deps.runtimeFor(handler).supportsRecursiveReadOnly();
  } catch {
    return false; // an unusable handler supports nothing
  }
}

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
    runtimeHandlers: await Promise.all(
      ['', ...handlers].map(async (name) => ({
        name,
        features: { recursiveReadOnlyMounts: await supportsRro(deps, name), userNamespaces: deps.host.userNamespaces },
      })),
    ),
    // SupplementalGroupsPolicy Strict is honoured (groups not merged from the image's /etc/group).
    features: { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false, mountOptions: false },
  };
}
