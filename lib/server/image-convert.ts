import type { Image } from '../cri/gen/api';
import type { ImageRecord } from '../image/image-store';

/** Whether `name` matches a pinned_images pattern: exact, `prefix*` or `*keyword*` (CRI-O's forms). */
export function matchesPinnedPattern(pattern: string, name: string): boolean {
  if (pattern.startsWith('*') && pattern.endsWith('*') && pattern.length > 1) return name.includes(pattern.slice(1, -1));
  if (pattern.endsWith('*')) return name.startsWith(pattern.slice(0, -1));
  return name === pattern;
}

/** Whether the image is pinned (kubelet image GC skips pinned images). */
export function isPinned(record: ImageRecord, patterns: readonly string[]): boolean {
  const names = [...record.repoTags, ...record.repoDigests];
  return patterns.some((p) => names.some((n) => matchesPinnedPattern(p, n)));
}

/** The image's user as the kubelet wants it: numeric uid, or a name. */
function imageUser(user: string): { uid?: bigint; username: string } {
  const u = user.split(':')[0] ?? '';
  if (u === '') return { uid: 0n, username: '' };
  if (/^\d+$/.test(u)) return { uid: BigInt(u), username: '' };
  return { username: u };
}

/** ImageRecord → CRI Image. */
export function toCriImage(record: ImageRecord, pinnedPatterns: readonly string[]): Image {
  const user = imageUser(record.config.user ?? '');
  return {
    id: record.id,
    repoTags: record.repoTags,
    repoDigests: record.repoDigests,
    size: BigInt(record.size),
    uid: user.uid !== undefined ? { value: user.uid } : undefined,
    username: user.username,
    spec: { image: record.id, annotations: {}, userSpecifiedImage: '', runtimeHandler: '', imageRef: record.id },
    pinned: isPinned(record, pinnedPatterns),
  };
}
