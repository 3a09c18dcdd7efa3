import { spawn } from '../spawn';
import { closeSync, fstatSync, openSync, statSync, type Stats } from 'node:fs';
import type { Logger } from '../log';
import { runProgram } from '../process';
import { syscallNumbers, type SyscallNumbers } from '../syscall-numbers';

/**
 * A sealed in-memory copy of runc, for the calls that start a `runc init` (create, exec).
 *
 * Every `runc init` first makes sure it does not run from the host's runc binary, which a
 * container could otherwise open through /proc/<pid>/exe and overwrite (CVE-2019-5736): runc
 * 1.1 makes a read-only bind mount of itself (or copies itself into a memfd) and re-executes
 * from there, on every create and every exec. runc skips that step when its executable is
 * already a memfd with all of F_SEAL_SEAL|SHRINK|GROW|WRITE set, which cannot be written by
 * anyone (runc's own `memfd-bind` tool exists to provide exactly this). Measured here
 * (issue 17): `runc exec <id> true` 62.2 → 58.9 ms p50, and one exec of runc's Go binary less
 * per create and per exec.
 *
 * Node has no memfd_create, so perl (perl-base is an Essential package on Debian and Ubuntu)
 * makes the memfd, copies the binary, seals it and holds it until the daemon has opened it
 * through /proc; the daemon keeps that descriptor and hands `/proc/<daemon pid>/fd/<n>` to
 * runc and conmon. Whatever fails (no perl, an architecture without known syscall numbers,
 * `vm.memfd_noexec`, not a runc) leaves the configured path in use. The copy costs one binary's
 * size in shared memory (8.4 MiB for Debian's runc). When the binary on disk changes (an
 * upgrade), calls go back to it at once and a new copy is made.
 */

/** MFD_ALLOW_SEALING; F_ADD_SEALS; F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE (runc's RUNC_MEMFD_SEALS). */
const SEAL_SCRIPT = `
use strict;
my ($path, $nr_memfd, $nr_fcntl, $name) = @ARGV;
$| = 1;
open(my $in, '<:raw', $path) or die "open $path: $!\\n";
my $fd = syscall($nr_memfd, $name, 2);
die "memfd_create: $!\\n" if $fd < 0;
open(my $out, '>&=', $fd) or die "fdopen: $!\\n";
binmode $out;
my $buf;
while (my $n = sysread($in, $buf, 1 << 20)) {
  my $off = 0;
  while ($off < $n) {
    my $w = syswrite($out, $buf, $n - $off, $off);
    die "write: $!\\n" unless defined $w;
    $off += $w;
  }
}
syscall($nr_fcntl, $fd, 1033, 15) == 0 or die "seal: $!\\n";
print "$fd\\n";
my $wait = <STDIN>;
`;

/** Whether the binary runs and says it is runc (other runtimes copy themselves differently, or not at all). */
async function isRunc(file: string): Promise<boolean> {
  const version = await runProgram(file, ['--version'], { timeoutMs: 10_000 });
  return version.exitCode === 0 && /^runc version /m.test(version.stdout.toString('utf8'));
}

/** What identifies the binary the copy was made from. */
function identity(st: Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** Runs the perl script; resolves with the daemon's own descriptor of the sealed memfd. */
function makeSealedCopy(binaryPath: string, perlPath: string, nr: SyscallNumbers): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(perlPath, ['-e', SEAL_SCRIPT, binaryPath, String(nr.memfdCreate), String(nr.fcntl), 'crio-ts-sealed-runc'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin' },
    });
    let out = '';
    let err = '';
    let settled = false;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      child.stdin.end();
      fn();
    };
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const m = /^(\d+)\n/.exec(out);
      if (!m) return;
      // perl holds the memfd until its stdin closes: open our own descriptor of it first.
      try {
        const fd = openSync(`/proc/${child.pid ?? 0}/fd/${m[1] ?? ''}`, 'r');
        finish(() => resolve(fd));
      } catch (e) {
        finish(() => reject(e instanceof Error ? e : new Error(String(e))));
      }
    });
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    child.once('error', (e) => finish(() => reject(e)));
    child.once('close', (code) => finish(() => reject(new Error(`perl exited ${code ?? 'by a signal'}: ${err.trim()}`))));
  });
}

/** The sealed copy of one runtime binary, kept current with the file on disk. */
export class SealedRuntime {
  private fd: number | undefined;
  private madeFrom: string | undefined;
  private making: Promise<void> | undefined;
  private retired = false;

  private constructor(
    private readonly binaryPath: string,
    private readonly perlPath: string,
    private readonly syscalls: SyscallNumbers,
    private readonly log: Logger,
    /** How long a replaced copy stays open: a conmon started just before may still exec it (its create timeout). */
    private readonly retireAfterMs: number,
  ) {}

  /**
   * Starts making the copy for `binaryPath` when it is a runc and this machine can; undefined
   * when it cannot (the configured path is then used as is).
   */
  static start(binaryPath: string, log: Logger, retireAfterMs = 240_000, perlPath = '/usr/bin/perl'): SealedRuntime | undefined {
    const syscalls = syscallNumbers();
    if (syscalls === undefined) return undefined;
    try {
      statSync(perlPath);
    } catch {
      log.info('runc runs from its own path: no perl to make a sealed copy', { runtimePath: binaryPath });
      return undefined;
    }
    const sealed = new SealedRuntime(binaryPath, perlPath, syscalls, log, retireAfterMs);
    sealed.refresh();
    return sealed;
  }

  /**
   * The path to execute for a call that starts `runc init`: the sealed copy while it matches the
   * binary on disk, otherwise the binary itself (and a new copy is started).
   */
  path(): string {
    if (this.fd === undefined) return this.binaryPath;
    let current: string;
    try {
      current = identity(statSync(this.binaryPath));
    } catch {
      return this.binaryPath;
    }
    if (current === this.madeFrom) return `/proc/${process.pid}/fd/${this.fd}`;
    this.retireCopy();
    this.refresh();
    return this.binaryPath;
  }

  /** Resolves once no copy is being made (for tests and for the first call that wants to wait). */
  async ready(): Promise<void> {
    await this.making;
  }

  /** Closes the copy once calls started from it are past their exec (the handler was replaced). */
  retire(): void {
    this.retired = true;
    this.retireCopy();
  }

  private retireCopy(): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return;
    setTimeout(() => closeSync(fd), this.retireAfterMs).unref();
  }

  private refresh(): void {
    if (this.making) return;
    this.making = this.make()
      .catch((err: unknown) => this.log.info('runc runs from its own path: no sealed copy', { runtimePath: this.binaryPath, err: String(err) }))
      .finally(() => (this.making = undefined));
  }

  private async make(): Promise<void> {
    const before = identity(statSync(this.binaryPath));
    if (!(await isRunc(this.binaryPath))) {
      this.log.debug('not a runc: no sealed copy', { runtimePath: this.binaryPath });
      return;
    }
    const fd = await makeSealedCopy(this.binaryPath, this.perlPath, this.syscalls);
    try {
      const copied = fstatSync(fd);
      const after = statSync(this.binaryPath);
      if (identity(after) !== before || copied.size !== after.size) throw new Error('the binary changed while it was copied');
      // Proves the copy runs (vm.memfd_noexec may forbid it) and is a runc, whose init skips its own copy.
      if (!(await isRunc(`/proc/${process.pid}/fd/${fd}`))) throw new Error('the copy does not run');
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (this.retired) {
      closeSync(fd);
      return;
    }
    this.fd = fd;
    this.madeFrom = before;
    this.log.info('runc runs from a sealed copy', { runtimePath: this.binaryPath, fd });
  }
}
