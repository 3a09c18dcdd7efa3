import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { errnoCode } from '../errors';
import { pathExists } from '../fsutil';
import type { Logger } from '../log';

/**
 * The short `l/<name>` links of the layer store (containers/storage's overlay driver): 26
 * characters of base32, each a symlink to `../<layer>/diff`, so that an overlay `lowerdir=`
 * of ~128 layers still fits in the one page mount(2) accepts.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const LEN = 26;
const SHORT = /^[A-Z2-7]{26}$/;

/** Whether `name` has the shape of a short link name (and so is safe to join to a path). */
export function isShortName(name: string): boolean {
  return SHORT.test(name);
}

/** A short name not yet used under `<root>/l`. */
export async function newShortName(root: string): Promise<string> {
  for (;;) {
    let name = '';
    for (const b of randomBytes(LEN)) name += ALPHABET[b & 31];
    if (!(await pathExists(path.join(root, 'l', name)))) return name;
  }
}

/** Recreates a complete layer's `l/` link if it went missing. */
export async function repairLink(root: string, hex: string, log: Logger): Promise<void> {
  const short = (await fs.readFile(path.join(root, hex, 'link'), 'utf8').catch(() => '')).trim();
  if (!isShortName(short) || (await pathExists(path.join(root, 'l', short)))) return;
  log.warn('recreating missing layer link', { chainId: `sha256:${hex}`, link: short });
  await fs.symlink(`../${hex}/diff`, path.join(root, 'l', short));
}

/** Removes links whose layer is gone. */
export async function removeDanglingLinks(root: string, log: Logger): Promise<void> {
  const links = path.join(root, 'l');
  for (const name of await fs.readdir(links)) {
    const link = path.join(links, name);
    if (!(await targetExists(link))) {
      log.info('removing dangling layer link', { link });
      await fs.rm(link, { force: true });
    }
  }
}

/** Whether a symlink's target exists (stat follows it). */
async function targetExists(link: string): Promise<boolean> {
  try {
    await fs.stat(link);
    return true;
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR' || errnoCode(err) === 'ELOOP') return false;
    throw err;
  }
}
