import { InternalError } from '../errors';
import { runProgram, stderrTail } from '../process';

/** syncfs(2) of the filesystem holding `p`, through coreutils `sync -f`: Node has no syncfs, and one call beats an fsync per file. */
export async function syncFilesystem(p: string): Promise<void> {
  const res = await runProgram('sync', ['-f', p], { timeoutMs: 600_000 });
  if (res.exitCode !== 0) throw new InternalError(`sync -f ${p} failed: ${stderrTail(res)}`);
}
