import { promises as fs, type BigIntStats } from 'node:fs';
import { FailedPreconditionError, NotFoundError, errnoCode } from '../errors';
import { devMajor, devMinor } from './devices';
import type { CdiEditsSource } from './cdi-registry';
import type { CdiDeviceNode } from './cdi-spec';

/**
 * Host facts of CDI device nodes, read at injection time as the reference library does
 * (fillMissingInfo): a node names its host device (`hostPath`, else `path`), and whatever the
 * spec leaves out (type, major/minor, file mode) comes from lstat(2) of it. A node the spec fully
 * describes (type and major, or a FIFO) needs no host device.
 */

function hostType(st: BigIntStats): string | undefined {
  if (st.isBlockDevice()) return 'b';
  if (st.isCharacterDevice()) return 'c';
  if (st.isFIFO()) return 'p';
  return undefined;
}

async function fillNode(n: CdiDeviceNode, source: string): Promise<CdiDeviceNode> {
  const type = n.type ?? '';
  const minimal = type !== '' && ((n.major ?? 0) !== 0 || type === 'p');
  const hostPath = n.hostPath || n.path;
  const out: CdiDeviceNode = { ...n, hostPath };
  let st: BigIntStats;
  try {
    st = await fs.lstat(hostPath, { bigint: true });
  } catch (err) {
    if (minimal) return out;
    const what = `${source}: failed to stat CDI host device ${JSON.stringify(hostPath)}`;
    if (errnoCode(err) === 'ENOENT') throw new NotFoundError(`${what}: it does not exist`, { cause: err });
    throw new FailedPreconditionError(`${what}: ${String(err)}`, { cause: err });
  }
  const found = hostType(st);
  if (found === undefined && !minimal) throw new FailedPreconditionError(`${source}: CDI host device ${JSON.stringify(hostPath)} is not a device node`);
  out.fileMode ??= Number(st.mode & 0o7777n);
  if (minimal || found === undefined) return out;
  out.type = type === '' ? found : type;
  if (out.type !== found) throw new FailedPreconditionError(`${source}: device ${JSON.stringify(n.path)} has type ${out.type} but host device ${JSON.stringify(hostPath)} has type ${found}`);
  if (out.type !== 'p' && (out.major ?? 0) === 0) {
    out.major = devMajor(st.rdev);
    out.minor = devMinor(st.rdev);
  }
  return out;
}

/** `blocks` with every device node completed from its host device. */
export async function fillCdiDeviceNodes(blocks: readonly CdiEditsSource[]): Promise<CdiEditsSource[]> {
  return Promise.all(
    blocks.map(async (b) => {
      if (!b.edits.deviceNodes?.length) return b;
      const deviceNodes = await Promise.all(b.edits.deviceNodes.map((n) => fillNode(n, b.source)));
      return { ...b, edits: { ...b.edits, deviceNodes } };
    }),
  );
}
