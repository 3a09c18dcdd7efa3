import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';
import type { Logger } from '../log';
import { killExecProcess, readPidFile } from './pids';

/**
 * Execs the daemon was running when it died. Their callers (probes, `kubectl exec`) are gone
 * with the daemon, and nobody would enforce a probe's timeout any more, so at the next start
 * each one still running in its container is killed and its temporary files removed. A PID is
 * only killed when it is still in the container's mount namespace: a PID reused by another
 * process since the crash is left alone.
 */

/** The exec files of one container dir: `exec-<token>.pid` (ExecSync) and `exec-<token>/pid` (streaming). */
async function execPidFiles(workDir: string): Promise<{ pidFile: string; remove: string[] }[]> {
  let names: string[];
  try {
    names = await fs.readdir(workDir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: { pidFile: string; remove: string[] }[] = [];
  for (const name of names) {
    const m = /^exec-([0-9a-f]+)(\.pid)?$/.exec(name);
    if (!m) continue;
    if (m[2]) {
      const base = path.join(workDir, `exec-${m[1] ?? ''}`);
      out.push({ pidFile: path.join(workDir, name), remove: [`${base}.pid`, `${base}.json`, `${base}.log`] });
    } else {
      out.push({ pidFile: path.join(workDir, name, 'pid'), remove: [path.join(workDir, name)] });
    }
  }
  return out;
}

async function mountNamespace(pid: number): Promise<string | undefined> {
  return fs.readlink(`/proc/${pid}/ns/mnt`).catch(() => undefined);
}

/** Kills the leftover execs of a running container (init `initPid`); returns how many were killed. */
export async function reapOrphanedExecs(workDir: string, initPid: number, log: Logger): Promise<number> {
  const containerNs = await mountNamespace(initPid);
  let killed = 0;
  for (const exec of await execPidFiles(workDir)) {
    const pid = await readPidFile(exec.pidFile).catch(() => undefined);
    if (containerNs !== undefined && pid !== undefined && pid !== initPid && (await mountNamespace(pid)) === containerNs) {
      await killExecProcess(exec.pidFile);
      killed++;
      log.info('orphaned exec killed', { pid });
    }
    await Promise.all(exec.remove.map((f) => fs.rm(f, { recursive: true, force: true })));
  }
  return killed;
}
