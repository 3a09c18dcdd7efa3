/*
 * posix_spawn for the daemon (lib/spawn.ts).
 *
 * Why this exists: libuv starts every child with fork(). fork copies the page tables of the
 * whole Node process and write-protects every page it has, so each spawn blocks the event loop
 * for several milliseconds on this kind of VM (4-9 ms measured from the daemon), and the
 * daemon then takes a page fault on the first write to each of those pages. glibc's
 * posix_spawn uses clone(CLONE_VM | CLONE_VFORK): no page tables are copied and the caller
 * waits only until the child has called execve (~0.6 ms). libuv declined vfork (libuv #141,
 * #1715) and no maintained npm package binds posix_spawn with descriptor mapping, so this is
 * written here: one function to start a child, one exit watch, nothing else.
 *
 * spawn(file, argv, envp, cwd|null, setsid, fdMap, onExit) -> pid, or -errno when the child
 *   could not be started (glibc reports the execve error of the child).
 *   fdMap[i] is the descriptor of this process that becomes descriptor i of the child
 *   (-1: /dev/null; -2: descriptor i as this process has it). A source descriptor must not be
 *   below fdMap's length unless it is -2's own (lib/spawn.ts passes only fresh socket pairs).
 *   Every other descriptor of the daemon is close-on-exec (libuv and Node open all of theirs
 *   that way), so the child gets exactly fdMap.
 *   onExit(code, signal) is called once, on the loop thread, when the child has exited; the
 *   child is reaped here (waitpid on its pid only, so libuv's own children are left alone).
 *   The watch is a pidfd polled by the loop (Linux 5.3+); it keeps the loop alive like a
 *   ChildProcess does.
 * available() -> whether pidfd_open works on this kernel (otherwise the caller uses libuv).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include "napi-string.h"
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

typedef struct exit_watch {
  uv_poll_t poll;
  int pidfd;
  pid_t pid;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  struct exit_watch *next;
} exit_watch;

/* The watches of children not yet exited (for unref by pid). Loop thread only. */
static exit_watch *watches = NULL;

static int pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

static void free_strings(char **list) {
  if (list == NULL) return;
  for (char **p = list; *p != NULL; p++) free(*p);
  free(list);
}


/* A JS array of strings as a NULL-terminated list. */
static char **get_strings(napi_env env, napi_value array) {
  uint32_t n = 0;
  if (napi_get_array_length(env, array, &n) != napi_ok) return NULL;
  char **list = calloc(n + 1, sizeof(char *));
  if (list == NULL) return NULL;
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, array, i, &item) != napi_ok || (list[i] = napi_string_dup(env, item)) == NULL) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static void on_watch_closed(uv_handle_t *handle) { free(handle->data); }

static void on_exit_ready(uv_poll_t *poll, int status, int events) {
  exit_watch *w = poll->data;
  int wstatus = 0;
  pid_t r = waitpid(w->pid, &wstatus, WNOHANG);
  if (r == 0) return; /* not yet (spurious wake-up) */
  uv_poll_stop(&w->poll);
  for (exit_watch **p = &watches; *p != NULL; p = &(*p)->next)
    if (*p == w) {
      *p = w->next;
      break;
    }
  close(w->pidfd);
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value argv[2], fn, global, resource_result;
  napi_get_null(env, &argv[0]);
  napi_get_null(env, &argv[1]);
  if (r == w->pid && WIFEXITED(wstatus)) napi_create_int32(env, WEXITSTATUS(wstatus), &argv[0]);
  else if (r == w->pid && WIFSIGNALED(wstatus)) napi_create_int32(env, WTERMSIG(wstatus), &argv[1]);
  else napi_create_int32(env, -1, &argv[0]); /* reaped elsewhere: unknown status */
  napi_get_reference_value(env, w->callback, &fn);
  napi_get_global(env, &global);
  napi_make_callback(env, w->async, global, fn, 2, argv, &resource_result);
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->async);
  napi_close_handle_scope(env, scope);
  uv_close((uv_handle_t *)&w->poll, on_watch_closed);
}

static napi_value make_int(napi_env env, int v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static napi_value Spawn(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value args[7];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 7) {
    napi_throw_type_error(env, NULL, "spawn: 7 arguments expected");
    return NULL;
  }
  char *file = napi_string_dup(env, args[0]);
  char **argv = get_strings(env, args[1]);
  char **envp = get_strings(env, args[2]);
  napi_valuetype cwd_type;
  napi_typeof(env, args[3], &cwd_type);
  char *cwd = cwd_type == napi_string ? napi_string_dup(env, args[3]) : NULL;
  bool setsid_flag = false;
  napi_get_value_bool(env, args[4], &setsid_flag);
  uint32_t nfds = 0;
  napi_get_array_length(env, args[5], &nfds);
  napi_value result = NULL;
  if (file == NULL || argv == NULL || envp == NULL || (cwd_type == napi_string && cwd == NULL)) {
    napi_throw_error(env, NULL, "spawn: bad argument");
    goto out;
  }

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  /* As libuv does for its children: default dispositions (Node ignores SIGPIPE) and no blocked signals. */
  /* Every signal, glibc's two internal ones (32, 33) included: sigaddset refuses those, and
   * posix_spawn would otherwise leave them ignored in the child and through its execve, where a
   * fork()ed child (libuv, Go) has them at their default. Set bit by bit, as sigset_t is laid out. */
  sigset_t defaults, empty;
  sigemptyset(&defaults);
  const size_t word_bits = 8 * sizeof(defaults.__val[0]);
  for (int sig = 1; sig < _NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) defaults.__val[(sig - 1) / word_bits] |= 1UL << ((sig - 1) % word_bits);
  sigemptyset(&empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &empty);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  if (setsid_flag) flags |= POSIX_SPAWN_SETSID;
  posix_spawnattr_setflags(&attr, flags);
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    int32_t fd = -1;
    napi_get_element(env, args[5], i, &v);
    napi_get_value_int32(env, v, &fd);
    if (fd == -2) continue;
    if (fd < 0) posix_spawn_file_actions_addopen(&actions, (int)i, "/dev/null", O_RDWR, 0);
    else posix_spawn_file_actions_adddup2(&actions, fd, (int)i);
  }
  if (cwd != NULL) posix_spawn_file_actions_addchdir_np(&actions, cwd);

  pid_t pid = 0;
  int rc = posix_spawn(&pid, file, &actions, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    result = make_int(env, -rc);
    goto out;
  }

  exit_watch *w = calloc(1, sizeof(exit_watch));
  int pidfd = w == NULL ? -1 : pidfd_open(pid);
  uv_loop_t *loop = NULL;
  napi_get_uv_event_loop(env, &loop);
  if (pidfd < 0 || loop == NULL || uv_poll_init(loop, &w->poll, pidfd) != 0) {
    /* Cannot watch it: kill and reap it so nothing is left, and report the failure. */
    int err = pidfd < 0 ? errno : EINVAL;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    if (pidfd >= 0) close(pidfd);
    free(w);
    napi_throw_error(env, NULL, strerror(err));
    goto out;
  }
  fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  w->pidfd = pidfd;
  w->pid = pid;
  w->env = env;
  w->poll.data = w;
  napi_create_reference(env, args[6], 1, &w->callback);
  napi_value name;
  napi_create_string_utf8(env, "crio-ts:spawn", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->async);
  uv_poll_start(&w->poll, UV_READABLE, on_exit_ready);
  w->next = watches;
  watches = w;
  result = make_int(env, pid);

out:
  free(file);
  free(cwd);
  free_strings(argv);
  free_strings(envp);
  return result;
}

/* A pair of connected, close-on-exec stream sockets (what libuv gives a child's 'pipe' stdio). */
static napi_value SocketPair(napi_env env, napi_callback_info info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value out;
  napi_create_array_with_length(env, 2, &out);
  napi_set_element(env, out, 0, make_int(env, sv[0]));
  napi_set_element(env, out, 1, make_int(env, sv[1]));
  return out;
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc > 0) napi_get_value_int32(env, args[0], &fd);
  if (fd >= 0) close(fd);
  return NULL;
}

/* unref(pid): the loop need not wait for this child's exit (ChildProcess.unref). */
static napi_value Unref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  int32_t pid = 0;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc > 0) napi_get_value_int32(env, args[0], &pid);
  for (exit_watch *w = watches; w != NULL; w = w->next)
    if (w->pid == pid) uv_unref((uv_handle_t *)&w->poll);
  return NULL;
}

static napi_value Available(napi_env env, napi_callback_info info) {
  int fd = pidfd_open(getpid());
  napi_value out;
  napi_get_boolean(env, fd >= 0, &out);
  if (fd >= 0) close(fd);
  return out;
}

NAPI_MODULE_INIT() {
  const struct { const char *name; napi_callback fn; } fns[] = {
    { "spawn", Spawn }, { "socketPair", SocketPair }, { "close", Close }, { "unref", Unref }, { "available", Available },
  };
  for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  return exports;
}
