import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log';
import { treeInventory, type TreeInventory } from './disk-usage';
import { readTrimmed } from './layer-dirs';

/**
 * The consistency check run after an unclean shutdown (containers/storage's `Check`): every
 * complete layer must have its diff directory, its short link pointing back at it, its parent,
 * a `lower` file naming exactly the parent chain, and content matching the inventory taken when
 * it was unpacked. Layers sitting on a damaged layer are damaged too.
 */

/** A layer that failed the check, and why. */
export interface LayerDamage {
  layerId: string;
  reason: string;
}

/** What the check knows of a layer: its parent and the inventory taken when it was unpacked, if any. */
export interface CheckedLayer {
  id: string;
  parent?: string;
  inventory?: TreeInventory;
}

const SHORT = /^[A-Z2-7]{26}$/;


/** `lowerdir` entries a layer's children must list: its own link, then its own lowers. */
async function linksOf(root: string, hex: string): Promise<string[] | undefined> {
  const link = await readTrimmed(path.join(root, hex, 'link'));
  if (link === undefined || !SHORT.test(link)) return undefined;
  const lower = (await readTrimmed(path.join(root, hex, 'lower'))) ?? '';
  return [`l/${link}`, ...lower.split(':').filter((s) => s !== '')];
}

async function checkOne(root: string, hex: string, rec: CheckedLayer, records: ReadonlyMap<string, CheckedLayer>): Promise<string | undefined> {
  const diff = path.join(root, hex, 'diff');
  const st = await fs.lstat(diff).catch(() => undefined);
  if (!st?.isDirectory()) return 'its diff directory is missing';
  const links = await linksOf(root, hex);
  if (!links) return 'its link file is missing or malformed';
  const target = await fs.readlink(path.join(root, links[0] ?? '')).catch(() => undefined);
  if (target !== `../${hex}/diff`) return `its short link ${links[0] ?? ''} does not point at it`;
  if (rec.parent !== undefined) {
    const parentHex = rec.parent;
    if (!records.has(parentHex)) return `its parent layer ${rec.parent} is missing`;
    const want = await linksOf(root, parentHex);
    if (!want || want.join(':') !== links.slice(1).join(':')) return 'its lower file does not match the parent chain';
  } else if (links.length > 1) {
    return 'a base layer lists lower layers';
  }
  if (rec.inventory) {
    const now = await treeInventory(diff);
    if (now.inodes !== rec.inventory.inodes || now.fileBytes !== rec.inventory.fileBytes) {
      return `its content changed since it was unpacked (${now.inodes} inodes and ${now.fileBytes} file bytes, recorded ${rec.inventory.inodes} and ${rec.inventory.fileBytes})`;
    }
  }
  return undefined;
}

/** Checks every layer in `records` (complete layers under `root`); returns the damaged ones. */
export async function checkLayers(root: string, records: ReadonlyMap<string, CheckedLayer>, log: Logger): Promise<LayerDamage[]> {
  const damaged = new Map<string, string>();
  for (const [hex, rec] of records) {
    const reason = await checkOne(root, hex, rec, records);
    if (reason !== undefined) damaged.set(hex, reason);
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const [hex, rec] of records) {
      if (damaged.has(hex) || rec.parent === undefined) continue;
      if (damaged.has(rec.parent)) {
        damaged.set(hex, `its parent layer ${rec.parent} is damaged`);
        grew = true;
      }
    }
  }
  const out = [...damaged].map(([layerId, reason]) => ({ layerId, reason }));
  log.info('layers checked', { layers: records.size, damaged: out.length });
  return out;
}
