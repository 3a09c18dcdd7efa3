import { S_IFCHR } from 'node:constants';
import { lchownSync } from 'node:fs';
import path from 'node:path';
import { pack } from 'tar-stream';
import { InternalError } from '../errors';
import { runProgram, stderrTail } from '../process';

/**
 * Creates device nodes, fifos and overlay whiteouts (char 0:0) in bulk. Node has no mknod(2),
 * and one `mknod` process per node costs milliseconds each (a layer deleting a thousand files
 * carries a thousand whiteouts), so all of a layer's nodes go into one small tar that one GNU
 * tar process (Essential on Debian) extracts. The caller has already checked that every
 * parent is a real directory of the layer and that nothing exists at the node's path.
 */

/** One node to create. */
export interface NodeSpec {
  /** Path relative to the root, already validated. */
  path: string;
  type: 'character-device' | 'block-device' | 'fifo';
  devmajor: number;
  devminor: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. */
  mtime: number;
}

const TAR_TIMEOUT_MS = 10 * 60_000;
const MAX_OCTAL_ID = 0o777777;

/** A whiteout as containers/storage makes it: char 0:0, no permissions, owned as the tar entry said. */
export function whiteoutNode(path: string, uid: number, gid: number, mtime: number): NodeSpec {
  return { path, type: 'character-device', devmajor: 0, devminor: 0, mode: 0, uid, gid, mtime };
}

async function buildArchive(nodes: readonly NodeSpec[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of p) chunks.push(Buffer.from(c as Uint8Array));
  })();
  for (const n of nodes) {
    // tar-stream replaces a zero mode with 0644; S_IFCHR keeps it non-zero and is masked off when encoded.
    const mode = n.mode === 0 ? S_IFCHR : n.mode;
    p.entry({ name: n.path, type: n.type, devmajor: n.devmajor, devminor: n.devminor, mode, uid: n.uid, gid: n.gid, mtime: new Date(n.mtime * 1000) });
  }
  p.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Creates `nodes` below `root` with one tar process; InternalError with tar's complaint on failure. */
export async function createNodes(root: string, nodes: readonly NodeSpec[], signal?: AbortSignal): Promise<void> {
  if (nodes.length === 0) return;
  const archive = await buildArchive(nodes);
  const res = await runProgram('tar', ['-x', '-f', '-', '-C', root, '--numeric-owner', '--same-owner', '--same-permissions', '--no-overwrite-dir'], {
    input: archive,
    signal,
    timeoutMs: TAR_TIMEOUT_MS,
  });
  if (res.exitCode !== 0) {
    const first = nodes[0]?.path ?? '';
    throw new InternalError(`creating ${nodes.length} device nodes/whiteouts (first ${JSON.stringify(first)}) in ${root} failed: ${stderrTail(res) || `tar exited ${res.exitCode}`}`);
  }
  // tar-stream writes ids in 6 octal digits and clamps larger ones; those get their owner here.
  for (const n of nodes) if (n.uid > MAX_OCTAL_ID || n.gid > MAX_OCTAL_ID) lchownSync(path.join(root, n.path), n.uid, n.gid);
}
