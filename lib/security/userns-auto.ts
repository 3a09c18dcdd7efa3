import { FailedPreconditionError, ResourceExhaustedError } from '../errors';

/**
 * Host id ranges for `userns-mode.crio.io: auto` pods, pure. As containers/storage does for
 * CRI-O, the ranges come from the `/etc/subuid` and `/etc/subgid` entries of the user
 * `containers`, and each pod gets a slice no other pod of this node uses (uids and gids share
 * the offset so that a file owned by uid n and gid n inside stays so outside).
 */

/** A half-open host id range [start, start + length). */
export interface IdRange {
  start: number;
  length: number;
}

/** The user whose subordinate ids crio-ts hands out (c/storage's root-auto-userns-user default). */
export const AUTO_USERNS_USER = 'containers';

/** Ranges of `user` in a subuid/subgid file (`name-or-uid:start:count` per line), sorted and merged. */
export function parseSubIds(text: string, user: { name: string; uid?: number }): IdRange[] {
  const out: IdRange[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [who, start, count] = line.split(':');
    if (who !== user.name && (user.uid === undefined || who !== String(user.uid))) continue;
    if (!/^[0-9]+$/.test(start ?? '') || !/^[0-9]+$/.test(count ?? '')) continue;
    const r = { start: Number(start), length: Number(count) };
    if (r.length > 0 && r.start > 0) out.push(r);
  }
  return mergeRanges(out);
}

function mergeRanges(ranges: IdRange[]): IdRange[] {
  const sorted = [...ranges].sort((a, b) => a.start - b.start);
  const out: IdRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.start <= last.start + last.length) last.length = Math.max(last.length, r.start + r.length - last.start);
    else out.push({ ...r });
  }
  return out;
}

/** Ids present in both lists of ranges (uids and gids must both be free for a shared offset). */
export function intersectRanges(a: IdRange[], b: IdRange[]): IdRange[] {
  const out: IdRange[] = [];
  for (const x of mergeRanges(a)) {
    for (const y of mergeRanges(b)) {
      const start = Math.max(x.start, y.start);
      const end = Math.min(x.start + x.length, y.start + y.length);
      if (end > start) out.push({ start, length: end - start });
    }
  }
  return out;
}

/**
 * The first host id where `size` ids are free: inside `available`, outside every `used` range.
 * Throws FailedPrecondition when there are no subordinate ids at all, ResourceExhausted when they
 * are all taken.
 */
export function allocateRange(available: IdRange[], used: IdRange[], size: number): number {
  if (available.length === 0) {
    throw new FailedPreconditionError(
      `userns-mode "auto" needs subordinate ids for the user "${AUTO_USERNS_USER}" in /etc/subuid and /etc/subgid (e.g. "${AUTO_USERNS_USER}:100000:1048576" in both)`,
    );
  }
  const taken = mergeRanges(used);
  for (const range of mergeRanges(available)) {
    let candidate = range.start;
    const end = range.start + range.length;
    for (const t of taken) {
      if (t.start + t.length <= candidate) continue;
      if (t.start >= candidate + size) break;
      candidate = t.start + t.length;
    }
    if (candidate + size <= end) return candidate;
  }
  const total = available.reduce((n, r) => n + r.length, 0);
  throw new ResourceExhaustedError(`no ${size} free subordinate ids left for userns-mode "auto" (${total} ids for "${AUTO_USERNS_USER}", ${used.length} pods use some)`);
}
