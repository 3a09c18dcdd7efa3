import { readFileSync } from 'node:fs';

/** stdout and stderr of a CRI (k8s-file format) container log, partial lines joined. No side effects. */
export function criLogText(file: string): string {
  let out = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^\S+ (?:stdout|stderr) ([FP]) (.*)$/.exec(line);
    if (m) out += m[2] + (m[1] === 'F' ? '\n' : '');
  }
  return out;
}
