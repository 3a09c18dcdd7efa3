import { promises as fs } from 'node:fs';
import path from 'node:path';
import { MountPropagation, type ContainerConfig, type Mount } from '../cri/gen/api';
import { InvalidArgumentError, UnimplementedError, errnoCode } from '../errors';
import { checkPropagation } from '../oci/mount-propagation';
import type { OciRuntime } from '../oci/runtime';
import { secureJoin } from '../oci/secure-join';
import type { SpecMountInput } from '../oci/spec-input';
import type { ServerDeps } from './deps';
import { quote } from '../quote';

/**
 * The volume part of a new container: CRI mounts (host path rules, propagation, recursive
 * read-only), image VOLUMEs (crio.conf `image_volumes`) and the termination-message file.
 */

/** Annotation the kubelet sets to the container path of the termination log. */
export const TERMINATION_MESSAGE_PATH_ANNOTATION = 'io.kubernetes.container.terminationMessagePath';

function propagation(p: MountPropagation): SpecMountInput['propagation'] {
  if (p === MountPropagation.PROPAGATION_HOST_TO_CONTAINER) return 'rslave';
  if (p === MountPropagation.PROPAGATION_BIDIRECTIONAL) return 'rshared';
  return 'private';
}

function isUnder(base: string, p: string): boolean {
  const rel = path.relative(base, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** The host path of a CRI mount with symlinks resolved; a missing one is created unless crio.conf forbids it. */
async function resolveHostPath(deps: ServerDeps, hostPath: string): Promise<string> {
  try {
    return await fs.realpath(hostPath);
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') throw err;
  }
  if (deps.config.runtime.absent_mount_sources_to_reject.includes(path.normalize(hostPath))) {
    throw new InvalidArgumentError(`cannot mount ${quote(hostPath)}: path does not exist and would be created as a directory (absent_mount_sources_to_reject)`);
  }
  await fs.mkdir(hostPath, { recursive: true, mode: 0o755 });
  return fs.realpath(hostPath);
}

/** CRI mounts → spec mounts, validated the way CRI-O's addOCIBindMounts does. */
export async function criMounts(deps: ServerDeps, runtime: OciRuntime, mounts: Mount[]): Promise<SpecMountInput[]> {
  const out: SpecMountInput[] = [];
  for (const m of mounts) {
    const where = `mount ${quote(m.hostPath)} → ${quote(m.containerPath)}`;
    if (m.containerPath === '' || !m.containerPath.startsWith('/')) {
      throw new InvalidArgumentError(`CreateContainer: mount container_path ${quote(m.containerPath)} must be an absolute path`);
    }
    if (m.image?.image) throw new UnimplementedError(`CreateContainer: ${where}: image volume mounts are not supported by crio-ts`);
    if (m.uidMappings.length > 0 || m.gidMappings.length > 0)
      throw new UnimplementedError(`CreateContainer: ${where}: idmapped mounts are not supported by crio-ts`);
    if (m.hostPath === '' || !m.hostPath.startsWith('/')) {
      throw new InvalidArgumentError(`CreateContainer: mount host_path ${quote(m.hostPath)} must be an absolute path`);
    }
    const hostPath = await resolveHostPath(deps, m.hostPath);
    let prop = propagation(m.propagation);
    // A host path holding container storage sees rootfs mounts made later: they must reach the container (CRI-O).
    if (prop === 'private' && isUnder(hostPath, deps.config.crio.root)) prop = 'rslave';
    await checkPropagation(hostPath, prop);
    if (m.recursiveReadOnly) {
      if (!m.readonly) throw new InvalidArgumentError(`CreateContainer: ${where}: recursive read-only conflicts with a read-write mount`);
      if (prop !== 'private') throw new InvalidArgumentError(`CreateContainer: ${where}: recursive read-only needs private propagation`);
      if (!(await runtime.supportsRecursiveReadOnly())) {
        throw new InvalidArgumentError(`CreateContainer: ${where}: the OCI runtime does not support recursive read-only mounts`);
      }
    }
    out.push({ containerPath: m.containerPath, hostPath, readonly: m.readonly, propagation: prop, recursiveReadOnly: m.recursiveReadOnly });
  }
  return out;
}

/** mkdir -p inside the rootfs, handing each directory it creates to the container user. */
async function mkdirOwned(rootfs: string, dest: string, uid: number, gid: number): Promise<void> {
  const target = await secureJoin(rootfs, dest);
  const missing: string[] = [];
  for (let p = target; isUnder(rootfs, p) && p !== rootfs; p = path.dirname(p)) {
    if ((await fs.lstat(p).catch(() => undefined)) !== undefined) break;
    missing.unshift(p);
  }
  for (const dir of missing) {
    await fs.mkdir(dir, { mode: 0o755 });
    await fs.chown(dir, uid, gid);
  }
}

/** What imageVolumeMounts needs. */
export interface ImageVolumeSources {
  volumes: readonly string[];
  rootfs: string;
  bundleDir: string;
  uid: number;
  gid: number;
  /** CRI mounts: a VOLUME they cover is theirs. */
  covered: readonly SpecMountInput[];
}

/** Image `VOLUME`s per `image_volumes`: mkdir in the rootfs, bind a per-container directory, or ignore. */
export async function imageVolumeMounts(deps: ServerDeps, src: ImageVolumeSources): Promise<SpecMountInput[]> {
  const mode = deps.config.image.image_volumes;
  const covered = new Set(src.covered.map((m) => path.posix.normalize(m.containerPath)));
  const out: SpecMountInput[] = [];
  for (const [i, volume] of [...src.volumes].sort().entries()) {
    const dest = path.posix.normalize(volume);
    if (!dest.startsWith('/') || covered.has(dest) || mode === 'ignore') continue;
    if (mode === 'mkdir') {
      await mkdirOwned(src.rootfs, dest, src.uid, src.gid);
      continue;
    }
    const hostPath = path.join(src.bundleDir, 'volumes', String(i));
    await fs.mkdir(hostPath, { recursive: true, mode: 0o755 });
    await fs.chown(hostPath, src.uid, src.gid); // the volume is the container user's, as with mkdir
    out.push({ containerPath: dest, hostPath, readonly: false, propagation: 'private' });
  }
  return out;
}

/**
 * The termination-message file. The kubelet mounts its own (found by the annotation) and reads
 * it itself, appending it to the status message: crio-ts then leaves it alone (reporting it too
 * would show the message twice, "going-down: going-down"), as CRI-O does. Without that mount
 * (e.g. crictl) crio-ts provides an empty file in the bundle, whose contents become the status
 * message when the container exits.
 */
export async function terminationLog(
  config: ContainerConfig,
  mounts: readonly SpecMountInput[],
  bundleDir: string,
): Promise<{ hostPath?: string; mount?: SpecMountInput }> {
  const target = config.annotations[TERMINATION_MESSAGE_PATH_ANNOTATION];
  if (target === undefined || target === '' || !target.startsWith('/')) return {};
  const existing = mounts.find((m) => path.posix.normalize(m.containerPath) === path.posix.normalize(target));
  if (existing) return {};
  const hostPath = path.join(bundleDir, 'termination-log');
  await fs.writeFile(hostPath, '', { mode: 0o666 });
  await fs.chmod(hostPath, 0o666); // past the umask: any container user may write its message
  return { hostPath, mount: { containerPath: target, hostPath, readonly: false, propagation: 'private' } };
}
