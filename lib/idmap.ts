/**
 * User namespace id maps as data (a leaf: storage, network and security all use them). Pure.
 */

/** One line of an id map: `length` ids from `containerId` inside map to `hostId` outside. */
export interface IdMapping {
  containerId: number;
  hostId: number;
  length: number;
}

/** The uid and gid maps of a user namespace. */
export interface IdMappings {
  uids: IdMapping[];
  gids: IdMapping[];
}

/** The host id behind a container id, or undefined when the id is not mapped. */
export function hostIdOf(map: readonly IdMapping[], containerId: number): number | undefined {
  for (const m of map) if (containerId >= m.containerId && containerId < m.containerId + m.length) return m.hostId + (containerId - m.containerId);
  return undefined;
}

/** The text written to /proc/<pid>/uid_map or gid_map. */
export function idMapText(map: readonly IdMapping[]): string {
  return map.map((m) => `${m.containerId} ${m.hostId} ${m.length}`).join('\n') + '\n';
}
