import { promises as fs } from 'node:fs';
import { FailedPreconditionError } from '../errors';
import { quote } from '../quote';

/**
 * Checks CRI-O makes before a propagating bind mount: HOST_TO_CONTAINER (`rslave`) only receives
 * mounts if the source lies on a shared or slave mount, BIDIRECTIONAL (`rshared`) only works on a
 * shared one. Without the check the container silently sees nothing.
 */

/** The mount a path lives on, with its propagation flags. */
export interface MountPropagationInfo {
  mountPoint: string;
  shared: boolean;
  slave: boolean;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

function contains(mountPoint: string, p: string): boolean {
  return mountPoint === '/' || p === mountPoint || p.startsWith(mountPoint + '/');
}

/** The mount holding `p` (longest mount point; the later of stacked mounts) in a mountinfo text. */
export function mountOf(mountinfo: string, p: string): MountPropagationInfo | undefined {
  let best: MountPropagationInfo | undefined;
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const mountPoint = fields[4];
    if (sep < 0 || mountPoint === undefined) continue;
    const point = unescape(mountPoint);
    if (!contains(point, p)) continue;
    if (best !== undefined && point.length < best.mountPoint.length) continue;
    const optional = fields.slice(6, sep);
    best = { mountPoint: point, shared: optional.some((o) => o.startsWith('shared:')), slave: optional.some((o) => o.startsWith('master:')) };
  }
  return best;
}

/** Throws FailedPreconditionError unless `hostPath` can propagate as the CRI mount asks. */
export async function checkPropagation(hostPath: string, propagation: 'private' | 'rslave' | 'rshared'): Promise<void> {
  if (propagation === 'private') return;
  const m = mountOf(await fs.readFile('/proc/self/mountinfo', 'utf8'), hostPath);
  if (m === undefined) return;
  if (propagation === 'rshared' && !m.shared) {
    throw new FailedPreconditionError(
      `path ${quote(hostPath)} is mounted on ${quote(m.mountPoint)} but it is not a shared mount (needed for Bidirectional propagation)`,
    );
  }
  if (propagation === 'rslave' && !m.shared && !m.slave) {
    throw new FailedPreconditionError(
      `path ${quote(hostPath)} is mounted on ${quote(m.mountPoint)} but it is not a shared or slave mount (needed for HostToContainer propagation)`,
    );
  }
}
