import { constants as osConstants } from 'node:os';
import { InvalidArgumentError } from '../errors';
import type { SpecSeccomp } from '../oci/spec-input';
import type { SeccompArch, SeccompFilter, SeccompProfile, SeccompRule } from './seccomp-profile';
import { quote } from '../quote';

/**
 * Profile file → OCI `linux.seccomp` for one container (containers/common `setupSeccomp`), pure:
 * rules whose `includes`/`excludes` do not hold for the container's bounding capabilities or the
 * host architecture are dropped, `archMap` becomes the native architecture plus its sub-architectures,
 * and errno names become numbers.
 */

type OciSyscall = NonNullable<SpecSeccomp['syscalls']>[number];

/** What the conversion depends on. */
export interface SeccompTarget {
  /** The container's bounding capability set (CAP_X names). */
  bounding: readonly string[];
  /** libseccomp's native architecture name (nativeSeccompArch): amd64, arm64, s390x, … */
  arch: string;
  /** Errno name → number for the host (default: node's os.constants.errno). */
  errnos?: Readonly<Record<string, number>>;
}

/** libseccomp's name for node's `process.arch` (what `includes.arches` in profiles refer to). */
export function nativeSeccompArch(nodeArch: string): string {
  const map: Record<string, string> = {
    x64: 'amd64', ia32: 'x86', arm: 'arm', arm64: 'arm64', s390x: 's390x', s390: 's390', ppc64: 'ppc64le',
    ppc: 'ppc', riscv64: 'riscv64', mips: 'mips', mipsel: 'mipsel', mips64: 'mips64', mips64el: 'mipsel64',
    loong64: 'loong64',
  };
  return map[nodeArch] ?? nodeArch;
}

/** Native arch names that select an `archMap` entry (containers/common `nativeToSeccomp`). */
const NATIVE_TO_SCMP: Readonly<Record<string, SeccompArch>> = {
  amd64: 'SCMP_ARCH_X86_64',
  arm64: 'SCMP_ARCH_AARCH64',
  mips64: 'SCMP_ARCH_MIPS64',
  mips64n32: 'SCMP_ARCH_MIPS64N32',
  mipsel64: 'SCMP_ARCH_MIPSEL64',
  mipsel64n32: 'SCMP_ARCH_MIPSEL64N32',
  s390x: 'SCMP_ARCH_S390X',
};

function errnoValue(name: string | undefined, fallback: number | undefined, errnos: Readonly<Record<string, number>>): number | undefined {
  if (name === undefined || name === '') return fallback;
  if (/^\d+$/.test(name)) return Number(name);
  const value = errnos[name];
  if (value === undefined) throw new InvalidArgumentError(`seccomp profile: unknown errno ${quote(name)}`);
  return value;
}

/** containers/common semantics: excluded when any listed cap is held; included only when all are. */
function applies(rule: SeccompRule, target: SeccompTarget): boolean {
  const ex: SeccompFilter = rule.excludes ?? {};
  const inc: SeccompFilter = rule.includes ?? {};
  if (ex.arches?.includes(target.arch)) return false;
  if (ex.caps?.some((c) => target.bounding.includes(c))) return false;
  if (inc.arches?.length && !inc.arches.includes(target.arch)) return false;
  if (inc.caps?.some((c) => !target.bounding.includes(c))) return false;
  return true;
}

function toSyscall(names: string[], rule: SeccompRule, errnoRet: number | undefined): OciSyscall {
  const call: OciSyscall = { names: names as OciSyscall['names'], action: rule.action };
  if (errnoRet !== undefined) call.errnoRet = errnoRet;
  if (rule.args?.length) call.args = rule.args.map((a) => ({ index: a.index, value: a.value, ...(a.valueTwo ? { valueTwo: a.valueTwo } : {}), op: a.op }));
  return call;
}

/**
 * The OCI seccomp object for a container, or undefined when the profile disables seccomp (no default
 * action and no rules, as containers/common treats an empty profile).
 */
export function toOciSeccomp(profile: Readonly<SeccompProfile>, target: SeccompTarget): SpecSeccomp | undefined {
  if (profile.defaultAction === '' && profile.syscalls.length === 0) return undefined;
  if (profile.defaultAction === '') throw new InvalidArgumentError('seccomp profile: defaultAction is empty but rules are given');
  const errnos = target.errnos ?? (osConstants.errno as Readonly<Record<string, number>>);
  const out: SpecSeccomp = { defaultAction: profile.defaultAction };
  const defaultErrnoRet = errnoValue(profile.defaultErrno, profile.defaultErrnoRet, errnos);
  if (defaultErrnoRet !== undefined) out.defaultErrnoRet = defaultErrnoRet;

  const architectures: SeccompArch[] = [...(profile.architectures ?? [])];
  const native = NATIVE_TO_SCMP[target.arch];
  const entry = native === undefined ? undefined : profile.archMap?.find((a) => a.architecture === native);
  if (entry) architectures.push(entry.architecture, ...entry.subArchitectures);
  if (architectures.length > 0) out.architectures = architectures;
  if (profile.flags?.length) out.flags = [...profile.flags];
  if (profile.listenerPath) out.listenerPath = profile.listenerPath;
  if (profile.listenerMetadata) out.listenerMetadata = profile.listenerMetadata;

  const syscalls: OciSyscall[] = [];
  for (const rule of profile.syscalls) {
    if (!applies(rule, target)) continue;
    const errnoRet = errnoValue(rule.errno, rule.errnoRet, errnos);
    if (rule.name) syscalls.push(toSyscall([rule.name], rule, errnoRet));
    if (rule.names?.length) syscalls.push(toSyscall([...rule.names], rule, errnoRet));
  }
  if (syscalls.length > 0) out.syscalls = syscalls;
  return out;
}
