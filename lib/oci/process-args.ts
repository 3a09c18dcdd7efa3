import { InvalidArgumentError } from '../errors';
import type { UserDb } from './passwd';

/** Pure merge rules that decide the container process before the spec is generated. */

/** Input of resolveProcessArgs: image config Entrypoint/Cmd and CRI ContainerConfig command/args. */
export interface ProcessArgsInput {
  imageEntrypoint?: readonly string[];
  imageCmd?: readonly string[];
  command?: readonly string[];
  args?: readonly string[];
}

/**
 * The container's argv by kubelet/Docker rules (CRI-O `buildOCIProcessArgs`): CRI command replaces
 * the entrypoint and drops the image Cmd; CRI args alone replace only the Cmd; neither keeps both.
 */
export function resolveProcessArgs(input: ProcessArgsInput): string[] {
  const command = input.command ?? [];
  const args = input.args ?? [];
  const argv = command.length > 0 ? [...command, ...args] : [...(input.imageEntrypoint ?? []), ...(args.length > 0 ? args : input.imageCmd ?? [])];
  if (argv.length === 0) throw new InvalidArgumentError('no command specified');
  return argv;
}

const envKey = (entry: string): string => {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
};

/** Env layers of a container, lowest precedence first. */
export interface EnvLayers {
  /** crio.conf `default_env` ("KEY=VAL"). */
  defaults: readonly string[];
  /** Image config Env. */
  image: readonly string[];
  /** CRI `envs`, as "KEY=VAL". */
  cri: readonly string[];
}

/**
 * Merges env layers: a later layer overrides an earlier one by key (CRI over image over
 * `default_env`), and each key keeps the position where it first appeared so output order is stable.
 */
export function mergeEnv(layers: EnvLayers): string[] {
  const values = new Map<string, string>();
  for (const entry of [...layers.defaults, ...layers.image, ...layers.cri]) {
    const key = envKey(entry);
    if (key === '') throw new InvalidArgumentError(`environment entry "${entry}" has an empty name`);
    values.set(key, entry); // Map.set on an existing key keeps the original insertion position.
  }
  return [...values.values()];
}

/** Input of resolveUser (CRI security context + image `User` + the rootfs's user database). */
export interface UserInput {
  runAsUser?: number;
  /** CRI `run_as_username`; empty string = unset. */
  runAsUsername?: string;
  runAsGroup?: number;
  /** Image config `User`: "", "uid", "uid:gid", "name", "name:group". */
  imageUser?: string;
  supplementalGroups?: readonly number[];
  /** CRI SupplementalGroupsPolicy: Merge (default) adds the image's group memberships. */
  supplementalGroupsPolicy?: 'merge' | 'strict';
  /** /etc/passwd and /etc/group of the rootfs (readUserDb); needed only for names and memberships. */
  userDb?: UserDb;
}

/** The process identity for the spec. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Primary gid first, then group memberships (Merge), then CRI supplemental groups; no duplicates. */
  additionalGids: number[];
  /** From /etc/passwd when the user has an entry. */
  username?: string;
  /** Home directory from /etc/passwd, else "/" (CRI-O's fallback for HOME). */
  home: string;
}

const MAX_ID = 0xfffffffe;

function numericId(text: string): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (n > MAX_ID) throw new InvalidArgumentError(`id ${text} is out of range`);
  return n;
}

function checkId(what: string, n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > MAX_ID) throw new InvalidArgumentError(`${what} ${n} is out of range`);
  return n;
}

/**
 * Resolves uid/gid/groups the way CRI-O does (run_as_user > run_as_username > image User, resolved
 * against the rootfs's /etc/passwd and /etc/group; run_as_group overrides the primary gid).
 */
export function resolveUser(input: UserInput): ResolvedUser {
  const username = input.runAsUsername ?? '';
  if (input.runAsGroup !== undefined && input.runAsUser === undefined && username === '') {
    throw new InvalidArgumentError('user group is specified without user or username');
  }
  const userString = input.runAsUser !== undefined ? String(checkId('run_as_user', input.runAsUser)) : username !== '' ? username : (input.imageUser ?? '');
  const colon = userString.indexOf(':');
  const userPart = colon < 0 ? userString : userString.slice(0, colon);
  const groupPart = colon < 0 ? undefined : userString.slice(colon + 1);
  const db = input.userDb ?? { users: [], groups: [] };
  const needsDb = (part: string): void => {
    if (input.userDb === undefined) throw new InvalidArgumentError(`cannot resolve "${part}" without the container's /etc/passwd`);
  };

  let uid = 0;
  let gid = 0;
  let name: string | undefined;
  let home = '/';
  const numericUser = userPart === '' ? 0 : numericId(userPart);
  if (numericUser === undefined) needsDb(userPart);
  const entry = numericUser === undefined ? db.users.find((u) => u.name === userPart) : db.users.find((u) => u.uid === numericUser);
  if (entry === undefined && numericUser === undefined) throw new InvalidArgumentError(`unable to find user ${userPart}: no matching entries in passwd file`);
  if (entry !== undefined) {
    ({ uid, gid, name } = entry);
    home = entry.home || '/';
  } else {
    uid = numericUser ?? 0;
  }

  if (groupPart !== undefined && groupPart !== '') {
    const numericGroup = numericId(groupPart);
    if (numericGroup === undefined) {
      needsDb(groupPart);
      const group = db.groups.find((g) => g.name === groupPart);
      if (group === undefined) throw new InvalidArgumentError(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = group.gid;
    } else {
      gid = numericGroup;
    }
  }
  if (input.runAsGroup !== undefined) gid = checkId('run_as_group', input.runAsGroup);

  // An explicit group in the user string replaces the membership lookup (libcontainer GetExecUser).
  const memberships = groupPart === undefined && name !== undefined ? db.groups.filter((g) => g.members.includes(name as string)).map((g) => g.gid) : [];
  const merged = input.supplementalGroupsPolicy === 'strict' ? [] : memberships;
  const supplemental = (input.supplementalGroups ?? []).map((g) => checkId('supplemental group', g));
  const additionalGids = [...new Set([gid, ...merged, ...supplemental])];
  return { uid, gid, additionalGids, ...(name === undefined ? {} : { username: name }), home };
}

/**
 * Keeps an OOM score adjustment in the kernel's range and, when the daemon lacks CAP_SYS_RESOURCE
 * (`canLower` false), raises a negative value to 0: runc would otherwise fail the create with EACCES.
 */
export function clampOomScoreAdj(value: number, canLower: boolean): { value: number; warning?: string } {
  const ranged = Math.max(-1000, Math.min(1000, Math.trunc(value)));
  if (ranged < 0 && !canLower) {
    return { value: 0, warning: `oom_score_adj ${value} needs CAP_SYS_RESOURCE, which the runtime lacks; using 0` };
  }
  if (ranged !== value) return { value: ranged, warning: `oom_score_adj ${value} is outside [-1000, 1000]; using ${ranged}` };
  return { value: ranged };
}
