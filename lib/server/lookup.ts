import { InvalidArgumentError, NotFoundError } from '../errors';
import type { ContainerRecord, SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';
import { quote } from '../quote';

/** The container with this ID or unique ID prefix; NotFoundError otherwise. */
export function findContainer(deps: ServerDeps, idOrPrefix: string): ContainerRecord {
  if (idOrPrefix === '') throw new InvalidArgumentError('container ID is empty');
  const id = deps.containers.resolveId(idOrPrefix);
  if (id === undefined) throw new NotFoundError(`container ${quote(idOrPrefix)} not found`);
  return deps.containers.get(id);
}

/** The pod sandbox with this ID or unique ID prefix; NotFoundError otherwise. */
export function findSandbox(deps: ServerDeps, idOrPrefix: string): SandboxRecord {
  if (idOrPrefix === '') throw new InvalidArgumentError('pod sandbox ID is empty');
  const id = deps.sandboxes.resolveId(idOrPrefix);
  if (id === undefined) throw new NotFoundError(`pod sandbox ${quote(idOrPrefix)} not found`);
  return deps.sandboxes.get(id);
}
