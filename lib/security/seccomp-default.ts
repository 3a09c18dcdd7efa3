import type { SeccompArg, SeccompProfile } from './seccomp-profile';

/**
 * The built-in RuntimeDefault seccomp profile (data only): containers/common's DefaultProfile (moby-derived,
 * Apache-2.0) as CRI-O 1.37 uses it, with CRI-O's hardening already applied — clone, clone3 and unshare
 * are allowed only with CAP_SYS_ADMIN; without it namespace-creating clone(2) is EPERM, clone3(2) ENOSYS and
 * unshare(2) falls to the default action. Errnos are names so they resolve for the host architecture;
 * `includes`/`excludes` are resolved per container by toOciSeccomp.
 */

/** CLONE_NEWNS, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWCGROUP. */
const NAMESPACE_FLAGS = [0x00020000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x02000000];
const S390 = ['s390', 's390x'];

/** clone flags argument has none of the namespace bits. */
function noNamespaceFlag(index: number): SeccompArg {
  return { index, value: NAMESPACE_FLAGS.reduce((a, b) => a | b, 0), op: 'SCMP_CMP_MASKED_EQ' };
}

/** One condition per namespace bit; runc ORs conditions on the same argument. */
function anyNamespaceFlag(index: number): SeccompArg[] {
  return NAMESPACE_FLAGS.map((flag) => ({ index, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }));
}

const ARCH_MAP: SeccompProfile['archMap'] = [
  { architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] },
  { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] },
  { architecture: 'SCMP_ARCH_MIPS64', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'] },
  { architecture: 'SCMP_ARCH_MIPS64N32', subArchitectures: ['SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64'] },
  { architecture: 'SCMP_ARCH_MIPSEL64', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'] },
  { architecture: 'SCMP_ARCH_MIPSEL64N32', subArchitectures: ['SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64'] },
  { architecture: 'SCMP_ARCH_S390X', subArchitectures: ['SCMP_ARCH_S390'] },
];

const RULES: SeccompProfile['syscalls'] = [
  // Refused with EPERM rather than ENOSYS, so programs see "not permitted" and do not probe for fallbacks.
  {
    names: [
      'bdflush', 'cachestat', 'futex_requeue', 'futex_wait', 'futex_waitv', 'futex_wake', 'io_pgetevents',
      'io_pgetevents_time64', 'kexec_file_load', 'kexec_load', 'map_shadow_stack', 'migrate_pages', 'move_pages',
      'nfsservctl', 'nice', 'oldfstat', 'oldlstat', 'oldolduname', 'oldstat', 'olduname', 'pciconfig_iobase',
      'pciconfig_read', 'pciconfig_write', 'sgetmask', 'ssetmask', 'swapoff', 'swapon', 'syscall', 'sysfs', 'uselib',
      'userfaultfd', 'ustat', 'vm86', 'vm86old', 'vmsplice',
    ],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
  },
  // The allow list (containers/common), minus clone, clone3 and unshare which CRI-O handles below.
  {
    names: [
      '_llseek', '_newselect', 'accept', 'accept4', 'access', 'adjtimex', 'alarm', 'bind', 'brk', 'capget', 'capset',
      'chdir', 'chmod', 'chown', 'chown32', 'clock_adjtime', 'clock_adjtime64', 'clock_getres',
      'clock_getres_time64', 'clock_gettime', 'clock_gettime64', 'clock_nanosleep', 'clock_nanosleep_time64',
      'close', 'close_range', 'connect', 'copy_file_range', 'creat', 'dup', 'dup2', 'dup3', 'epoll_create',
      'epoll_create1', 'epoll_ctl', 'epoll_ctl_old', 'epoll_pwait', 'epoll_pwait2', 'epoll_wait', 'epoll_wait_old',
      'eventfd', 'eventfd2', 'execve', 'execveat', 'exit', 'exit_group', 'faccessat', 'faccessat2', 'fadvise64',
      'fadvise64_64', 'fallocate', 'fanotify_init', 'fanotify_mark', 'fchdir', 'fchmod', 'fchmodat', 'fchmodat2',
      'fchown', 'fchown32', 'fchownat', 'fcntl', 'fcntl64', 'fdatasync', 'fgetxattr', 'flistxattr', 'flock', 'fork',
      'fremovexattr', 'fsconfig', 'fsetxattr', 'fsmount', 'fsopen', 'fspick', 'fstat', 'fstat64', 'fstatat64',
      'fstatfs', 'fstatfs64', 'fsync', 'ftruncate', 'ftruncate64', 'futex', 'futex_time64', 'futimesat',
      'get_mempolicy', 'get_robust_list', 'get_thread_area', 'getcpu', 'getcwd', 'getdents', 'getdents64', 'getegid',
      'getegid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getgroups', 'getgroups32', 'getitimer',
      'getpeername', 'getpgid', 'getpgrp', 'getpid', 'getppid', 'getpriority', 'getrandom', 'getresgid',
      'getresgid32', 'getresuid', 'getresuid32', 'getrlimit', 'getrusage', 'getsid', 'getsockname', 'getsockopt',
      'gettid', 'gettimeofday', 'getuid', 'getuid32', 'getxattr', 'inotify_add_watch', 'inotify_init',
      'inotify_init1', 'inotify_rm_watch', 'io_cancel', 'io_destroy', 'io_getevents', 'io_setup', 'io_submit',
      'ioctl', 'ioprio_get', 'ioprio_set', 'ipc', 'keyctl', 'kill', 'landlock_add_rule', 'landlock_create_ruleset',
      'landlock_restrict_self', 'lchown', 'lchown32', 'lgetxattr', 'link', 'linkat', 'listen', 'listxattr',
      'llistxattr', 'lremovexattr', 'lseek', 'lsetxattr', 'lstat', 'lstat64', 'madvise', 'mbind', 'membarrier',
      'memfd_create', 'memfd_secret', 'mincore', 'mkdir', 'mkdirat', 'mknod', 'mknodat', 'mlock', 'mlock2',
      'mlockall', 'mmap', 'mmap2', 'mount', 'mount_setattr', 'move_mount', 'mprotect', 'mq_getsetattr', 'mq_notify',
      'mq_open', 'mq_timedreceive', 'mq_timedreceive_time64', 'mq_timedsend', 'mq_timedsend_time64', 'mq_unlink',
      'mremap', 'msgctl', 'msgget', 'msgrcv', 'msgsnd', 'msync', 'munlock', 'munlockall', 'munmap',
      'name_to_handle_at', 'nanosleep', 'newfstatat', 'open', 'open_tree', 'openat', 'openat2', 'pause',
      'pidfd_getfd', 'pidfd_open', 'pidfd_send_signal', 'pipe', 'pipe2', 'pivot_root', 'pkey_alloc', 'pkey_free',
      'pkey_mprotect', 'poll', 'ppoll', 'ppoll_time64', 'prctl', 'pread64', 'preadv', 'preadv2', 'prlimit64',
      'process_mrelease', 'process_vm_readv', 'process_vm_writev', 'pselect6', 'pselect6_time64', 'ptrace',
      'pwrite64', 'pwritev', 'pwritev2', 'read', 'readahead', 'readlink', 'readlinkat', 'readv', 'reboot', 'recv',
      'recvfrom', 'recvmmsg', 'recvmmsg_time64', 'recvmsg', 'remap_file_pages', 'removexattr', 'rename', 'renameat',
      'renameat2', 'restart_syscall', 'rmdir', 'rseq', 'rt_sigaction', 'rt_sigpending', 'rt_sigprocmask',
      'rt_sigqueueinfo', 'rt_sigreturn', 'rt_sigsuspend', 'rt_sigtimedwait', 'rt_sigtimedwait_time64',
      'rt_tgsigqueueinfo', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_getaffinity', 'sched_getattr',
      'sched_getparam', 'sched_getscheduler', 'sched_rr_get_interval', 'sched_rr_get_interval_time64',
      'sched_setaffinity', 'sched_setattr', 'sched_setparam', 'sched_setscheduler', 'sched_yield', 'seccomp',
      'select', 'semctl', 'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'send', 'sendfile', 'sendfile64',
      'sendmmsg', 'sendmsg', 'sendto', 'set_mempolicy', 'set_robust_list', 'set_thread_area', 'set_tid_address',
      'setfsgid', 'setfsgid32', 'setfsuid', 'setfsuid32', 'setgid', 'setgid32', 'setgroups', 'setgroups32',
      'setitimer', 'setns', 'setpgid', 'setpriority', 'setregid', 'setregid32', 'setresgid', 'setresgid32',
      'setresuid', 'setresuid32', 'setreuid', 'setreuid32', 'setrlimit', 'setsid', 'setsockopt', 'setuid',
      'setuid32', 'setxattr', 'shmat', 'shmctl', 'shmdt', 'shmget', 'shutdown', 'sigaltstack', 'signal', 'signalfd',
      'signalfd4', 'sigprocmask', 'sigreturn', 'socketcall', 'socketpair', 'splice', 'stat', 'stat64', 'statfs',
      'statfs64', 'statx', 'symlink', 'symlinkat', 'sync', 'sync_file_range', 'syncfs', 'sysinfo', 'syslog', 'tee',
      'tgkill', 'time', 'timer_create', 'timer_delete', 'timer_getoverrun', 'timer_gettime', 'timer_gettime64',
      'timer_settime', 'timer_settime64', 'timerfd_create', 'timerfd_gettime', 'timerfd_gettime64',
      'timerfd_settime', 'timerfd_settime64', 'times', 'tkill', 'truncate', 'truncate64', 'ugetrlimit', 'umask',
      'umount', 'umount2', 'uname', 'unlink', 'unlinkat', 'utime', 'utimensat', 'utimensat_time64', 'utimes',
      'vfork', 'wait4', 'waitid', 'waitpid', 'write', 'writev',
    ],
    action: 'SCMP_ACT_ALLOW',
  },
  // personality(2) only for the harmless personas: PER_LINUX, PER_LINUX32, UNAME26 combinations, query.
  { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }] },
  { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
  { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x20000, op: 'SCMP_CMP_EQ' }] },
  { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x20008, op: 'SCMP_CMP_EQ' }] },
  { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0xffffffff, op: 'SCMP_CMP_EQ' }] },
  // Architecture-specific syscalls.
  { names: ['sync_file_range2', 'swapcontext'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['ppc64le'] } },
  {
    names: ['arm_fadvise64_64', 'arm_sync_file_range', 'breakpoint', 'cacheflush', 'set_tls', 'sync_file_range2'],
    action: 'SCMP_ACT_ALLOW',
    includes: { arches: ['arm', 'arm64'] },
  },
  { names: ['arch_prctl'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32'] } },
  { names: ['modify_ldt'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['amd64', 'x32', 'x86'] } },
  {
    names: ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'],
    action: 'SCMP_ACT_ALLOW',
    includes: { arches: ['s390', 's390x'] },
  },
  { names: ['riscv_flush_icache'], action: 'SCMP_ACT_ALLOW', includes: { arches: ['riscv64'] } },
  // Capability-conditional pairs: allowed with the capability, EPERM without.
  { names: ['open_by_handle_at'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_DAC_READ_SEARCH'] } },
  {
    names: ['open_by_handle_at'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    excludes: { caps: ['CAP_DAC_READ_SEARCH'] },
  },
  {
    names: [
      'bpf', 'lookup_dcookie', 'perf_event_open', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns',
    ],
    action: 'SCMP_ACT_ALLOW',
    includes: { caps: ['CAP_SYS_ADMIN'] },
  },
  {
    names: ['lookup_dcookie', 'quotactl', 'quotactl_fd', 'setdomainname', 'sethostname', 'setns'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  },
  { names: ['chroot'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_CHROOT'] } },
  { names: ['chroot'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM', excludes: { caps: ['CAP_SYS_CHROOT'] } },
  {
    names: ['delete_module', 'finit_module', 'init_module', 'query_module'],
    action: 'SCMP_ACT_ALLOW',
    includes: { caps: ['CAP_SYS_MODULE'] },
  },
  {
    names: ['delete_module', 'finit_module', 'init_module', 'query_module'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    excludes: { caps: ['CAP_SYS_MODULE'] },
  },
  { names: ['acct'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_PACCT'] } },
  { names: ['acct'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM', excludes: { caps: ['CAP_SYS_PACCT'] } },
  { names: ['kcmp', 'process_madvise'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_PTRACE'] } },
  {
    names: ['kcmp', 'process_madvise'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    excludes: { caps: ['CAP_SYS_PTRACE'] },
  },
  { names: ['ioperm', 'iopl'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_RAWIO'] } },
  { names: ['ioperm', 'iopl'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM', excludes: { caps: ['CAP_SYS_RAWIO'] } },
  {
    names: ['clock_settime', 'clock_settime64', 'settimeofday', 'stime'],
    action: 'SCMP_ACT_ALLOW',
    includes: { caps: ['CAP_SYS_TIME'] },
  },
  {
    names: ['clock_settime', 'clock_settime64', 'settimeofday', 'stime'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    excludes: { caps: ['CAP_SYS_TIME'] },
  },
  { names: ['vhangup'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_TTY_CONFIG'] } },
  { names: ['vhangup'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM', excludes: { caps: ['CAP_SYS_TTY_CONFIG'] } },
  // socket(2): no AF_VSOCK; no NETLINK_AUDIT without CAP_AUDIT_WRITE (EINVAL, so libaudit stays quiet).
  { names: ['socket'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM', args: [{ index: 0, value: 40, op: 'SCMP_CMP_EQ' }] },
  {
    names: ['socket'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EINVAL',
    args: [{ index: 0, value: 16, op: 'SCMP_CMP_EQ' }, { index: 2, value: 9, op: 'SCMP_CMP_EQ' }],
    excludes: { caps: ['CAP_AUDIT_WRITE'] },
  },
  {
    names: ['socket'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: 16, op: 'SCMP_CMP_EQ' }, { index: 2, value: 9, op: 'SCMP_CMP_NE' }],
    excludes: { caps: ['CAP_AUDIT_WRITE'] },
  },
  {
    names: ['socket'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: 16, op: 'SCMP_CMP_NE' }],
    excludes: { caps: ['CAP_AUDIT_WRITE'] },
  },
  {
    names: ['socket'],
    action: 'SCMP_ACT_ALLOW',
    args: [{ index: 0, value: 40, op: 'SCMP_CMP_NE' }],
    includes: { caps: ['CAP_AUDIT_WRITE'] },
  },
  // bpf and perf_event_open also need CAP_BPF / CAP_PERFMON when CAP_SYS_ADMIN is absent.
  { names: ['bpf'], action: 'SCMP_ACT_ERRNO', errno: 'EPERM', excludes: { caps: ['CAP_SYS_ADMIN', 'CAP_BPF'] } },
  { names: ['bpf'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_BPF'] } },
  {
    names: ['perf_event_open'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    excludes: { caps: ['CAP_SYS_ADMIN', 'CAP_PERFMON'] },
  },
  { names: ['perf_event_open'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_PERFMON'] } },
  // CRI-O hardening: with CAP_SYS_ADMIN, namespaces may be created freely.
  { names: ['clone', 'clone3', 'unshare'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
  // Without it, clone(2) only when no CLONE_NEW* flag is set (the flags are argument 1 on s390) …
  { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [noNamespaceFlag(0)], excludes: { arches: S390 } },
  { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [noNamespaceFlag(1)], includes: { arches: S390 } },
  // … and EPERM when any is set (runc adds several conditions on one argument as alternatives) …
  {
    names: ['clone'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    args: anyNamespaceFlag(0),
    excludes: { caps: ['CAP_SYS_ADMIN'], arches: S390 },
  },
  {
    names: ['clone'],
    action: 'SCMP_ACT_ERRNO',
    errno: 'EPERM',
    args: anyNamespaceFlag(1),
    includes: { arches: S390 },
    excludes: { caps: ['CAP_SYS_ADMIN'] },
  },
  // … and clone3(2), whose flags sit in a struct seccomp cannot read, is ENOSYS so libc falls back to
  // clone(2). unshare(2) without CAP_SYS_ADMIN matches no rule: the default action (ENOSYS).
  { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errno: 'ENOSYS', excludes: { caps: ['CAP_SYS_ADMIN'] } },
];

/** CRI-O's default profile; callers must not mutate it (toOciSeccomp copies what it uses). */
export const DEFAULT_SECCOMP_PROFILE: Readonly<SeccompProfile> = Object.freeze({
  defaultAction: 'SCMP_ACT_ERRNO',
  defaultErrno: 'ENOSYS',
  archMap: ARCH_MAP,
  syscalls: RULES,
});
