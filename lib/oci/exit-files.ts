import { watch, promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, errnoCode } from '../errors';
import type { Logger } from '../log';

/**
 * conmon's exit files: `<exitsDir>/<containerId>` holds the exit code (128+n for a signal) and is
 * created with an atomic rename once the container has been reaped; its mtime is the finish time.
 */

/** The recorded end of a container. */
export interface ExitInfo {
  exitCode: number;
  finishedAt: Date;
}

/** Reads `<exitsDir>/<id>`; undefined while the container has not exited (or conmon died first). */
export async function readExitFile(exitsDir: string, containerId: string): Promise<ExitInfo | undefined> {
  const file = path.join(exitsDir, containerId);
  let text: string;
  let mtime: Date;
  try {
    [text, mtime] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file).then((s) => s.mtime)]);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const exitCode = Number.parseInt(text.trim(), 10);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isInteger(exitCode)) throw new InternalError(`exit file ${file} holds "${text.slice(0, 40)}", not an exit code`);
  return { exitCode, finishedAt: mtime };
}

/** True for names conmon's g_file_set_contents uses for its temp file (`<id>.XXXXXX`) or other non-ID names. */
function isExitFileName(name: string): boolean {
  return name !== '' && !name.includes('.') && !name.includes('/');
}

/**
 * Calls `onExit(id)` when an exit file appears in `exitsDir` (fs.watch, i.e. inotify; the watch keeps
 * the event loop alive until unsubscribed). Callers should still reconcile at start-up, since exits
 * during a daemon restart produce no event, and treat duplicate notifications as harmless.
 * Returns the unsubscribe function.
 */
export function watchExitFiles(exitsDir: string, onExit: (containerId: string) => void, log: Logger): () => void {
  const seen = new Map<string, number>();
  const watcher = watch(exitsDir, (_event, filename) => {
    const name = filename?.toString();
    if (name === undefined || !isExitFileName(name)) return;
    fs.stat(path.join(exitsDir, name)).then(
      (st) => {
        if (seen.get(name) === st.mtimeMs) return; // one rename fires several events
        seen.set(name, st.mtimeMs);
        onExit(name);
      },
      (err: unknown) => {
        if (errnoCode(err) === 'ENOENT') seen.delete(name); // removed: forget it so a re-create is reported
        else log.warn('exit file stat failed', { containerId: name, err: err instanceof Error ? err.message : String(err) });
      },
    );
  });
  watcher.on('error', (err) => log.warn('exit directory watch failed', { err: err.message }));
  return () => watcher.close();
}
