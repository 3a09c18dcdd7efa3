import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { runProgram } from '../../lib/process';
import type { BuiltImage } from './test-images';

/**
 * Debian's podman and skopeo on a test daemon's store (its graph root and run root), configured
 * only by files of the test: storage.conf (the daemon's), containers.conf (no raised ulimits:
 * root here lacks CAP_SYS_RESOURCE; no events log; cgroupfs), policy.json (accept anything),
 * registries.conf (the test registry, plain HTTP), and podman's own state under the test dir.
 */

/** A finished run of podman or skopeo. */
export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** podman and skopeo bound to one store. */
export interface PodmanTools {
  /** Runs podman; rejects unless it exits 0 (unless `allowFail`). */
  podman(args: string[], opts?: { allowFail?: boolean; timeoutMs?: number }): Promise<ToolResult>;
  skopeo(args: string[], opts?: { allowFail?: boolean }): Promise<ToolResult>;
  /** The containers-storage: transport name of `name` in this store (for skopeo). */
  storageRef(name: string): string;
}

/** Why podman/skopeo tests cannot run here, or false. */
export function podmanSkipReason(): string | false {
  if (process.getuid?.() !== 0) return 'needs root';
  for (const p of ['/usr/bin/podman', '/usr/bin/skopeo']) if (!existsSync(p)) return `${p} missing (apt-get install podman skopeo)`;
  return false;
}

/**
 * Tools on the store of the daemon whose directory is `dir` (root, run, storage.conf inside), or
 * on another store (`store`: its graph root and run root).
 */
export async function podmanTools(dir: string, registryHost: string, store?: { root: string; run: string }): Promise<PodmanTools> {
  const conf = store ? path.join(store.root, '..', 'podman') : path.join(dir, 'podman');
  await fs.mkdir(path.join(conf, 'tmp'), { recursive: true });
  await fs.writeFile(path.join(conf, 'containers.conf'), '[containers]\ndefault_ulimits = []\n\n[engine]\nevents_logger = "none"\ncgroup_manager = "cgroupfs"\n');
  await fs.writeFile(path.join(conf, 'policy.json'), JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  await fs.writeFile(path.join(conf, 'registries.conf'), `[[registry]]\nlocation = "${registryHost}"\ninsecure = true\n`);
  await fs.writeFile(path.join(conf, 'auth.json'), '{}');
  if (store) await fs.writeFile(path.join(conf, 'storage.conf'), `[storage]\ndriver = "overlay"\ngraphroot = "${store.root}"\nrunroot = "${store.run}"\n`);
  const env = {
    ...process.env,
    CONTAINERS_CONF: path.join(conf, 'containers.conf'),
    // Another store gets a storage.conf of its own (the roots are on the command line anyway).
    CONTAINERS_STORAGE_CONF: store ? path.join(conf, 'storage.conf') : path.join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: path.join(conf, 'registries.conf'),
    REGISTRY_AUTH_FILE: path.join(conf, 'auth.json'),
  };
  const root = store?.root ?? path.join(dir, 'root');
  const run = store?.run ?? path.join(dir, 'run');
  const exec = async (program: string, args: string[], allowFail: boolean, timeoutMs: number): Promise<ToolResult> => {
    const r = await runProgram(program, args, { env, timeoutMs });
    const out = { exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    if (!allowFail && out.exitCode !== 0) throw new Error(`${program} ${args.join(' ')} exited ${out.exitCode}: ${out.stderr}`);
    return out;
  };
  const policy = path.join(conf, 'policy.json');
  return {
    podman: (args, opts = {}) =>
      exec('podman', ['--root', root, '--runroot', run, '--storage-driver', 'overlay', '--tmpdir', path.join(conf, 'tmp'), ...args], opts.allowFail ?? false, opts.timeoutMs ?? 180_000),
    skopeo: (args, opts = {}) => exec('skopeo', ['--policy', policy, ...args], opts.allowFail ?? false, 180_000),
    storageRef: (name) => `containers-storage:[overlay@${root}+${run}]${name}`,
  };
}

/** Writes `img` as an OCI image layout in `dir` (tag `tag`) and as an OCI archive beside it; returns both paths. */
export async function writeOciLayout(img: BuiltImage, dir: string, tag: string): Promise<{ layout: string; archive: string }> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  await fs.mkdir(blobs, { recursive: true });
  const put = (digest: string, bytes: Buffer): Promise<void> => fs.writeFile(path.join(blobs, digest.replace(/^sha256:/, '')), bytes);
  await put(img.configDigest, img.configBytes);
  for (const l of img.layers) await put(l.digest, l.bytes);
  await put(img.manifestDigest, img.manifestBytes);
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const index = {
    schemaVersion: 2,
    manifests: [{ mediaType: img.manifestMediaType, digest: img.manifestDigest, size: img.manifestBytes.length, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(index));
  const archive = `${dir}.tar`;
  const r = await runProgram('tar', ['-c', '-f', archive, '-C', dir, '.']);
  if (r.exitCode !== 0) throw new Error(`tar: ${r.stderr.toString()}`);
  return { layout: dir, archive };
}
