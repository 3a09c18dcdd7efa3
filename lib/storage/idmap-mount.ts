import { promises as fs } from 'node:fs';
import path from 'node:path';
import { InternalError, UnavailableError } from '../errors';
import { PERL_SYSCALLS } from '../perl-syscalls';
import { runProgram, stderrTail } from '../process';
import { idMapText, type IdMappings } from '../idmap';
import type { MountSpec } from './mount';

/**
 * Overlay mounts of user-namespaced containers. Image layers stay as unpacked (owned by the
 * image's ids); each lower layer is seen through an idmapped mount (Linux ≥ 5.19 lets overlayfs
 * use those), so that inside the pod's user namespace files keep the owners the image gave
 * them — no chown copy of the image per pod, as containers/storage needs without idmapped
 * mounts. Files the container writes land in its upper dir owned by its host ids.
 *
 * One perl process (lib/perl-syscalls.ts) makes a throw-away user namespace with the pod's maps,
 * idmaps every lower layer onto a staging directory, mounts the overlay over the staging paths
 * and detaches them again: overlayfs keeps its own references to the layers.
 */

const IDMAP_OVERLAY = String.raw`
my ($uidmap, $gidmap, $cwd, $data, $target, @pairs) = @ARGV;
my ($pid, $go) = fork_unshared(CLONE_NEWUSER);
POSIX::_exit(0) if $pid == 0;
my $ok = eval {
  write_id_maps($pid, $uidmap, $gidmap);
  open(my $ns, '<', "/proc/$pid/ns/user") or die "open user namespace: $!\n";
  close $go; waitpid($pid, 0); $go = undef;
  my @staged;
  my $done = eval {
    while (@pairs) {
      my ($src, $dst) = splice(@pairs, 0, 2);
      my $empty = '';
      my $fd = syscall($SYS{open_tree}, AT_FDCWD, $src, 1 | 0x80000); # OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC
      die "open_tree $src: $!\n" if $fd < 0;
      my $attr = pack('QQQQ', 0x100000, 0, 0, fileno($ns)); # MOUNT_ATTR_IDMAP, userns fd
      syscall($SYS{mount_setattr}, $fd, $empty, 0x1000, $attr, length $attr) == 0 or die "idmap $src: $!\n"; # AT_EMPTY_PATH
      syscall($SYS{move_mount}, $fd, $empty, AT_FDCWD, $dst, 4) == 0 or die "mount $src on $dst: $!\n"; # MOVE_MOUNT_F_EMPTY_PATH
      POSIX::close($fd);
      push @staged, $dst;
    }
    chdir($cwd) or die "chdir $cwd: $!\n";
    sys_mount('overlay', $target, 'overlay', 0, $data);
    1;
  };
  my $err = $@;
  for my $dst (@staged) { my $d = $dst; syscall($SYS{umount2}, $d, MNT_DETACH); }
  die $err unless $done;
  1;
};
if (!$ok) { close $go if $go; waitpid($pid, 0); print STDERR $@; exit 1; }
`;

const TIMEOUT_MS = 60_000;

/** An idmapped overlay: `spec` is an overlay MountSpec whose lower dirs are relative to its cwd (the staging dir). */
export interface IdmappedOverlay {
  spec: MountSpec;
  /** Each lower layer: the real directory and its staging mount point (relative to spec.cwd). */
  lowers: { source: string; staging: string }[];
  mappings: IdMappings;
}

/** Mounts the overlay over idmapped views of its lower layers; nothing stays mounted on failure. */
export async function mountIdmappedOverlay(o: IdmappedOverlay): Promise<void> {
  const cwd = o.spec.cwd;
  if (cwd === undefined) throw new InternalError('idmapped overlay mount needs the staging directory as cwd');
  const pairs: string[] = [];
  for (const l of o.lowers) {
    const staging = path.join(cwd, l.staging);
    await fs.mkdir(staging, { recursive: true, mode: 0o700 });
    pairs.push(l.source, staging);
  }
  const args = ['-e', PERL_SYSCALLS + IDMAP_OVERLAY, '--', idMapText(o.mappings.uids), idMapText(o.mappings.gids), cwd, o.spec.options.join(','), o.spec.target, ...pairs];
  let res;
  try {
    res = await runProgram('perl', args, { timeoutMs: TIMEOUT_MS });
  } catch (err) {
    throw new UnavailableError('cannot run perl for an idmapped overlay mount', { cause: err });
  }
  if (res.exitCode !== 0) {
    throw new InternalError(`idmapped overlay mount on ${o.spec.target} failed (exit ${res.exitCode}): ${stderrTail(res)}`);
  }
}
