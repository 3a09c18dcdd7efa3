import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors';
import type { TreeInventory } from './disk-usage';

/**
 * The persisted description of an image layer (`<layer>/layer.json`) and the chain-ID rules
 * (OCI image spec: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))).
 */

/** The persisted description of a complete layer. */
export interface LayerRecord {
  chainId: string;
  parentChainId?: string;
  diffId: string;
  /** Bytes of regular-file content the layer tar stored. */
  size: number;
  createdAt: string;
  /**
   * The unpacked tree as measured right after unpacking: usage reporting sums these instead of
   * walking immutable layers again, and the check after an unclean shutdown compares against them.
   */
  inventory?: TreeInventory;
}

/** The file that marks a layer as complete; written last. */
export const LAYER_RECORD_FILE = 'layer.json';

const CHAIN_ID = /^(?:sha256:)?([0-9a-f]{64})$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** The hex part of a chain ID (the layer's directory name); InvalidArgumentError if malformed. */
export function layerHex(chainId: string): string {
  const m = CHAIN_ID.exec(chainId);
  if (!m?.[1]) throw new InvalidArgumentError(`invalid layer chain ID ${JSON.stringify(chainId)}`);
  return m[1];
}

/** The chain ID of a layer with `diffId` on top of `parentChainId`. */
export function chainIdOf(parentChainId: string | undefined, diffId: string): string {
  if (parentChainId === undefined) return diffId;
  return 'sha256:' + createHash('sha256').update(`${parentChainId} ${diffId}`).digest('hex');
}

/** Refuses a chain ID that does not follow from its parent and DiffID. */
export function checkChainId(chainId: string, parentChainId: string | undefined, diffId: string): void {
  if (!DIGEST.test(diffId)) throw new InvalidArgumentError(`invalid layer diff ID ${JSON.stringify(diffId)}`);
  const want = chainIdOf(parentChainId, diffId);
  if (layerHex(chainId) !== layerHex(want)) {
    throw new InvalidArgumentError(`layer chain ID ${chainId} does not match its parent ${parentChainId ?? '(none)'} and diff ID ${diffId} (expected ${want})`);
  }
}

function isInventory(v: unknown): v is TreeInventory {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.bytes === 'number' && typeof r.inodes === 'number' && typeof r.fileBytes === 'number';
}

/** Shape check of a parsed layer.json. */
export function isLayerRecord(v: unknown): v is LayerRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r.chainId === 'string' &&
    CHAIN_ID.test(r.chainId) &&
    typeof r.diffId === 'string' &&
    typeof r.size === 'number' &&
    typeof r.createdAt === 'string' &&
    (r.parentChainId === undefined || (typeof r.parentChainId === 'string' && CHAIN_ID.test(r.parentChainId))) &&
    (r.inventory === undefined || isInventory(r.inventory))
  );
}

/**
 * The layers to delete so that `hexes` go: those and every layer on top of them (nothing may
 * sit on a missing layer), uppermost first so a layer never goes before what sits on it.
 */
export function removalOrder(records: ReadonlyMap<string, LayerRecord>, hexes: readonly string[]): string[] {
  const doomed = new Set(hexes);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [hex, r] of records) {
      if (!doomed.has(hex) && r.parentChainId !== undefined && doomed.has(layerHex(r.parentChainId))) {
        doomed.add(hex);
        grew = true;
      }
    }
  }
  const depth = (hex: string): number => {
    let n = 0;
    for (let r = records.get(hex); r; r = r.parentChainId === undefined ? undefined : records.get(layerHex(r.parentChainId))) n++;
    return n;
  };
  return [...doomed].sort((a, b) => depth(b) - depth(a));
}
