import { promises as fs } from 'node:fs';
import path from 'node:path';
import { asError, errnoCode } from '../errors';
import { WatchedSource } from '../file-watch';
import type { Logger } from '../log';
import type { SpecMountInput } from './spec-input';

/**
 * Default mounts (containers-mounts.conf(5), CRI-O's subscription mounts): each `/SRC:/DST` line
 * of the mounts file puts host data (subscription certificates, secrets) into every container.
 * The file is crio.conf `default_mounts_file`, else the first of /etc/containers/mounts.conf and
 * /usr/share/containers/mounts.conf that exists; it is read at start and when it changes.
 *
 * CRI-O copies the data into each container's run directory; crio-ts binds it read-only, which
 * costs nothing per container and keeps renewed certificates current, and copies it (owned by
 * the pod's root) only for pods with a user namespace, where the host's root-owned files would
 * appear as the overflow id.
 */

/** crio.conf `default_mounts_file` empty: these, first existing wins (CRI-O's override, then default). */
export const MOUNTS_CONF_FILES: readonly string[] = ['/etc/containers/mounts.conf', '/usr/share/containers/mounts.conf'];

export interface DefaultMount {
  hostPath: string;
  containerPath: string;
}

/** Parses mounts.conf: lines starting with `/` are `SRC[:DST]`; anything else is skipped (and reported). */
export function parseMountsConf(text: string): { mounts: DefaultMount[]; skipped: string[] } {
  const mounts: DefaultMount[] = [];
  const skipped: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!line.startsWith('/')) {
      skipped.push(line);
      continue;
    }
    const i = line.indexOf(':');
    const hostPath = i < 0 ? line : line.slice(0, i);
    const containerPath = i < 0 ? line : line.slice(i + 1);
    if (!path.posix.isAbsolute(containerPath)) {
      skipped.push(line);
      continue;
    }
    mounts.push({ hostPath, containerPath: path.posix.normalize(containerPath) });
  }
  return { mounts, skipped };
}

export interface LoadedDefaultMounts {
  /** The mounts file in use; undefined when none exists. */
  file?: string;
  mounts: DefaultMount[];
}

/** Reads the first existing file of `candidates`. */
export async function loadDefaultMounts(candidates: readonly string[], log: Logger): Promise<LoadedDefaultMounts> {
  for (const file of candidates) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') continue;
      // As CRI-O: an unreadable mounts file gives no default mounts rather than no daemon.
      log.warn('mounts file unreadable; no default mounts', { file, err: asError(err).message });
      return { file, mounts: [] };
    }
    const { mounts, skipped } = parseMountsConf(text);
    for (const line of skipped) log.warn('mounts.conf line skipped: want /SRC:/DST with absolute paths', { file, line });
    return { file, mounts };
  }
  return { mounts: [] };
}

/** The default mounts of `file` (crio.conf default_mounts_file; '' = MOUNTS_CONF_FILES), kept current by watching it. */
export function watchDefaultMounts(file: string, log: Logger): Promise<WatchedSource<LoadedDefaultMounts>> {
  const candidates = file === '' ? MOUNTS_CONF_FILES : [file];
  return WatchedSource.start({
    what: 'default mounts',
    targets: () => candidates.map((p) => ({ path: p, kind: 'file' as const })),
    load: async () => {
      const loaded = await loadDefaultMounts(candidates, log);
      if (loaded.file !== undefined) log.info('default mounts loaded', { file: loaded.file, mounts: loaded.mounts.map((m) => `${m.hostPath}:${m.containerPath}`).join(', ') });
      return loaded;
    },
    log,
  });
}

async function chownTree(p: string, uid: number, gid: number): Promise<void> {
  await fs.lchown(p, uid, gid);
  const st = await fs.lstat(p);
  if (!st.isDirectory()) return;
  for (const name of await fs.readdir(p)) await chownTree(path.join(p, name), uid, gid);
}

/** Where a user-namespaced container's copies go, and whom they belong to on the host. */
export interface DefaultMountCopy {
  dir: string;
  uid: number;
  gid: number;
}

/**
 * The container's default mounts: read-only binds of the sources that exist now (a missing one
 * is skipped, as CRI-O does), or of copies under `copy.dir` owned by the pod's root.
 */
export async function defaultMountInputs(mounts: readonly DefaultMount[], copy: DefaultMountCopy | undefined): Promise<{ inputs: SpecMountInput[]; warnings: string[] }> {
  const inputs: SpecMountInput[] = [];
  const warnings: string[] = [];
  for (const m of mounts) {
    const st = await fs.stat(m.hostPath).catch((err: unknown) => {
      if (errnoCode(err) !== 'ENOENT') warnings.push(`default mount source ${m.hostPath} skipped: ${asError(err).message}`);
      return undefined;
    });
    if (!st) continue;
    if (!st.isDirectory() && !st.isFile()) {
      warnings.push(`default mount source ${m.hostPath} skipped: not a file or directory`);
      continue;
    }
    let hostPath = m.hostPath;
    if (copy) {
      hostPath = path.join(copy.dir, m.containerPath);
      await fs.cp(m.hostPath, hostPath, { recursive: true, dereference: true, force: true });
      await chownTree(hostPath, copy.uid, copy.gid);
    }
    inputs.push({ containerPath: m.containerPath, hostPath, readonly: true, propagation: 'private' });
  }
  return { inputs, warnings };
}
