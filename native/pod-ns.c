/*
 * A pod's net/ipc/uts namespaces, made in-process (lib/network/pod-ns-native.ts).
 *
 * Why: the perl script of lib/network/pod-pinns.ts does this work in one exec, and that exec is
 * ~10 ms of every RunPodSandbox on the path to the CNI ADD (issue 17). Nothing in the work needs
 * a process of its own: net, ipc and uts namespaces belong to a thread (unshare(2) of these three
 * is allowed in a multi-threaded process, as Go's netns package and `ip netns` rely on), so a
 * thread made for the call unshares, pins and sets them up, and exits. No other thread of the
 * daemon — the loop thread, libuv's pool, V8's — is ever in the pod's namespaces, and nothing of
 * the daemon's (signals, descriptors) depends on the thread outliving the call.
 *
 * create(spec) -> Promise<undefined>; rejects with an Error whose `step` says what failed
 *   ("mount /proc/thread-self/ns/net on /run/netns/x") and whose `errno` is the positive errno
 *   (lib/network/pod-ns-native.ts words the message). spec:
 *   { files: [[kind, path]...] (kind net|ipc|uts), hostname: string ("" = leave),
 *     loopbackUp: boolean, shm: [path, options] | null, sysctls: [[key, value]...] }
 *   Steps, in the perl script's order: unshare; bind-mount /proc/thread-self/ns/<kind> onto each
 *   file (MS_BIND: the mount namespace is still the host's); sethostname; `lo` up with
 *   SIOCSIFFLAGS on a socket made on this thread (so in the new netns); each sysctl written to
 *   /proc/sys/<key>, which resolves net.* (and ipc, uts) entries by the writing thread's
 *   namespaces; the /dev/shm tmpfs (nosuid, nodev, noexec). On failure the pins this call made
 *   are detached again (the caller still runs its own cleanup, which then finds nothing).
 *   Completion reaches JS through a napi_threadsafe_function: the loop is never blocked, and it
 *   stays alive until the thread has reported.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <node_api.h>
#include "napi-string.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FILES 3
#define STEP_LEN 4352 /* two paths and some words */

typedef struct {
  char *kind;
  char *path;
} pin;

typedef struct {
  pin files[MAX_FILES];
  size_t nfiles;
  char *hostname;
  bool loopback_up;
  char *shm_path;
  char *shm_options;
  char **sysctl_keys;
  char **sysctl_values;
  size_t nsysctls;
  /* Result, written by the thread before it reports. */
  int err;
  char step[STEP_LEN];
  napi_deferred deferred;
  napi_threadsafe_function tsfn;
} job;

static void free_job(job *j) {
  if (j == NULL) return;
  for (size_t i = 0; i < j->nfiles; i++) {
    free(j->files[i].kind);
    free(j->files[i].path);
  }
  free(j->hostname);
  free(j->shm_path);
  free(j->shm_options);
  for (size_t i = 0; i < j->nsysctls; i++) {
    if (j->sysctl_keys != NULL) free(j->sysctl_keys[i]);
    if (j->sysctl_values != NULL) free(j->sysctl_values[i]);
  }
  free(j->sysctl_keys);
  free(j->sysctl_values);
  free(j);
}

static int fail(job *j, const char *fmt, const char *a, const char *b) {
  j->err = errno != 0 ? errno : EIO;
  snprintf(j->step, sizeof j->step, fmt, a, b);
  return -1;
}

static int ns_flag(const char *kind) {
  if (strcmp(kind, "net") == 0) return CLONE_NEWNET;
  if (strcmp(kind, "ipc") == 0) return CLONE_NEWIPC;
  if (strcmp(kind, "uts") == 0) return CLONE_NEWUTS;
  return 0;
}

/* Writes all of `value` and a newline to /proc/sys/<key> (one write, as sysctl(8) does). */
static int write_sysctl(job *j, const char *key, const char *value) {
  char file[4096], line[4096];
  if (snprintf(file, sizeof file, "/proc/sys/%s", key) >= (int)sizeof file) {
    errno = ENAMETOOLONG;
    return fail(j, "open /proc/sys/%s%s", key, "");
  }
  int n = snprintf(line, sizeof line, "%s\n", value);
  if (n >= (int)sizeof line) {
    errno = E2BIG;
    return fail(j, "write /proc/sys/%s%s", key, "");
  }
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail(j, "open /proc/sys/%s%s", key, "");
  ssize_t w = write(fd, line, (size_t)n);
  if (w != n) {
    if (w >= 0) errno = EIO;
    int saved = errno;
    close(fd);
    errno = saved;
    return fail(j, "write /proc/sys/%s%s", key, "");
  }
  if (close(fd) != 0) return fail(j, "write /proc/sys/%s%s", key, "");
  return 0;
}

static int loopback_up(job *j) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(j, "socket%s%s", "", "");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
    if (rc != 0) fail(j, "SIOCSIFFLAGS lo%s%s", "", "");
  } else {
    fail(j, "SIOCGIFFLAGS lo%s%s", "", "");
  }
  int saved = errno;
  close(s);
  errno = saved;
  return rc;
}

/* The work, in the thread's own namespaces; returns the number of files pinned so far in *pinned. */
static int run_steps(job *j, size_t *pinned) {
  int flags = 0;
  for (size_t i = 0; i < j->nfiles; i++) flags |= ns_flag(j->files[i].kind);
  errno = 0;
  if (unshare(flags) != 0) return fail(j, "unshare%s%s", "", "");
  for (size_t i = 0; i < j->nfiles; i++) {
    char source[64];
    /* thread-self: /proc/self/ns would name the thread group leader's (the loop thread's). */
    snprintf(source, sizeof source, "/proc/thread-self/ns/%s", j->files[i].kind);
    if (mount(source, j->files[i].path, NULL, MS_BIND, NULL) != 0) return fail(j, "mount %s on %s", source, j->files[i].path);
    (*pinned)++;
  }
  if (j->hostname != NULL && j->hostname[0] != '\0' && sethostname(j->hostname, strlen(j->hostname)) != 0) return fail(j, "sethostname%s%s", "", "");
  if (j->loopback_up && loopback_up(j) != 0) return -1;
  for (size_t i = 0; i < j->nsysctls; i++)
    if (write_sysctl(j, j->sysctl_keys[i], j->sysctl_values[i]) != 0) return -1;
  if (j->shm_path != NULL && mount("shm", j->shm_path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, j->shm_options) != 0)
    return fail(j, "mount shm on %s%s", j->shm_path, "");
  return 0;
}

static void *thread_main(void *arg) {
  job *j = arg;
  size_t pinned = 0;
  if (run_steps(j, &pinned) != 0) {
    /* Undo this call's pins, so a failed create leaves no mount even before the caller's
     * cleanup runs (it still does, and finds the files unmounted). */
    for (size_t i = 0; i < pinned; i++) umount2(j->files[i].path, MNT_DETACH);
  }
  /* The thread exits below: its namespace references go with it, the pins keep the namespaces. */
  napi_threadsafe_function tsfn = j->tsfn;
  if (napi_call_threadsafe_function(tsfn, j, napi_tsfn_blocking) != napi_ok) free_job(j);
  napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  return NULL;
}

/* On the loop thread: settles the promise with the thread's result. env is NULL at teardown. */
static void settle(napi_env env, napi_value unused, void *context, void *data) {
  job *j = data;
  if (env != NULL) {
    if (j->err == 0) {
      napi_value undef;
      napi_get_undefined(env, &undef);
      napi_resolve_deferred(env, j->deferred, undef);
    } else {
      napi_value msg, error, step, code;
      napi_create_string_utf8(env, j->step, NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &error);
      napi_create_string_utf8(env, j->step, NAPI_AUTO_LENGTH, &step);
      napi_create_int32(env, j->err, &code);
      napi_set_named_property(env, error, "step", step);
      napi_set_named_property(env, error, "errno", code);
      napi_reject_deferred(env, j->deferred, error);
    }
  }
  free_job(j);
}


static char *get_property_string(napi_env env, napi_value obj, const char *name) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return NULL;
  return napi_string_dup(env, v);
}

/* A JS [string, string] as two C strings; 0 on success. */
static int get_pair_value(napi_env env, napi_value pair, char **a, char **b) {
  napi_value x, y;
  if (napi_get_element(env, pair, 0, &x) != napi_ok || napi_get_element(env, pair, 1, &y) != napi_ok) return -1;
  *a = napi_string_dup(env, x);
  *b = napi_string_dup(env, y);
  return *a != NULL && *b != NULL ? 0 : -1;
}

/* Element i of array `arr` as a pair of strings; 0 on success. */
static int get_pair(napi_env env, napi_value arr, uint32_t i, char **a, char **b) {
  napi_value pair;
  if (napi_get_element(env, arr, i, &pair) != napi_ok) return -1;
  return get_pair_value(env, pair, a, b);
}

/* The spec object as a job; NULL when it is malformed (the caller throws). */
static job *parse_spec(napi_env env, napi_value spec) {
  job *j = calloc(1, sizeof(job));
  if (j == NULL) return NULL;
  napi_value files, sysctls, shm, lo;
  uint32_t n = 0;
  if (napi_get_named_property(env, spec, "files", &files) != napi_ok || napi_get_array_length(env, files, &n) != napi_ok || n > MAX_FILES) goto bad;
  for (uint32_t i = 0; i < n; i++) {
    j->nfiles++;
    if (get_pair(env, files, i, &j->files[i].kind, &j->files[i].path) != 0 || ns_flag(j->files[i].kind) == 0) goto bad;
  }
  if ((j->hostname = get_property_string(env, spec, "hostname")) == NULL) goto bad;
  if (napi_get_named_property(env, spec, "loopbackUp", &lo) != napi_ok || napi_get_value_bool(env, lo, &j->loopback_up) != napi_ok) goto bad;
  napi_valuetype shm_type;
  if (napi_get_named_property(env, spec, "shm", &shm) != napi_ok || napi_typeof(env, shm, &shm_type) != napi_ok) goto bad;
  if (shm_type != napi_null && get_pair_value(env, shm, &j->shm_path, &j->shm_options) != 0) goto bad;
  if (napi_get_named_property(env, spec, "sysctls", &sysctls) != napi_ok || napi_get_array_length(env, sysctls, &n) != napi_ok) goto bad;
  j->sysctl_keys = calloc(n + 1, sizeof(char *));
  j->sysctl_values = calloc(n + 1, sizeof(char *));
  if (j->sysctl_keys == NULL || j->sysctl_values == NULL) goto bad;
  for (uint32_t i = 0; i < n; i++) {
    j->nsysctls++;
    if (get_pair(env, sysctls, i, &j->sysctl_keys[i], &j->sysctl_values[i]) != 0) goto bad;
  }
  return j;
bad:
  free_job(j);
  return NULL;
}

static napi_value Create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value args[1];
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  job *j = argc < 1 ? NULL : parse_spec(env, args[0]);
  if (j == NULL) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value ignored;
      napi_get_and_clear_last_exception(env, &ignored);
    }
    napi_throw_type_error(env, NULL, "pod-ns create: bad spec");
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "crio-ts:pod-ns", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, settle, &j->tsfn) != napi_ok) {
    napi_value msg, error;
    napi_create_string_utf8(env, "pod-ns create: cannot make a thread-safe function", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &error);
    napi_reject_deferred(env, j->deferred, error);
    free_job(j);
    return promise;
  }
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 256 * 1024); /* the steps use ~10 KiB; glibc's default is 8 MiB */
  /* The thread starts with every signal blocked: process signals stay with the daemon's threads. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, thread_main, j);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    j->err = rc;
    snprintf(j->step, sizeof j->step, "pthread_create");
    napi_threadsafe_function tsfn = j->tsfn;
    napi_call_threadsafe_function(tsfn, j, napi_tsfn_blocking);
    napi_release_threadsafe_function(tsfn, napi_tsfn_release);
  }
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "create", NAPI_AUTO_LENGTH, Create, NULL, &f);
  napi_set_named_property(env, exports, "create", f);
  return exports;
}
