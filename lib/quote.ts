/**
 * The one way a value from a request goes into an error message: JSON-quoted (control bytes
 * and NULs escaped) and, when long, cut to a short prefix with its full length. A client that
 * sends a 1 MiB hostname gets a readable error naming it, not its megabyte back (which grpc-js
 * clients cannot even receive as a status message).
 */

/** Characters of a value kept in a message. */
export const QUOTE_MAX_CHARS = 64;

/** `"value"`, or `"first 64 chars…" (1048576 bytes)` for a long one. */
export function quote(value: string, maxChars = QUOTE_MAX_CHARS): string {
  if (value.length <= maxChars) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, maxChars) + '…')} (${Buffer.byteLength(value)} bytes)`;
}

/** Cuts free text (a tool's stderr, a whole message) to `maxChars`, saying how much was dropped. */
export function truncateText(text: string, maxChars: number): string {
  if (text.length <= maxChars) return text;
  return `${text.slice(0, maxChars)}… (${text.length - maxChars} more characters)`;
}
