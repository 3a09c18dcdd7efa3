import { perRecordVersion } from './per-version';

/**
 * Wire bytes of a List response (a message whose field 1 is `repeated Item`) for the RPCs the
 * kubelet polls every second. Records are immutable (every change makes a new object), so each
 * item message is made once per record version and its bytes once per message: a list of
 * hundreds is a concatenation instead of hundreds of encodings. The last few whole answers are
 * kept too: the kubelet asks the same questions every second and the answer rarely changes, and a
 * fresh 250 KiB concatenation (500 containers) costs about 1 ms in page faults alone.
 */

/** The kubelet's usual questions: everything, running only, and one more (a pod's containers). */
const RECENT_ANSWERS = 3;

function sameItems<M>(a: readonly M[], b: readonly M[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The protobuf key and length prefix of a length-delimited field. */
function fieldPrefix(field: number, length: number): Uint8Array {
  const bytes = [(field << 3) | 2];
  let n = length;
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Uint8Array.from(bytes);
}

/** Caches per record (`message`) and per message (`encode`) for one List RPC. */
export class CachedListEncoding<R extends object, M extends object> {
  /** The item message of a record version (the same object while the record is). */
  readonly message: (record: R) => M;
  /** Each item's bytes as field 1 of the response: key, length, message. */
  private readonly encoded = new WeakMap<M, Uint8Array>();
  /** Whole encoded answers, newest first, with the items they hold (in order). */
  private readonly recent: { items: M[]; bytes: Buffer }[] = [];

  constructor(
    toMessage: (record: R) => M,
    private readonly encode: (message: M) => Uint8Array,
  ) {
    this.message = perRecordVersion(toMessage);
  }

  /** The response bytes for these items, reusing a recent answer or each item's cached encoding. */
  response(items: readonly M[]): Buffer {
    const hit = this.recent.findIndex((a) => sameItems(a.items, items));
    if (hit >= 0) {
      const [answer] = this.recent.splice(hit, 1);
      if (answer) {
        this.recent.unshift(answer);
        return answer.bytes;
      }
    }
    const parts: Uint8Array[] = [];
    for (const item of items) {
      let field = this.encoded.get(item);
      if (field === undefined) {
        const message = this.encode(item);
        field = Buffer.concat([fieldPrefix(1, message.length), message]);
        this.encoded.set(item, field);
      }
      parts.push(field);
    }
    const bytes = Buffer.concat(parts);
    // A copy of the list: the caller's array is not ours to keep.
    this.recent.unshift({ items: [...items], bytes });
    this.recent.length = Math.min(this.recent.length, RECENT_ANSWERS);
    return bytes;
  }
}
