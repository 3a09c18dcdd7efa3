/**
 * The Perl prologue of crio-ts' small system helpers (pod user namespaces, idmapped layers).
 *
 * Why Perl: what these helpers do — unshare(2) with CLONE_NEWUSER and writing the new
 * namespace's id maps from the parent, open_tree(2)/mount_setattr(2)/move_mount(2) for
 * idmapped mounts — has no command-line tool in Debian 12 (util-linux 2.38's unshare cannot pin
 * a user namespace it maps as root, and `mount -o X-mount.idmap` arrived in 2.39), Node cannot
 * make raw system calls, and Perl's `syscall` can, with nothing to compile: perl is on every
 * Debian and Ubuntu system. The helpers are passed to `perl -e`, so no file has to be found at
 * run time.
 *
 * System call numbers: the new mount API calls have the same numbers on every architecture;
 * unshare/mount/umount2 differ, so the common ones are listed and others come from the
 * h2ph headers (syscall.ph) of the perl package.
 */
export const PERL_SYSCALLS = String.raw`
use strict; use warnings; use POSIX ();
my %SYS;
{
  my %by_arch = (
    x86_64  => { unshare => 272, mount => 165, umount2 => 166, sethostname => 170 },
    aarch64 => { unshare => 97,  mount => 40,  umount2 => 39,  sethostname => 161 },
  );
  my $arch = (POSIX::uname())[4];
  if ($by_arch{$arch}) { %SYS = %{ $by_arch{$arch} }; }
  else { require 'syscall.ph'; %SYS = (unshare => &SYS_unshare, mount => &SYS_mount, umount2 => &SYS_umount2, sethostname => &SYS_sethostname); }
  @SYS{qw(open_tree move_mount mount_setattr)} = (428, 429, 442);
}
use constant { CLONE_NEWUSER => 0x10000000, CLONE_NEWNET => 0x40000000, CLONE_NEWIPC => 0x08000000,
  CLONE_NEWUTS => 0x04000000, MS_BIND => 4096, MNT_DETACH => 2, AT_FDCWD => -100 };

# Writes a namespace's uid_map and gid_map from the parent side (root may map any range).
sub write_id_maps {
  my ($pid, $uidmap, $gidmap) = @_;
  for my $m (['uid_map', $uidmap], ['gid_map', $gidmap]) {
    open(my $f, '>', "/proc/$pid/$m->[0]") or die "open /proc/$pid/$m->[0]: $!\n";
    syswrite($f, $m->[1]) // die "write $m->[0] of $pid: $!\n";
    close($f) or die "write $m->[0] of $pid: $!\n";
  }
}

# Forks a child that unshares $flags (always with a new user namespace) and waits; returns
# (pid, go-pipe): write 'g' to let it go on, close the pipe to make it exit.
sub fork_unshared {
  my ($flags) = @_;
  pipe(my $to_child_r, my $to_child_w) or die "pipe: $!\n";
  pipe(my $to_parent_r, my $to_parent_w) or die "pipe: $!\n";
  my $pid = fork() // die "fork: $!\n";
  if ($pid == 0) {
    close $to_child_w; close $to_parent_r;
    if (syscall($SYS{unshare}, $flags) != 0) { print STDERR "unshare: $!\n"; POSIX::_exit(1); }
    syswrite($to_parent_w, 'u'); close $to_parent_w;
    my $go = ''; sysread($to_child_r, $go, 1);
    POSIX::_exit(0) unless $go eq 'g';
    return (0, undef);
  }
  close $to_child_r; close $to_parent_w;
  my $ready = ''; sysread($to_parent_r, $ready, 1);
  if ($ready ne 'u') { waitpid($pid, 0); die "cannot create a user namespace\n"; }
  return ($pid, $to_child_w);
}

# mount(2); perl passes strings as pointers and needs them in writable variables.
sub sys_mount {
  my ($source, $target, $fstype, $flags, $data) = @_;
  my @args = ($source, $target, $fstype // 0, $flags, $data // 0);
  syscall($SYS{mount}, @args) == 0 or die "mount $source on $target: $!\n";
}
`;
