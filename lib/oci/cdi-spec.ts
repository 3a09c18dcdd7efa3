import { InvalidArgumentError } from '../errors';
import { classProblem, deviceNameProblem, parseKind, vendorProblem } from './cdi-names';
import { arrayOf, bool, int64, integer, str, stringMap, strings, struct, uint32, type Decoder } from './go-json';

/**
 * One CDI spec file (the Container Device Interface, SPEC.md of cncf-tags/container-device-interface),
 * decoded strictly and validated as the reference library does: known `cdiVersion` (0.3.0 to 1.1.0),
 * at least the version whose fields the file uses, valid kind and device names, valid edits.
 * Pure: the caller reads the file (lib/oci/cdi-cache.ts).
 */

export interface CdiDeviceNode {
  /** Path in the container. */
  path: string;
  /** Path on the host (0.5.0); default `path`. */
  hostPath?: string;
  /** b, c, u or p; read from the host when absent. */
  type?: string;
  major?: number;
  minor?: number;
  fileMode?: number;
  /** cgroup access: any of r, w, m; empty = rwm; "none" = no access rule. */
  permissions?: string;
  uid?: number;
  gid?: number;
}

export interface CdiMount {
  hostPath: string;
  containerPath: string;
  options?: string[];
  /** 0.4.0 */
  type?: string;
}

export interface CdiHook {
  hookName: string;
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface CdiIntelRdt {
  closID?: string;
  l3CacheSchema?: string;
  memBwSchema?: string;
  /** 1.1.0 */
  schemata?: string[];
  /** 1.1.0 */
  enableMonitoring?: boolean;
}

export interface CdiNetDevice {
  hostInterfaceName: string;
  name: string;
}

export interface CdiContainerEdits {
  env?: string[];
  deviceNodes?: CdiDeviceNode[];
  /** 1.1.0 */
  netDevices?: CdiNetDevice[];
  hooks?: CdiHook[];
  mounts?: CdiMount[];
  /** 0.7.0 */
  intelRdt?: CdiIntelRdt;
  /** 0.7.0; zeros are ignored. */
  additionalGids?: number[];
}

export interface CdiDevice {
  name: string;
  /** 0.6.0 */
  annotations?: Record<string, string>;
  containerEdits: CdiContainerEdits;
}

/** The document as written. */
export interface CdiSpecDoc {
  cdiVersion: string;
  kind: string;
  /** 0.6.0 */
  annotations?: Record<string, string>;
  devices: CdiDevice[];
  containerEdits?: CdiContainerEdits;
}

/** A loaded spec: the document plus where it came from. */
export interface CdiSpec {
  path: string;
  /** Index of its directory in cdi_spec_dirs: a later directory wins a device name. */
  priority: number;
  vendor: string;
  cls: string;
  doc: CdiSpecDoc;
}

const STRICT = true;
const deviceNode = struct<CdiDeviceNode>(
  { path: str, hostPath: str, type: str, major: int64, minor: int64, fileMode: uint32, permissions: str, uid: uint32, gid: uint32 },
  STRICT,
);
const mount = struct<CdiMount>({ hostPath: str, containerPath: str, options: strings, type: str }, STRICT);
const hook = struct<CdiHook>({ hookName: str, path: str, args: strings, env: strings, timeout: integer(-2147483648, 2147483647) }, STRICT);
const intelRdt = struct<CdiIntelRdt>({ closID: str, l3CacheSchema: str, memBwSchema: str, schemata: strings, enableMonitoring: bool }, STRICT);
const netDevice = struct<CdiNetDevice>({ hostInterfaceName: str, name: str }, STRICT);
const edits = struct<CdiContainerEdits>(
  {
    env: strings,
    deviceNodes: arrayOf(required(deviceNode, ['path'])),
    netDevices: arrayOf(required(netDevice, ['hostInterfaceName', 'name'])),
    hooks: arrayOf(required(hook, ['hookName', 'path'])),
    mounts: arrayOf(required(mount, ['hostPath', 'containerPath'])),
    intelRdt: intelRdt,
    additionalGids: arrayOf(uint32),
  },
  STRICT,
);
const device = required(
  struct<CdiDevice>({ name: str, annotations: stringMap, containerEdits: (v, w) => edits(v, w) as CdiContainerEdits }, STRICT),
  ['name'],
);
const specDoc = struct<CdiSpecDoc>(
  {
    cdiVersion: str,
    kind: str,
    annotations: stringMap,
    devices: arrayOf((v, w) => ({ containerEdits: {}, ...device(v, w) })),
    containerEdits: (v, w) => edits(v, w) as CdiContainerEdits,
  },
  STRICT,
);

/**
 * Go zero values: a field the struct has but the file omits is "" or 0, so an omitted required
 * string reads as empty and validation then names it; here it becomes '' explicitly.
 */
function required<T extends object, K extends keyof T>(d: Decoder<Partial<T>>, keys: K[]): Decoder<Partial<T> & Pick<T, K>> {
  return (v, where) => {
    const out = d(v, where) as Record<string, unknown>;
    for (const k of keys) out[k as string] ??= '';
    return out as Partial<T> & Pick<T, K>;
  };
}

/** Known spec versions, newest first, each with a test for fields it introduced. */
const VERSIONS: { version: string; needs?: (doc: CdiSpecDoc) => boolean }[] = [
  { version: '1.1.0', needs: (d) => allEdits(d).some((e) => (e.netDevices?.length ?? 0) > 0 || e.intelRdt?.schemata !== undefined || e.intelRdt?.enableMonitoring === true) },
  { version: '1.0.0' },
  { version: '0.8.0' },
  { version: '0.7.0', needs: (d) => allEdits(d).some((e) => e.intelRdt !== undefined || (e.additionalGids?.length ?? 0) > 0) },
  {
    version: '0.6.0',
    needs: (d) => Object.keys(d.annotations ?? {}).length > 0 || d.devices.some((x) => Object.keys(x.annotations ?? {}).length > 0) || d.kind.slice(d.kind.indexOf('/') + 1 || d.kind.length).includes('.'),
  },
  { version: '0.5.0', needs: (d) => d.devices.some((x) => /^[0-9]/.test(x.name)) || allEdits(d).some((e) => (e.deviceNodes ?? []).some((n) => (n.hostPath ?? '') !== '')) },
  { version: '0.4.0', needs: (d) => allEdits(d).some((e) => (e.mounts ?? []).some((m) => (m.type ?? '') !== '')) },
  { version: '0.3.0' },
  { version: '0.2.0' },
  { version: '0.1.0' },
];
const EARLIEST = '0.3.0';

function allEdits(d: CdiSpecDoc): CdiContainerEdits[] {
  return [...(d.containerEdits ? [d.containerEdits] : []), ...d.devices.map((x) => x.containerEdits)];
}

/** The lowest version whose fields the document uses. */
export function minimumCdiVersion(doc: CdiSpecDoc): string {
  return VERSIONS.find((v) => v.needs?.(doc))?.version ?? EARLIEST;
}

function checkVersion(doc: CdiSpecDoc): void {
  const given = doc.cdiVersion.replace(/^v/, '');
  const index = VERSIONS.findIndex((v) => v.version === given);
  if (index < 0) throw new InvalidArgumentError(`invalid cdiVersion ${JSON.stringify(doc.cdiVersion)} (known: ${VERSIONS.map((v) => v.version).join(', ')})`);
  const min = minimumCdiVersion(doc);
  if (VERSIONS.findIndex((v) => v.version === min) < index) throw new InvalidArgumentError(`the spec version must be at least v${min} for the fields it uses`);
}

const ANNOTATION_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes annotation rules (qualified-name keys, 256 KiB in all), as the library applies them. */
function checkAnnotations(annotations: Record<string, string> | undefined, where: string): void {
  let size = 0;
  for (const [key, value] of Object.entries(annotations ?? {})) {
    size += key.length + value.length;
    const slash = key.lastIndexOf('/');
    const prefix = slash < 0 ? '' : key.slice(0, slash);
    const name = key.slice(slash + 1);
    const ok = ANNOTATION_NAME.test(name) && name.length <= 63 && (slash < 0 || (DNS_SUBDOMAIN.test(prefix) && prefix.length <= 253)) && key.split('/').length <= 2;
    if (!ok) throw new InvalidArgumentError(`${where}.annotations: invalid key ${JSON.stringify(key)}`);
  }
  if (size > 256 * 1024) throw new InvalidArgumentError(`${where}.annotations: larger than 256 KiB`);
}

function checkEnv(env: string[] | undefined, where: string): void {
  for (const e of env ?? []) if (e.indexOf('=') <= 0) throw new InvalidArgumentError(`${where}: invalid environment variable ${JSON.stringify(e)}`);
}

/** The OCI hook stages a CDI hook may name. */
export const CDI_HOOK_NAMES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop'] as const;

function checkEdits(e: CdiContainerEdits, where: string): void {
  checkEnv(e.env, `${where}.env`);
  for (const d of e.deviceNodes ?? []) {
    if (d.path === '') throw new InvalidArgumentError(`${where}.deviceNodes: invalid (empty) device path`);
    if (!['', 'b', 'c', 'u', 'p'].includes(d.type ?? '')) throw new InvalidArgumentError(`${where}: device ${JSON.stringify(d.path)}: invalid type ${JSON.stringify(d.type)}`);
    const p = d.permissions ?? '';
    if (p !== '' && p !== 'none' && !/^[rwm]+$/.test(p)) throw new InvalidArgumentError(`${where}: device ${JSON.stringify(d.path)}: invalid permissions ${JSON.stringify(p)}`);
  }
  for (const h of e.hooks ?? []) {
    if (!(CDI_HOOK_NAMES as readonly string[]).includes(h.hookName)) throw new InvalidArgumentError(`${where}.hooks: invalid hook name ${JSON.stringify(h.hookName)}`);
    if (h.path === '') throw new InvalidArgumentError(`${where}.hooks: invalid hook ${JSON.stringify(h.hookName)} with empty path`);
    checkEnv(h.env, `${where}.hooks: hook ${JSON.stringify(h.hookName)} env`);
  }
  for (const m of e.mounts ?? []) {
    if (m.hostPath === '') throw new InvalidArgumentError(`${where}.mounts: invalid mount, empty host path`);
    if (m.containerPath === '') throw new InvalidArgumentError(`${where}.mounts: invalid mount, empty container path`);
  }
  const clos = e.intelRdt?.closID ?? '';
  if (clos !== '/' && (clos.length >= 4096 || clos === '.' || clos === '..' || /[/\n]/.test(clos))) throw new InvalidArgumentError(`${where}.intelRdt: invalid closID`);
  const hostSeen = new Set<string>();
  const nameSeen = new Set<string>();
  for (const n of e.netDevices ?? []) {
    if (n.hostInterfaceName === '' || n.name === '') throw new InvalidArgumentError(`${where}.netDevices: empty hostInterfaceName or name`);
    if (hostSeen.has(n.hostInterfaceName) || nameSeen.has(n.name)) throw new InvalidArgumentError(`${where}.netDevices: duplicate interface ${JSON.stringify(n.hostInterfaceName)} or ${JSON.stringify(n.name)}`);
    hostSeen.add(n.hostInterfaceName);
    nameSeen.add(n.name);
  }
}

function editsEmpty(e: CdiContainerEdits): boolean {
  const lists = [e.env, e.deviceNodes, e.hooks, e.mounts, e.additionalGids, e.netDevices];
  return lists.every((l) => (l?.length ?? 0) === 0) && e.intelRdt === undefined;
}

/**
 * Decodes and validates a spec already parsed from JSON or YAML. Throws InvalidArgumentError
 * whose message starts with what is wrong (the caller adds the file name).
 */
export function decodeCdiSpec(raw: unknown, path: string, priority: number): CdiSpec {
  if (raw === null || raw === undefined) throw new InvalidArgumentError('no spec data');
  const partial = specDoc(raw, 'spec');
  const doc: CdiSpecDoc = { cdiVersion: '', kind: '', devices: [], ...partial };
  checkVersion(doc);
  const { vendor, cls } = parseKind(doc.kind);
  const kindProblem = vendor === '' ? `invalid kind ${JSON.stringify(doc.kind)}, want <vendor>/<class>` : (vendorProblem(vendor) ?? classProblem(cls));
  if (kindProblem !== undefined) throw new InvalidArgumentError(kindProblem);
  checkAnnotations(doc.annotations, 'spec');
  if (doc.containerEdits) checkEdits(doc.containerEdits, 'spec.containerEdits');
  const names = new Set<string>();
  for (const d of doc.devices) {
    const where = `device ${JSON.stringify(d.name)}`;
    const problem = deviceNameProblem(d.name);
    if (problem !== undefined) throw new InvalidArgumentError(problem);
    checkAnnotations(d.annotations, where);
    if (editsEmpty(d.containerEdits)) throw new InvalidArgumentError(`${where}: invalid device, empty device edits`);
    checkEdits(d.containerEdits, `${where}.containerEdits`);
    if (names.has(d.name)) throw new InvalidArgumentError(`invalid spec, multiple device ${JSON.stringify(d.name)}`);
    names.add(d.name);
  }
  if (names.size === 0) throw new InvalidArgumentError('invalid spec, no devices');
  return { path, priority, vendor, cls, doc };
}
