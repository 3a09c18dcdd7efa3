import type { ListMetricDescriptorsRequest, ListMetricDescriptorsResponse } from '../cri/gen/api';
import type { OpContext } from '../context';
import type { ServerDeps } from './deps';
import { allMetricDescriptors } from './metric-descriptors';

/** ListMetricDescriptors: the metrics ListPodSandboxMetrics returns. */
export async function listMetricDescriptors(_deps: ServerDeps, _ctx: OpContext, _req: ListMetricDescriptorsRequest): Promise<ListMetricDescriptorsResponse> {
  return { descriptors: allMetricDescriptors() };
}
