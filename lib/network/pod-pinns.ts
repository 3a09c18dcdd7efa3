import { syscallNumbers } from '../syscall-numbers';

/**
 * The one process that creates, pins and sets up a pod's net/ipc/uts namespaces (no user
 * namespace: userns-pinns.ts does those), as CRI-O's pinns does in one exec. Since issue 17 a
 * thread of the daemon does this work (native/pod-ns.c, pod-ns-native.ts, same steps in the same
 * order); this script is the fallback without the addon, or with CRIO_TS_PODNS=exec.
 *
 * Why: unshare(1) pinning the namespaces and then running `sh -ec` with `ip link set lo up` and
 * `mount -t tmpfs` inside them is four execs in a row (~17 ms, measured, of every
 * RunPodSandbox, on the path to the CNI ADD); this script is one (~8 ms). It does what
 * `ip netns add` does: unshare(2) in its own process, then bind-mounts /proc/self/ns/<kind> onto
 * each file (the mount namespace stays the host's), then sethostname(2), `lo` up with
 * SIOCSIFFLAGS, the namespaced sysctls through /proc/sys (which shows the writer's namespaces)
 * and the /dev/shm tmpfs. Any failure exits non-zero with the reason on stderr; the caller
 * unmounts what was pinned.
 *
 * Plain perl with no modules (POSIX alone costs ~15 ms to load): system call numbers come from
 * syscall-numbers.ts; on others the caller falls back to unshare(1).
 */
const SCRIPT = String.raw`
my ($sys, $nsspec, $hostname, $lo, $shm, @sysctls) = @ARGV;
my ($SYS_unshare, $SYS_mount, $SYS_sethostname) = split /,/, $sys;
my %flag = (net => 0x40000000, ipc => 0x08000000, uts => 0x04000000);
my @ns = map { [split /=/, $_, 2] } grep { length } split /,/, $nsspec;
my $flags = 0;
for (@ns) { $flags |= ($flag{$_->[0]} // die "unknown namespace $_->[0]\n"); }
sub sys_mount {
  my @a = ($_[0], $_[1], $_[2] // 0, $_[3], $_[4] // 0);
  syscall($SYS_mount, @a) == 0 or die "mount $_[0] on $_[1]: $!\n";
}
syscall($SYS_unshare, $flags) == 0 or die "unshare: $!\n";
sys_mount("/proc/self/ns/$_->[0]", $_->[1], undef, 4096, undef) for @ns; # MS_BIND
if (length $hostname) {
  my $name = $hostname;
  syscall($SYS_sethostname, $name, length $name) == 0 or die "sethostname: $!\n";
}
if ($lo) {
  # struct ifreq: 16-byte name, then a union whose first member is the short flags (40 bytes).
  socket(my $s, 2, 2, 0) or die "socket: $!\n"; # AF_INET, SOCK_DGRAM
  my $ifr = pack('a16 x24', 'lo');
  ioctl($s, 0x8913, $ifr) or die "SIOCGIFFLAGS lo: $!\n";
  my $up = unpack('x16 s', $ifr) | 1; # IFF_UP
  $ifr = pack('a16 s x22', 'lo', $up);
  ioctl($s, 0x8914, $ifr) or die "SIOCSIFFLAGS lo: $!\n";
}
for (@sysctls) {
  my ($key, $value) = split /=/, $_, 2;
  open(my $f, '>', "/proc/sys/$key") or die "open /proc/sys/$key: $!\n";
  defined(syswrite($f, "$value\n")) or die "write /proc/sys/$key: $!\n";
  close($f) or die "write /proc/sys/$key: $!\n";
}
if (length $shm) {
  my ($path, $opts) = split /\|/, $shm, 2;
  sys_mount('shm', $path, 'tmpfs', 2 | 4 | 8, $opts); # nosuid, nodev, noexec
}
`;

/** The namespace files to pin, by kind (namespaces.ts PodNamespaces). */
export interface PinnedFiles {
  net?: string;
  ipc?: string;
  uts?: string;
  user?: string;
}

/** What is done inside the new namespaces (namespaces.ts NamespaceSetup). */
export interface PinnsSetup {
  hostname?: string;
  loopbackUp?: boolean;
  shm?: { path: string; sizeBytes: number };
  sysctls?: { path: string; value: string }[];
}

/**
 * `perl` arguments creating `ns` (no user namespace) with `setup` done inside, or undefined on
 * an architecture whose system call numbers are not listed here (pure).
 */
export function podPinnsArgs(ns: PinnedFiles, setup: PinnsSetup, arch: string = process.arch): string[] | undefined {
  const nr = syscallNumbers(arch);
  if (nr === undefined || ns.user !== undefined) return undefined;
  const spec = (['net', 'ipc', 'uts'] as const)
    .filter((k) => ns[k] !== undefined)
    .map((k) => `${k}=${ns[k] as string}`)
    .join(',');
  const hostname = ns.uts !== undefined ? (setup.hostname ?? '') : '';
  const lo = ns.net !== undefined && setup.loopbackUp === true ? '1' : '';
  const shm = setup.shm ? `${setup.shm.path}|mode=1777,size=${Math.floor(setup.shm.sizeBytes)}` : '';
  const sysctls = (setup.sysctls ?? []).map((s) => `${s.path}=${s.value}`);
  return ['-e', SCRIPT, '--', `${nr.unshare},${nr.mount},${nr.sethostname}`, spec, hostname, lo, shm, ...sysctls];
}
