import { PERL_SYSCALLS } from '../perl-syscalls';
import { idMapText, type IdMappings } from '../idmap';

/**
 * The argv that creates a pod's user namespace together with its net/ipc/uts namespaces, the
 * way CRI-O's pinns does for user-namespaced pods (pure). The other namespaces are created in
 * the same unshare(2) as the user namespace, so the pod's user namespace owns them: root of the
 * pod then administers its own network (sysctls, `lo`) and nothing on the host.
 *
 * One perl process (see lib/perl-syscalls.ts for why perl): a child unshares, the parent —
 * still host root — writes the id maps, bind-mounts the namespaces onto their files and mounts
 * the pod's /dev/shm tmpfs owned by the pod's root, then lets the child become root inside and
 * run the setup command (hostname, `lo` up, sysctls) in the new namespaces.
 */

const PINNS = String.raw`
my ($uidmap, $gidmap, $userfile, $nsspec, $shm, $hostname, @cmd) = @ARGV;
my %flag = (net => CLONE_NEWNET, ipc => CLONE_NEWIPC, uts => CLONE_NEWUTS);
my @ns = map { [split /=/, $_, 2] } grep { length } split /,/, $nsspec;
my $flags = CLONE_NEWUSER;
for (@ns) { $flags |= ($flag{$_->[0]} // die "unknown namespace $_->[0]\n"); }
my ($pid, $go) = fork_unshared($flags);
if ($pid == 0) {
  # Become root of the new namespace so that the setup command keeps its capabilities there.
  $) = "0 0"; $( = 0; $> = 0; $< = 0;
  if ($< != 0 || $> != 0) { print STDERR "cannot become root in the pod user namespace: $!\n"; POSIX::_exit(1); }
  if (length $hostname) {
    # /proc/sys/kernel/hostname belongs to the host's root; sethostname(2) asks the UTS namespace's owner.
    my $name = $hostname;
    if (syscall($SYS{sethostname}, $name, length $name) != 0) { print STDERR "sethostname: $!\n"; POSIX::_exit(1); }
  }
  if (@cmd) { { no warnings 'exec'; exec { $cmd[0] } @cmd; } print STDERR "exec $cmd[0]: $!\n"; POSIX::_exit(127); }
  POSIX::_exit(0);
}
write_id_maps($pid, $uidmap, $gidmap);
sys_mount("/proc/$pid/ns/user", $userfile, undef, MS_BIND, undef);
sys_mount("/proc/$pid/ns/$_->[0]", $_->[1], undef, MS_BIND, undef) for @ns;
if (length $shm) {
  my ($path, $opts) = split /\|/, $shm, 2;
  sys_mount('shm', $path, 'tmpfs', 2 | 4 | 8, $opts); # nosuid, nodev, noexec
}
syswrite($go, 'g'); close $go;
waitpid($pid, 0);
exit($? & 127 ? 128 + ($? & 127) : $? >> 8);
`;

/** What userns pinning needs: the namespace files, the maps and the setup to run inside. */
export interface UsernsPinnsInput {
  mappings: IdMappings;
  userFile: string;
  /** Files of the other namespaces, by kind. */
  files: { net?: string; ipc?: string; uts?: string };
  /** /dev/shm tmpfs: path and its mount options (owner = the pod's root on the host). */
  shm?: { path: string; options: string };
  /** Set with sethostname(2) inside the new UTS namespace. */
  hostname?: string;
  /** Run inside the new namespaces as their root; empty = nothing. */
  command: string[];
}

/** `perl` arguments for UsernsPinnsInput. */
export function usernsPinnsArgs(input: UsernsPinnsInput): string[] {
  const nsSpec = (['net', 'ipc', 'uts'] as const)
    .filter((k) => input.files[k] !== undefined)
    .map((k) => `${k}=${input.files[k] as string}`)
    .join(',');
  const shm = input.shm ? `${input.shm.path}|${input.shm.options}` : '';
  return ['-e', PERL_SYSCALLS + PINNS, '--', idMapText(input.mappings.uids), idMapText(input.mappings.gids), input.userFile, nsSpec, shm, input.hostname ?? '', ...input.command];
}
