import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathExists, writeFileAtomic } from '../fsutil';

/**
 * What happened to the node since the daemon last ran, read from CRI-O's two marker files
 * before anything rewrites them:
 * - `version_file` lives on the runroot tmpfs: missing means the node rebooted (or this is the
 *   first start), so every container and pod is gone and their state must be dropped;
 * - `clean_shutdown_file` is written at a clean stop and removed at start: missing means the
 *   daemon (or the node) died. As in CRI-O this only counts once `<file>.supported` exists,
 *   so the first start of a new installation is not mistaken for a crash.
 */

/** The start-up verdict. */
export interface NodeEvents {
  rebooted: boolean;
  uncleanShutdown: boolean;
}

/** Reads the markers; call before the daemon writes either of them. */
export async function detectNodeEvents(versionFile: string, cleanShutdownFile: string): Promise<NodeEvents> {
  const rebooted = !(await pathExists(versionFile));
  const uncleanShutdown = !(await pathExists(cleanShutdownFile)) && (await pathExists(`${cleanShutdownFile}.supported`));
  return { rebooted, uncleanShutdown };
}

/** Records that this daemon writes clean-shutdown markers, so a missing one means a crash from now on. */
export async function markCleanShutdownSupported(cleanShutdownFile: string): Promise<void> {
  await fs.mkdir(path.dirname(cleanShutdownFile), { recursive: true });
  await writeFileAtomic(`${cleanShutdownFile}.supported`, '');
}
