import { InvalidArgumentError } from '../errors';
import type { SpecSeccomp } from '../oci/spec-input';

/**
 * The seccomp profile file format CRI-O reads (containers/common `seccomp.Seccomp`, a superset of
 * the OCI `linux.seccomp` object): rules may carry `includes`/`excludes` conditions on capabilities
 * and architectures, errnos may be given by name, and `archMap` lists sub-architectures per native
 * architecture. parseSeccompProfile validates untrusted JSON into this shape.
 */

/** A seccomp action (SCMP_ACT_*), as the OCI spec spells it. */
export type SeccompAction = SpecSeccomp['defaultAction'];

/** A libseccomp architecture (SCMP_ARCH_*). */
export type SeccompArch = NonNullable<SpecSeccomp['architectures']>[number];

/** A seccomp filter flag (SECCOMP_FILTER_FLAG_*). */
export type SeccompFlag = NonNullable<SpecSeccomp['flags']>[number];

/** A comparison operator for syscall arguments (SCMP_CMP_*). */
export type SeccompOperator = NonNullable<NonNullable<SpecSeccomp['syscalls']>[number]['args']>[number]['op'];

/** A condition on a rule: every listed capability (includes) / any listed capability (excludes). */
export interface SeccompFilter {
  caps?: string[];
  /** libseccomp native architecture names: amd64, x86, x32, arm, arm64, s390x, ppc64le, … */
  arches?: string[];
}

/** One argument comparison. */
export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: SeccompOperator;
}

/** One rule of a profile. */
export interface SeccompRule {
  name?: string;
  names?: string[];
  action: SeccompAction;
  args?: SeccompArg[];
  comment?: string;
  includes?: SeccompFilter;
  excludes?: SeccompFilter;
  errnoRet?: number;
  /** Errno by name (EPERM) or number; wins over errnoRet, as in containers/common. */
  errno?: string;
}

/** A native architecture and the sub-architectures allowed with it. */
export interface SeccompArchMapEntry {
  architecture: SeccompArch;
  subArchitectures: SeccompArch[];
}

/** A whole profile file. */
export interface SeccompProfile {
  defaultAction: SeccompAction | '';
  defaultErrnoRet?: number;
  defaultErrno?: string;
  architectures?: SeccompArch[];
  archMap?: SeccompArchMapEntry[];
  syscalls: SeccompRule[];
  flags?: SeccompFlag[];
  listenerPath?: string;
  listenerMetadata?: string;
}

/** Every action runc 1.1 accepts. */
export const SECCOMP_ACTIONS: readonly SeccompAction[] = [
  'SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY',
];

const ARCHES: readonly SeccompArch[] = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_MIPS',
  'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32',
  'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC',
  'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64',
];

const FLAGS: readonly SeccompFlag[] = [
  'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
];

const OPERATORS: readonly SeccompOperator[] = [
  'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ',
];

type Json = Record<string, unknown>;

/** Validation with error messages that name the file and the JSON path of the bad value. */
class Reader {
  constructor(private readonly source: string) {}

  fail(path: string, want: string, got: unknown): never {
    const shown = JSON.stringify(got) ?? 'undefined';
    throw new InvalidArgumentError(`seccomp profile ${this.source}: ${path} must be ${want}, got ${shown.length > 120 ? `${shown.slice(0, 120)}…` : shown}`);
  }

  object(v: unknown, path: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, 'an object', v);
    return v as Json;
  }

  optString(v: unknown, path: string): string | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(path, 'a string', v);
    return v;
  }

  optStrings(v: unknown, path: string): string[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) this.fail(path, 'an array of strings', v);
    return [...(v as string[])];
  }

  /** Unsigned integers; larger than 2^53 cannot be represented exactly in JSON numbers here, so refused. */
  optUint(v: unknown, path: string): number | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) this.fail(path, 'an unsigned integer below 2^53', v);
    return v;
  }

  oneOf<T extends string>(v: unknown, allowed: readonly T[], path: string): T {
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) this.fail(path, `one of ${allowed.join(', ')}`, v);
    return v as T;
  }

  optOneOfList<T extends string>(v: unknown, allowed: readonly T[], path: string): T[] | undefined {
    const list = this.optStrings(v, path);
    return list?.map((s, i) => this.oneOf(s, allowed, `${path}[${i}]`));
  }

  filter(v: unknown, path: string): SeccompFilter | undefined {
    if (v === undefined || v === null) return undefined;
    const o = this.object(v, path);
    const caps = this.optStrings(o.caps, `${path}.caps`);
    const arches = this.optStrings(o.arches, `${path}.arches`);
    return { ...(caps?.length ? { caps } : {}), ...(arches?.length ? { arches } : {}) };
  }

  arg(v: unknown, path: string): SeccompArg {
    const o = this.object(v, path);
    const valueTwo = this.optUint(o.valueTwo, `${path}.valueTwo`);
    return {
      index: this.optUint(o.index, `${path}.index`) ?? 0,
      value: this.optUint(o.value, `${path}.value`) ?? 0,
      ...(valueTwo ? { valueTwo } : {}),
      op: this.oneOf(o.op, OPERATORS, `${path}.op`),
    };
  }

  rule(v: unknown, path: string): SeccompRule {
    const o = this.object(v, path);
    const rule: SeccompRule = { action: this.oneOf(o.action, SECCOMP_ACTIONS, `${path}.action`) };
    const name = this.optString(o.name, `${path}.name`);
    const names = this.optStrings(o.names, `${path}.names`);
    if (name && names?.length) this.fail(path, "either 'name' or 'names', not both", { name, names });
    if (name) rule.name = name;
    if (names) rule.names = names;
    if (o.args !== undefined && o.args !== null) {
      if (!Array.isArray(o.args)) this.fail(`${path}.args`, 'an array', o.args);
      rule.args = o.args.map((a, i) => this.arg(a, `${path}.args[${i}]`));
    }
    const includes = this.filter(o.includes, `${path}.includes`);
    const excludes = this.filter(o.excludes, `${path}.excludes`);
    if (includes && Object.keys(includes).length > 0) rule.includes = includes;
    if (excludes && Object.keys(excludes).length > 0) rule.excludes = excludes;
    const errnoRet = this.optUint(o.errnoRet, `${path}.errnoRet`);
    if (errnoRet !== undefined) rule.errnoRet = errnoRet;
    const errno = this.optString(o.errno, `${path}.errno`);
    if (errno) rule.errno = errno;
    return rule;
  }
}

/**
 * Validates a parsed profile file. Unknown keys are ignored (as Go's decoder does); wrong types,
 * unknown actions, operators, architectures and flags are refused here rather than by runc later.
 */
export function parseSeccompProfile(json: unknown, source: string): SeccompProfile {
  const r: Reader = new Reader(source);
  const o = r.object(json, 'profile');
  const defaultAction = o.defaultAction === undefined || o.defaultAction === '' ? '' : r.oneOf(o.defaultAction, SECCOMP_ACTIONS, 'defaultAction');
  const rawSyscalls = o.syscalls ?? [];
  if (!Array.isArray(rawSyscalls)) r.fail('syscalls', 'an array', rawSyscalls);
  const syscalls = rawSyscalls.map((s: unknown, i) => r.rule(s, `syscalls[${i}]`));
  const profile: SeccompProfile = { defaultAction, syscalls };
  const defaultErrnoRet = r.optUint(o.defaultErrnoRet, 'defaultErrnoRet');
  if (defaultErrnoRet !== undefined) profile.defaultErrnoRet = defaultErrnoRet;
  const defaultErrno = r.optString(o.defaultErrno, 'defaultErrno');
  if (defaultErrno) profile.defaultErrno = defaultErrno;
  const architectures = r.optOneOfList(o.architectures, ARCHES, 'architectures');
  if (architectures?.length) profile.architectures = architectures;
  const archMap = o.archMap;
  if (archMap !== undefined && archMap !== null) {
    if (!Array.isArray(archMap)) r.fail('archMap', 'an array', archMap);
    profile.archMap = archMap.map((e: unknown, i) => {
      const entry = r.object(e, `archMap[${i}]`);
      return {
        architecture: r.oneOf(entry.architecture, ARCHES, `archMap[${i}].architecture`),
        subArchitectures: r.optOneOfList(entry.subArchitectures, ARCHES, `archMap[${i}].subArchitectures`) ?? [],
      };
    });
  }
  if (profile.architectures && profile.archMap?.length) {
    r.fail('profile', "either 'architectures' or 'archMap', not both", Object.keys(o));
  }
  const flags = r.optOneOfList(o.flags, FLAGS, 'flags');
  if (flags?.length) profile.flags = flags;
  const listenerPath = r.optString(o.listenerPath, 'listenerPath');
  if (listenerPath) profile.listenerPath = listenerPath;
  const listenerMetadata = r.optString(o.listenerMetadata, 'listenerMetadata');
  if (listenerMetadata) profile.listenerMetadata = listenerMetadata;
  return profile;
}

/** Parses profile file text (JSON) and validates it. */
export function parseSeccompProfileText(text: string, source: string): SeccompProfile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`seccomp profile ${source}: decoding failed: ${(err as Error).message}`, { cause: err });
  }
  return parseSeccompProfile(json, source);
}
