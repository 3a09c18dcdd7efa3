import { promises as fs } from 'node:fs';
import { readKernelFile } from '../procfs';

/**
 * The number of zombie processes on the node (CRI-O's processes_defunct): processes whose
 * /proc/<pid>/stat state is `Z`. A process that exits while being read is skipped.
 */
export async function countDefunctProcesses(proc = '/proc'): Promise<number> {
  const names = await fs.readdir(proc);
  let count = 0;
  await Promise.all(
    names
      .filter((n) => /^\d+$/.test(n))
      .map(async (pid) => {
        const stat = await readKernelFile(`${proc}/${pid}/stat`).catch(() => '');
        // The command name is in parentheses and may itself hold ") "; the state follows the last ')'.
        if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') count++;
      }),
  );
  return count;
}
