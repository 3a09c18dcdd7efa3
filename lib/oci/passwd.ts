import { constants as fsConstants, promises as fs } from 'node:fs';
import { InvalidArgumentError, errnoCode } from '../errors';
import { secureJoin } from './secure-join';

/**
 * /etc/passwd and /etc/group of a container rootfs. The rootfs comes from an untrusted image, so every
 * path is resolved inside it (symlinks cannot point out) and the final open refuses symlinks and
 * non-regular files; sizes are capped.
 */

/** One /etc/passwd line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** One /etc/group line. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The user database of a rootfs; both lists empty when the files are absent. */
export interface UserDb {
  users: PasswdEntry[];
  groups: GroupEntry[];
}

const MAX_DB_FILE_BYTES = 4 * 1024 * 1024;

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 0xfffffffe ? n : undefined;
}

/** Parses /etc/passwd text; malformed lines are skipped like libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [name, , uidText, gidText, , home, shell] = line.split(':');
    const uid = parseId(uidText);
    const gid = parseId(gidText);
    if (!name || uid === undefined || gid === undefined) continue;
    out.push({ name, uid, gid, home: home ?? '', shell: shell ?? '' });
  }
  return out;
}

/** Parses /etc/group text; malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [name, , gidText, members] = line.split(':');
    const gid = parseId(gidText);
    if (!name || gid === undefined) continue;
    out.push({ name, gid, members: (members ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

/** Reads a file of the rootfs safely; undefined when it (or a directory on the way) does not exist. */
async function readRootfsFile(rootfs: string, file: string): Promise<string | undefined> {
  const resolved = await secureJoin(rootfs, file);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(resolved, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new InvalidArgumentError(`${file} in rootfs ${rootfs} is a symlink`, { cause: err });
    throw err;
  }
  try {
    const st = await fh.stat();
    // A FIFO or device here would hang or feed garbage; an image has no business doing that.
    if (!st.isFile()) throw new InvalidArgumentError(`${file} in rootfs ${rootfs} is not a regular file`);
    if (st.size > MAX_DB_FILE_BYTES) throw new InvalidArgumentError(`${file} in rootfs ${rootfs} is larger than ${MAX_DB_FILE_BYTES} bytes`);
    return await fh.readFile('utf8');
  } finally {
    await fh.close();
  }
}

/** Loads /etc/passwd and /etc/group of a rootfs. */
export async function readUserDb(rootfs: string): Promise<UserDb> {
  const [passwd, group] = await Promise.all([readRootfsFile(rootfs, '/etc/passwd'), readRootfsFile(rootfs, '/etc/group')]);
  return { users: passwd === undefined ? [] : parsePasswd(passwd), groups: group === undefined ? [] : parseGroup(group) };
}

/** Looks a user name up in <rootfs>/etc/passwd. */
export async function lookupUser(rootfs: string, name: string): Promise<PasswdEntry | undefined> {
  const db = await readUserDb(rootfs);
  return db.users.find((u) => u.name === name);
}
