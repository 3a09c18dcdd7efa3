import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { IdMapping, IdMappings } from '../idmap';
import { RecordFile } from './record-file';
import { removeTree } from './remove-tree';
import type { IdMapEntry, StoredContainer, StoredMount } from './store-records';

export type { StoredContainer, StoredMount } from './store-records';

/**
 * containers/storage's container store and mount records: `<graphroot>/overlay-containers/
 * containers.json` and `volatile-containers.json` (Volatile containers, no fsync; both under
 * containers.lock) with each container's `<id>/userdata` directory under the
 * graph root and the run root, and `<runroot>/overlay-layers/mountpoints.json`
 * (mountpoints.lock), the mount reference counts of layers, shared by every process using the
 * store and reset with the tmpfs at reboot.
 */

/** CRI-O's RuntimeContainerMetadata, the JSON CRI-O keeps in a container's `metadata`. */
export interface CrioMetadata {
  'pod-name': string;
  'pod-id': string;
  'image-name': string;
  'image-id': string;
  name: string;
  'metadata-name': string;
  uid?: string;
  namespace?: string;
  mountlabel?: string;
  'created-at': number;
  attempt?: number;
  pod?: boolean;
  privileged?: boolean;
}

/** The CRI-O metadata of a container, or undefined for containers others made (podman, buildah). */
export function crioMetadataOf(c: StoredContainer): CrioMetadata | undefined {
  if (!c.metadata) return undefined;
  try {
    const m = JSON.parse(c.metadata) as Partial<CrioMetadata>;
    // CRI-O's IsCrioContainer: a pod name and a pod ID.
    return typeof m['pod-name'] === 'string' && m['pod-name'] !== '' && typeof m['pod-id'] === 'string' && m['pod-id'] !== '' ? (m as CrioMetadata) : undefined;
  } catch {
    return undefined;
  }
}

/** Our id maps as c/storage stores them. */
export function toStoredMap(map: readonly IdMapping[]): IdMapEntry[] {
  return map.map((m) => ({ container_id: m.containerId, host_id: m.hostId, size: m.length }));
}

/** A stored container's id maps, if it has any. */
export function idMappingsOf(c: StoredContainer): IdMappings | undefined {
  if (!c.uidmap?.length || !c.gidmap?.length) return undefined;
  const conv = (m: IdMapEntry[]): IdMapping[] => m.map((e) => ({ containerId: e.container_id, hostId: e.host_id, length: e.size }));
  return { uids: conv(c.uidmap), gids: conv(c.gidmap) };
}

/** The container store of one graph root / run root. */
export class ContainerRecords {
  readonly file: RecordFile<StoredContainer>;
  readonly mounts: RecordFile<StoredMount>;
  readonly graphDir: string;
  readonly runDir: string;

  constructor(graphRoot: string, runRoot: string) {
    this.graphDir = path.join(path.resolve(graphRoot), 'overlay-containers');
    this.runDir = path.join(path.resolve(runRoot), 'overlay-containers');
    this.file = new RecordFile(path.join(this.graphDir, 'containers.json'), path.join(this.graphDir, 'containers.lock'), {
      volatileFile: path.join(this.graphDir, 'volatile-containers.json'),
    });
    const layersRun = path.join(path.resolve(runRoot), 'overlay-layers');
    // On tmpfs, rebuilt after a reboot: no fsync (c/storage does not sync it either).
    this.mounts = new RecordFile(path.join(layersRun, 'mountpoints.json'), path.join(layersRun, 'mountpoints.lock'), { durable: false });
  }

  async init(): Promise<void> {
    for (const d of [this.graphDir, this.runDir, path.dirname(this.mounts.file)]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
  }

  /** Creates the container's `userdata` directories (ContainerDirectory / ContainerRunDirectory). */
  async makeDirs(id: string): Promise<void> {
    for (const d of [this.graphDir, this.runDir]) await fs.mkdir(path.join(d, id, 'userdata'), { recursive: true, mode: 0o700 });
  }

  /** Removes the container's directories; missing is fine. */
  async removeDirs(id: string): Promise<void> {
    for (const d of [this.graphDir, this.runDir]) await removeTree(path.join(d, id));
  }
}
