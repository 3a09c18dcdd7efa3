import { promises as fs } from 'node:fs';
import path from 'node:path';
import { allDone } from '../cleanup';
import { FailedPreconditionError, ResourceExhaustedError, errnoCode } from '../errors';
import { isShortName, newShortName } from './layer-links';
import { listMountsUnder, unmount } from './mount';
import { MAX_OVERLAY_LOWERS } from './overlay';
import { removeTree } from './remove-tree';

/**
 * The overlay driver's directories (containers/storage drivers/overlay, v1.43):
 *   <home>/<id>/diff    the layer's files (0555 for a base layer, else the parent diff's mode)
 *   <home>/<id>/link    26-character short name, no newline (0644)
 *   <home>/<id>/lower   "l/<short>:l/<short>…" of the layers below, uppermost first (absent for a base layer)
 *   <home>/<id>/work, merged (0700); empty (0700, base layers only: the lower of a mount with no other)
 *   <home>/l/<short> -> ../<id>/diff
 * `<home>/<id>` itself is 0700, owned by root.
 */

/** Mode of a base layer's diff directory before its tar sets it (overlay's defaultPerms). */
export const BASE_DIFF_MODE = 0o555;

/** A small text file's content without surrounding white space; undefined when it (or its directory) is missing. */
export async function readTrimmed(file: string): Promise<string | undefined> {
  try {
    return (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') return undefined;
    throw err;
  }
}

/** The `l/<short>` entries a layer's mount uses: its own link, then its `lower` file's. */
export async function layerLinks(home: string, id: string): Promise<string[]> {
  const [link, lowerText] = await Promise.all([readTrimmed(path.join(home, id, 'link')), readTrimmed(path.join(home, id, 'lower'))]);
  if (link === undefined || !isShortName(link)) throw new FailedPreconditionError(`layer ${id} has no valid link file`);
  const lower = lowerText ?? '';
  return [`l/${link}`, ...lower.split(':').filter((s) => s !== '')];
}

/** The `lower` file content of a new layer on `parent` (overlay's getLower); refuses too deep a stack. */
export async function lowerFor(home: string, id: string, parent: string): Promise<string> {
  const links = await layerLinks(home, parent);
  if (links.length >= MAX_OVERLAY_LOWERS) {
    throw new ResourceExhaustedError(`layer ${id} would sit on ${links.length} layers, the limit is ${MAX_OVERLAY_LOWERS}`);
  }
  return links.join(':');
}

/**
 * Gives `dir` (a staged layer holding `diff/`, or a new empty one) the rest of the driver's
 * files, then moves it to `<home>/<id>` and links it. The short name's symlink is made last, so
 * a crash leaves at most an unlinked directory, which the layer store's start-up removes.
 */
export async function installLayerDir(home: string, id: string, dir: string, lower: string | undefined): Promise<void> {
  const short = await newShortName(home);
  await fillLayerDir(dir, short, lower);
  await installPreparedLayerDir(home, { id, dir, short });
}

/** A new layer's directory, complete but still in the staging directory. */
export interface PreparedLayerDir {
  id: string;
  dir: string;
  short: string;
}

/**
 * Makes a new empty layer (a container's writable layer) in `staging`, with diff's mode and owner
 * like its parent's; `parentHome` is where the parent lives (a read-only image store's home for
 * its images). Nothing in the store changes: the layer store empties its staging at start, so
 * this may run while the layer's incomplete record is saved (an fsync); only
 * installPreparedLayerDir waits for that record. Run under the layers lock (the short name is
 * checked against `l/`).
 */
export async function prepareEmptyLayerDir(home: string, id: string, parent: string | undefined, staging: string, parentHome = home): Promise<PreparedLayerDir> {
  await fs.mkdir(staging, { mode: 0o700 });
  const diff = path.join(staging, 'diff');
  const [parentDiff, lower, short] = await Promise.all([
    parent === undefined ? undefined : fs.stat(path.join(parentHome, parent, 'diff')),
    parent === undefined ? undefined : lowerFor(parentHome, id, parent),
    newShortName(home),
  ]);
  const diffMade =
    parentDiff === undefined
      ? fs.mkdir(diff, { mode: BASE_DIFF_MODE }).then(() => fs.chmod(diff, BASE_DIFF_MODE))
      : fs.mkdir(diff).then(async () => {
          await fs.chown(diff, parentDiff.uid, parentDiff.gid);
          await fs.chmod(diff, parentDiff.mode & 0o7777);
        });
  await allDone([diffMade, fillLayerDir(staging, short, lower)]);
  return { id, dir: staging, short };
}

/**
 * Moves a prepared layer to `<home>/<id>` and links it, once its record is on disk. A leftover
 * of a crash under that ID goes first (c/storage removes it the same way).
 */
export async function installPreparedLayerDir(home: string, layer: PreparedLayerDir): Promise<void> {
  await removeLayerDir(home, layer.id);
  await fs.rename(layer.dir, path.join(home, layer.id));
  await fs.symlink(`../${layer.id}/diff`, path.join(home, 'l', layer.short));
}

/** The driver's files beside `diff/`: link, lower (none for a base layer, which gets `empty`), work, merged. */
async function fillLayerDir(dir: string, short: string, lower: string | undefined): Promise<void> {
  await allDone([
    fs.writeFile(path.join(dir, 'link'), short, { mode: 0o644 }),
    ...(lower ? [fs.writeFile(path.join(dir, 'lower'), lower, { mode: 0o644 })] : []),
    ...['work', 'merged', ...(lower ? [] : ['empty'])].map((sub) => fs.mkdir(path.join(dir, sub), { mode: 0o700 }).catch(ignoreExists)),
  ]);
  await fs.chmod(dir, 0o700);
}

/** Removes a layer's directory (unmounting what is mounted below it first) and its short link; missing is fine. */
export async function removeLayerDir(home: string, id: string): Promise<void> {
  const dir = path.join(home, id);
  try {
    await fs.lstat(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return; // the usual case when a new layer is installed: one lookup, not three
    throw err;
  }
  for (const m of await listMountsUnder(dir)) await unmount(m, { detach: true });
  const short = await readTrimmed(path.join(dir, 'link'));
  if (short !== undefined && isShortName(short)) await fs.rm(path.join(home, 'l', short), { force: true });
  await removeTree(dir);
}

function ignoreExists(err: unknown): void {
  if (errnoCode(err) !== 'EEXIST') throw err;
}
