import path from 'node:path';
import { FailedPreconditionError } from '../errors';
import type { CdiEditsSource } from './cdi-registry';
import type { Spec } from './spec-input';
import type { Device, Mount } from './spec.gen';

/**
 * Applies resolved CDI container edits to a generated OCI spec, as the reference library's
 * ContainerEdits.Apply does with all requested devices' edits merged: environment (a variable
 * already set is replaced), device nodes (replacing one at the same path, owned by the process
 * user unless the spec says otherwise, with a cgroup allow rule for b/c devices), mounts
 * (replacing one at the same destination, then ordered by depth), hooks, Intel RDT and
 * additional GIDs. Device nodes must already carry their host facts (cdi-host.ts). Pure.
 */

export interface CdiApplyOptions {
  /** The pod has a user namespace: bind mounts get `idmap`/`ridmap` as the library adds them. */
  userns: boolean;
}

export interface CdiApplied {
  spec: Spec;
  /** Container path → host path of every device node added (runc binds a device from its path in a user namespace). */
  deviceHostPaths: Map<string, string>;
}

/** Depth of a mount destination as the library sorts it (slashes in the cleaned path). */
const slashes = (destination: string): number => path.posix.normalize(destination).replace(/(.)\/$/, '$1').split('/').length - 1;

/** The library's withIDMapForBindMount. */
function withIdmap(m: Mount): Mount {
  let option = m.type === 'bind' ? 'idmap' : '';
  for (const o of m.options ?? []) {
    if (o === 'idmap' || o === 'ridmap') return m;
    if (o === 'bind') option = 'idmap';
    if (o === 'rbind') option = 'ridmap';
  }
  return option === '' ? m : { ...m, options: [...(m.options ?? []), option] };
}

function refuseUnsupported(blocks: readonly CdiEditsSource[]): void {
  for (const b of blocks) {
    // runc 1.1 (Debian 12) has neither linux.netDevices nor intelRdt.schemata/enableMonitoring; writing them would be silently ignored.
    if ((b.edits.netDevices?.length ?? 0) > 0) throw new FailedPreconditionError(`${b.source}: netDevices (CDI 1.1.0) need OCI linux.netDevices, which this runtime does not support`);
    const rdt = b.edits.intelRdt;
    if (rdt && (rdt.schemata !== undefined || rdt.enableMonitoring === true)) {
      throw new FailedPreconditionError(`${b.source}: intelRdt.schemata and intelRdt.enableMonitoring (CDI 1.1.0) are not supported by this runtime`);
    }
  }
}

function applyEnv(spec: Spec, blocks: readonly CdiEditsSource[]): void {
  const process = (spec.process ??= { cwd: '/' });
  const env = (process.env ??= []);
  const index = new Map(env.map((e, i) => [e.split('=', 1)[0], i]));
  for (const e of blocks.flatMap((b) => b.edits.env ?? [])) {
    const key = e.split('=', 1)[0];
    const i = index.get(key);
    if (i !== undefined) env[i] = e;
    else index.set(key, env.push(e) - 1);
  }
}

function applyDevices(spec: Spec, blocks: readonly CdiEditsSource[], hostPaths: Map<string, string>): void {
  const linux = (spec.linux ??= {});
  const user = spec.process?.user;
  for (const n of blocks.flatMap((b) => b.edits.deviceNodes ?? [])) {
    const dev: Device = { path: n.path, type: n.type ?? '' };
    if (n.major !== undefined) dev.major = n.major;
    if (n.minor !== undefined) dev.minor = n.minor;
    if (n.fileMode !== undefined) dev.fileMode = n.fileMode;
    const uid = n.uid ?? (user?.uid !== undefined && user.uid > 0 ? user.uid : undefined);
    const gid = n.gid ?? (user?.gid !== undefined && user.gid > 0 ? user.gid : undefined);
    if (uid !== undefined) dev.uid = uid;
    if (gid !== undefined) dev.gid = gid;
    const devices = (linux.devices ?? []).filter((d) => d.path !== dev.path);
    devices.push(dev);
    linux.devices = devices;
    hostPaths.set(n.path, n.hostPath ?? n.path);
    if (dev.type === 'b' || dev.type === 'c') {
      const access = n.permissions === undefined || n.permissions === '' ? 'rwm' : n.permissions === 'none' ? '' : n.permissions;
      const resources = (linux.resources ??= {});
      (resources.devices ??= []).push({ allow: true, type: dev.type, major: dev.major ?? 0, minor: dev.minor ?? 0, access });
    }
  }
}

function applyMounts(spec: Spec, blocks: readonly CdiEditsSource[], opts: CdiApplyOptions): void {
  const added = blocks.flatMap((b) => b.edits.mounts ?? []);
  if (added.length === 0) return;
  let mounts = spec.mounts ?? [];
  for (const m of added) {
    const i = mounts.findIndex((x) => x.destination === m.containerPath);
    if (i >= 0) mounts = [...mounts.slice(0, i), ...mounts.slice(i + 1)];
    const mount: Mount = { destination: m.containerPath, source: m.hostPath };
    if (m.options !== undefined) mount.options = [...m.options];
    if (m.type !== undefined && m.type !== '') mount.type = m.type;
    mounts.push(opts.userns ? withIdmap(mount) : mount);
  }
  // Array.prototype.sort is stable: equal depths keep their order.
  spec.mounts = mounts.map((m, i) => ({ m, i })).sort((a, b) => slashes(a.m.destination) - slashes(b.m.destination) || a.i - b.i).map((x) => x.m);
}

function applyHooks(spec: Spec, blocks: readonly CdiEditsSource[]): void {
  for (const h of blocks.flatMap((b) => b.edits.hooks ?? [])) {
    const hooks = (spec.hooks ??= {});
    const hook = { path: h.path, ...(h.args ? { args: [...h.args] } : {}), ...(h.env ? { env: [...h.env] } : {}), ...(h.timeout !== undefined ? { timeout: h.timeout } : {}) };
    const stage = h.hookName as keyof NonNullable<Spec['hooks']>;
    (hooks[stage] ??= []).push(hook);
  }
}

/** Applies `blocks` (from resolveCdiRequests, device nodes filled) to a copy of `input`. */
export function applyCdiEdits(input: Spec, blocks: readonly CdiEditsSource[], opts: CdiApplyOptions): CdiApplied {
  refuseUnsupported(blocks);
  const spec = structuredClone(input);
  const deviceHostPaths = new Map<string, string>();
  applyEnv(spec, blocks);
  applyDevices(spec, blocks, deviceHostPaths);
  applyMounts(spec, blocks, opts);
  applyHooks(spec, blocks);
  for (const b of blocks) {
    const rdt = b.edits.intelRdt;
    if (!rdt) continue;
    const linux = (spec.linux ??= {});
    linux.intelRdt = {
      ...(rdt.closID ? { closID: rdt.closID } : {}),
      ...(rdt.l3CacheSchema ? { l3CacheSchema: rdt.l3CacheSchema } : {}),
      ...(rdt.memBwSchema ? { memBwSchema: rdt.memBwSchema } : {}),
    };
  }
  const gids = blocks.flatMap((b) => b.edits.additionalGids ?? []).filter((g) => g !== 0);
  if (gids.length > 0) {
    const process = (spec.process ??= { cwd: '/' });
    const user = (process.user ??= { uid: 0, gid: 0 });
    const list = (user.additionalGids ??= []);
    for (const g of gids) if (!list.includes(g)) list.push(g);
  }
  return { spec, deviceHostPaths };
}
