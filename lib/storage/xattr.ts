import { runProgram, stderrTail, type RunResult } from '../process';

/**
 * Extended attributes. Node has no setxattr, so they are written with `setfattr` (Debian
 * package `attr`), all of a layer's in ONE process through `setfattr --restore` reading a
 * getfattr-style dump on stdin; `-h` makes it act on symlinks themselves, never their targets.
 * Only layers that carry xattrs (or overlay opaque markers) ever spawn it.
 */

/** One attribute to set. */
export interface XattrSetting {
  /** Path relative to the directory setfattr runs in. */
  path: string;
  name: string;
  value: Buffer;
}

/** The overlay marker for an opaque directory (containers/storage's conversion of `.wh..wh..opq`). */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

// getfattr escapes everything but printable ASCII as \ooo; setfattr undoes exactly that.
function quoteDumpField(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b <= 0x20 || b >= 0x7f || b === 0x5c || b === 0x3d ? '\\' + b.toString(8).padStart(3, '0') : String.fromCharCode(b);
  }
  return out;
}

/** Renders settings as the dump format `setfattr --restore` reads (values hex-encoded). */
export function formatXattrDump(settings: readonly XattrSetting[]): string {
  const byPath = new Map<string, XattrSetting[]>();
  for (const s of settings) {
    const list = byPath.get(s.path);
    if (list) list.push(s);
    else byPath.set(s.path, [s]);
  }
  let out = '';
  for (const [p, list] of byPath) {
    out += `# file: ${quoteDumpField(p)}\n`;
    for (const s of list) out += `${quoteDumpField(s.name)}=${s.value.length === 0 ? '""' : '0x' + s.value.toString('hex')}\n`;
    out += '\n';
  }
  return out;
}

/** Result of applyXattrs: ok, or setfattr's complaint (one line per attribute it could not set). */
export interface XattrApplyResult {
  ok: boolean;
  error: string;
}

/** Sets all `settings` with one setfattr run in `cwd`; never throws for attributes it could not set. */
export async function applyXattrs(cwd: string, settings: readonly XattrSetting[], signal?: AbortSignal): Promise<XattrApplyResult> {
  if (settings.length === 0) return { ok: true, error: '' };
  let res: RunResult;
  try {
    res = await runProgram('setfattr', ['-h', '--restore=-'], { cwd, input: formatXattrDump(settings), signal, timeoutMs: 600_000 });
  } catch (err) {
    // ENOENT: the attr package is missing.
    return { ok: false, error: `cannot run setfattr (install the "attr" package): ${err instanceof Error ? err.message : String(err)}` };
  }
  return res.exitCode === 0 ? { ok: true, error: '' } : { ok: false, error: stderrTail(res) || `setfattr exited ${res.exitCode}` };
}
