import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errors';
import { parseQualifiedName, qualifiedName } from './cdi-names';
import { quote } from '../quote';
import type { CdiContainerEdits, CdiDevice, CdiSpec } from './cdi-spec';

/**
 * The devices of every loaded CDI spec by qualified name, and the resolution of a container's
 * requests into edits (the reference library's Cache.refresh and InjectDevices), pure.
 *
 * A device defined in specs of two directories comes from the later directory; defined twice at
 * the same priority it is a conflict and cannot be requested (the files are named in the error).
 */

/** A spec file that could not be loaded. */
export interface CdiLoadError {
  path: string;
  message: string;
}

export interface CdiDeviceEntry {
  spec: CdiSpec;
  device: CdiDevice;
}

export interface CdiRegistry {
  /** cdi_spec_dirs, lowest priority first. */
  dirs: readonly string[];
  devices: ReadonlyMap<string, CdiDeviceEntry>;
  /** Qualified name → the spec files defining it at the winning priority. */
  conflicts: ReadonlyMap<string, readonly string[]>;
  errors: readonly CdiLoadError[];
}

/** Builds the registry from specs in scan order (directories by priority, files by name). */
export function buildCdiRegistry(dirs: readonly string[], specs: readonly CdiSpec[], errors: readonly CdiLoadError[]): CdiRegistry {
  const devices = new Map<string, CdiDeviceEntry>();
  const conflicts = new Map<string, { priority: number; paths: string[] }>();
  for (const spec of specs) {
    for (const device of spec.doc.devices) {
      const name = qualifiedName(spec.vendor, spec.cls, device.name);
      const old = devices.get(name);
      if (old && old.spec.priority === spec.priority) {
        const c = conflicts.get(name);
        if (c && c.priority === spec.priority) c.paths.push(spec.path);
        else conflicts.set(name, { priority: spec.priority, paths: [old.spec.path, spec.path] });
        continue;
      }
      if (old && old.spec.priority > spec.priority) continue;
      devices.set(name, { spec, device });
    }
  }
  const out = new Map<string, readonly string[]>();
  for (const [name, c] of conflicts) {
    // A definition in a later directory overrides a conflict among earlier ones.
    if (devices.get(name)?.spec.priority !== c.priority) continue;
    devices.delete(name);
    out.set(name, c.paths);
  }
  return { dirs, devices, conflicts: out, errors };
}

/** One block of edits, with what to name when it cannot be applied. */
export interface CdiEditsSource {
  edits: CdiContainerEdits;
  /** `CDI device "v/c=n" (spec /etc/cdi/x.yaml)` or `CDI spec /etc/cdi/x.yaml`. */
  source: string;
}

/** What a container's requests resolve to. */
export interface CdiResolution {
  /** Qualified names injected, `=all` expanded, duplicates removed. */
  devices: string[];
  /** In application order: a spec's own edits before its first device's. */
  edits: CdiEditsSource[];
}

function loadErrorsNote(reg: CdiRegistry): string {
  if (reg.errors.length === 0) return '';
  const shown = reg.errors.slice(0, 3).map((e) => `${e.path}: ${e.message}`);
  const more = reg.errors.length > shown.length ? `; and ${reg.errors.length - shown.length} more` : '';
  return `; spec files that failed to load: ${shown.join('; ')}${more}`;
}

/** `v/c=all` when no spec defines a device named "all": every device of that kind, by name. */
function expandAll(reg: CdiRegistry, request: string): string[] | undefined {
  const q = parseQualifiedName(request);
  if (typeof q === 'string' || q.name !== 'all' || reg.devices.has(request) || reg.conflicts.has(request)) return undefined;
  const prefix = qualifiedName(q.vendor, q.cls, '');
  const names = [...reg.devices.keys()].filter((n) => n.startsWith(prefix)).sort();
  return names.length > 0 ? names : undefined;
}

/**
 * Resolves requested device names. Throws InvalidArgumentError for a malformed name,
 * FailedPreconditionError for a conflicting definition, NotFoundError for an unknown device;
 * each message names the device and the spec files involved.
 */
export function resolveCdiRequests(reg: CdiRegistry, requested: readonly string[]): CdiResolution {
  const names: string[] = [];
  for (const r of requested) {
    const q = parseQualifiedName(r);
    if (typeof q === 'string') throw new InvalidArgumentError(`CDI device request: ${q}`);
    for (const n of expandAll(reg, r) ?? [r]) if (!names.includes(n)) names.push(n);
  }
  const edits: CdiEditsSource[] = [];
  const specsSeen = new Set<CdiSpec>();
  for (const name of names) {
    const conflict = reg.conflicts.get(name);
    if (conflict) throw new FailedPreconditionError(`CDI device ${quote(name)} is defined by conflicting specs of equal priority: ${conflict.join(', ')}`);
    const entry = reg.devices.get(name);
    if (!entry) {
      throw new NotFoundError(`CDI device ${quote(name)} is not defined by any CDI spec in ${reg.dirs.join(', ') || '(no cdi_spec_dirs)'}${loadErrorsNote(reg)}`);
    }
    if (!specsSeen.has(entry.spec)) {
      specsSeen.add(entry.spec);
      if (entry.spec.doc.containerEdits) edits.push({ edits: entry.spec.doc.containerEdits, source: `CDI spec ${entry.spec.path} (for device ${JSON.stringify(name)})` });
    }
    edits.push({ edits: entry.device.containerEdits, source: `CDI device ${quote(name)} (spec ${entry.spec.path})` });
  }
  return { devices: names, edits };
}
