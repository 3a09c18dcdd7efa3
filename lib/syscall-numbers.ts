/**
 * Linux system call numbers for the perl scripts that make what node cannot (pod namespaces in
 * pod-pinns.ts, the sealed runc copy in sealed-runtime.ts): perl's `syscall` takes numbers, and
 * sys/syscall.ph is not in perl-base. Undefined on an architecture not listed here; the callers
 * then fall back to what they did without perl.
 */
export interface SyscallNumbers {
  unshare: number;
  mount: number;
  sethostname: number;
  memfdCreate: number;
  fcntl: number;
}

const BY_ARCH: Partial<Record<string, SyscallNumbers>> = {
  x64: { unshare: 272, mount: 165, sethostname: 170, memfdCreate: 319, fcntl: 72 },
  arm64: { unshare: 97, mount: 40, sethostname: 161, memfdCreate: 279, fcntl: 25 },
};

/** The numbers for `arch` (node's process.arch). */
export function syscallNumbers(arch: string = process.arch): SyscallNumbers | undefined {
  return BY_ARCH[arch];
}
