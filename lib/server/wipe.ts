import { promises as fs } from 'node:fs';
import net from 'node:net';
import type { Config } from '../config/config';
import { errnoCode, FailedPreconditionError } from '../errors';
import { ContainerRecords } from '../storage/container-records';
import { ImageRecords } from '../storage/image-records';
import { deleteImage } from '../storage/image-removal';
import { LayerStore } from '../storage/layer-store';
import type { Logger } from '../log';
import { RecordStore } from '../state/record-store';
import { RECORD_VERSION, validateContainerRecord, validateSandboxRecord, type ContainerRecord, type SandboxRecord } from '../state/records';
import { daemonLayout } from './daemon';
import { CRIO_TS_VERSION } from './runtime-version';

/**
 * `crio wipe`, as CRI-O's (internal/criocli/wipe.go, run by crio-wipe.service before crio.service):
 * containers and pods are removed when `version_file` says the node rebooted (the file is on
 * tmpfs) or crio-ts changed its major.minor version; images too when `version_file_persist`
 * (off by default) says crio-ts was upgraded. `--force` removes both without asking the files.
 * Records go here, atomically one by one; the next daemon start removes what they owned
 * (bundles, writable layers, CNI attachments, unused layers and blobs), exactly as it cleans up
 * after a crash, so a wipe interrupted at any point is finished by running it again.
 */

/** What `crio wipe` decided and did. */
export interface WipeResult {
  containers: number;
  pods: number;
  images: number;
}

/** Whether the marker's version differs in major.minor from this build (missing or unreadable: yes). */
export async function versionChanged(file: string, current = CRIO_TS_VERSION): Promise<{ changed: boolean; why: string }> {
  if (file === '') return { changed: false, why: 'not configured' };
  let text: string;
  try {
    text = (await fs.readFile(file, 'utf8')).trim();
  } catch (err) {
    return { changed: true, why: errnoCode(err) === 'ENOENT' ? `${file} does not exist` : `${file} unreadable: ${(err as Error).message}` };
  }
  const majorMinor = (v: string): string | undefined => /^v?(\d+)\.(\d+)(?:\.|$)/.exec(v)?.slice(1, 3).join('.');
  const old = majorMinor(text);
  if (old === undefined) return { changed: true, why: `${file} is malformed (${JSON.stringify(text.slice(0, 40))})` };
  return old === majorMinor(current) ? { changed: false, why: `${file} says ${text}` } : { changed: true, why: `${file} says ${text}, this is ${current}` };
}

/** Refuses to wipe under a running daemon: its in-memory state would outlive the records. */
async function assertDaemonStopped(socket: string): Promise<void> {
  const answering = await new Promise<boolean>((resolve) => {
    const s = net.connect(socket);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (answering) throw new FailedPreconditionError(`crio-ts is running on ${socket}: stop it before crio wipe`);
}

/** Runs `crio wipe`. */
export async function wipe(config: Config, force: boolean, log: Logger): Promise<WipeResult> {
  await assertDaemonStopped(config.api.listen);
  const containersCheck = force ? { changed: true, why: '--force' } : await versionChanged(config.crio.version_file);
  const imagesCheck = force ? { changed: true, why: '--force' } : await versionChanged(config.crio.version_file_persist);
  const result: WipeResult = { containers: 0, pods: 0, images: 0 };
  if (!containersCheck.changed) {
    // As CRI-O: images are never wiped while the containers that may use them stay.
    if (imagesCheck.changed) log.info('version_file_persist changed but version_file did not; skipping the wipe', { reason: imagesCheck.why });
    log.info('version unchanged and node not rebooted; no wipe needed', { reason: containersCheck.why });
    return result;
  }
  const layout = daemonLayout(config);
  log.info('wiping containers', { reason: containersCheck.why });
  const containers = new RecordStore<ContainerRecord>({ dir: layout.containerRecords, kind: 'container', version: RECORD_VERSION, validate: validateContainerRecord });
  const pods = new RecordStore<SandboxRecord>({ dir: layout.sandboxRecords, kind: 'pod sandbox', version: RECORD_VERSION, validate: validateSandboxRecord });
  await containers.load(log);
  await pods.load(log);
  for (const c of containers.list()) {
    await containers.delete(c.id);
    log.info('deleted container', { containerId: c.id });
    result.containers++;
  }
  for (const p of pods.list()) {
    await pods.delete(p.id);
    log.info('deleted pod sandbox', { podSandboxId: p.id });
    result.pods++;
  }
  if (imagesCheck.changed) {
    log.info('wiping images', { reason: imagesCheck.why });
    // The store is shared with podman: each image goes as c/storage deletes one, so an image a
    // container still uses (podman's, or ours until the next start removes it) is kept and named.
    const layers = new LayerStore({ graphRoot: layout.graphRoot, log });
    await layers.init();
    const images = new ImageRecords(layout.graphRoot, log);
    const containerStore = new ContainerRecords(layout.graphRoot, layout.runRoot);
    for (const { image, readOnly } of await images.list()) {
      if (readOnly) continue;
      try {
        await deleteImage({ layers, images, containers: containerStore, id: image.id, deferLayers: false });
      } catch (err) {
        log.warn('image kept', { image: image.id, err: err instanceof Error ? err.message : String(err) });
        continue;
      }
      log.info('deleted image', { image: image.id });
      result.images++;
    }
  }
  return result;
}
