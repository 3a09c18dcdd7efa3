import { InvalidArgumentError, NotFoundError } from '../errors';
import { isClaimed, type ContainerRecord, type SandboxRecord } from '../state/records';
import type { ServerDeps } from './deps';
import { quote } from '../quote';

/**
 * The container with this ID or unique ID prefix; NotFoundError otherwise, also for a container
 * whose create the caller gave up on and no retry has claimed yet (CRI-O: "not yet created").
 */
export function findContainer(deps: ServerDeps, idOrPrefix: string): ContainerRecord {
  if (idOrPrefix === '') throw new InvalidArgumentError('container ID is empty');
  const id = deps.containers.resolveId(idOrPrefix);
  if (id === undefined) throw new NotFoundError(`container ${quote(idOrPrefix)} not found`);
  const record = deps.containers.get(id);
  if (!isClaimed(record)) throw new NotFoundError(`container ${quote(idOrPrefix)} not found: its create is not finished (the caller's deadline passed; retry the identical request)`);
  return record;
}

/** The pod sandbox with this ID or unique ID prefix; NotFoundError otherwise. */
export function findSandbox(deps: ServerDeps, idOrPrefix: string): SandboxRecord {
  if (idOrPrefix === '') throw new InvalidArgumentError('pod sandbox ID is empty');
  const id = deps.sandboxes.resolveId(idOrPrefix);
  if (id === undefined) throw new NotFoundError(`pod sandbox ${quote(idOrPrefix)} not found`);
  return deps.sandboxes.get(id);
}
