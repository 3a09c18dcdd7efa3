import type { TerminalSize } from '../oci/conmon-attach';

/**
 * Decodes the remotecommand resize stream: JSON objects `{"Width":w,"Height":h}` back to back
 * (the SPDY client writes them newline-terminated, the WebSocket client one per message). Keys
 * match case-insensitively, as Go's encoding/json does. Like the kubelet, decoding stops at the
 * first malformed object.
 */
export class ResizeDecoder {
  private buffer = '';
  private failed = false;

  constructor(private readonly onSize: (size: TerminalSize) => void) {}

  /** Feeds bytes; calls onSize for each complete object. False once the stream turned out malformed. */
  write(chunk: Buffer | string): boolean {
    if (this.failed) return false;
    this.buffer += chunk.toString();
    for (;;) {
      const end = objectEnd(this.buffer);
      if (end === 'incomplete') break;
      if (end === 'invalid') return this.fail();
      const size = toSize(this.buffer.slice(0, end));
      this.buffer = this.buffer.slice(end);
      if (!size) return this.fail();
      this.onSize(size);
    }
    return true;
  }

  private fail(): false {
    this.failed = true;
    this.buffer = '';
    return false;
  }
}

/** Index just past the first complete top-level object (after leading whitespace). */
function objectEnd(text: string): number | 'incomplete' | 'invalid' {
  const start = text.search(/\S/);
  if (start < 0) return 'incomplete';
  if (text[start] !== '{') return 'invalid';
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') depth++;
    else if (ch === '}' && --depth === 0) return i + 1;
  }
  return 'incomplete';
}

function toSize(json: string): TerminalSize | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const fields = new Map(Object.entries(parsed).map(([k, v]) => [k.toLowerCase(), v]));
  const width = fields.get('width') ?? 0;
  const height = fields.get('height') ?? 0;
  const valid = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffff;
  return valid(width) && valid(height) ? { width, height } : undefined;
}
