/*
 * mount(2) and umount2(2) for the daemon (lib/mount-syscall.ts).
 *
 * Why: every container create mounted its overlay rootfs by running mount(8), and every remove
 * unmounted it with umount(8): a process start, libmount's start-up and its /etc/fstab and
 * mountinfo reads, ~6-8 ms of the create's critical path on this machine against well under a
 * millisecond for the system call (issue 17, pod start). Node has no binding for either call and
 * no maintained npm package offers one (the old node-gyp `mount` modules are unmaintained), so
 * this is ~100 lines of Node-API, like native/spawn.c.
 *
 * The calls run on libuv's thread pool (napi_async_work): a mount can wait on the filesystem,
 * and the mount namespace, the root and the working directory are the process's, shared by all
 * its threads, so the thread it runs on does not matter. Relative paths in the data would
 * resolve against the process's cwd, so the caller passes absolute ones only.
 *
 * mount(source, target, fstype, flags, data|null) -> Promise<void>
 * umount(target, flags) -> Promise<void>
 * isMountRoot(path) -> boolean | null (null: statx cannot tell, e.g. a kernel before 5.8)
 *   Whether `path` is the root of a mount (statx STATX_ATTR_MOUNT_ROOT): the storage home's
 *   check before every container mount read and parsed all of /proc/self/mountinfo (~2.5 ms with
 *   a few pods, more with many). Synchronous: one statx of a local directory.
 * Rejections are Errors with `errno` (a positive number) and `syscall` set; the caller names them.
 */
#define _GNU_SOURCE /* statx */
#include <errno.h>
#include <node_api.h>
#include "napi-string.h"
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x2000 /* <linux/stat.h>, Linux 5.8 */
#endif

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  int is_mount;
  char *source;
  char *target;
  char *fstype;
  char *data;
  unsigned long flags;
  int err;
} call_t;

static void free_call(call_t *c) {
  free(c->source);
  free(c->target);
  free(c->fstype);
  free(c->data);
  free(c);
}

static void execute(napi_env env, void *p) {
  call_t *c = p;
  int rc = c->is_mount ? mount(c->source, c->target, c->fstype, c->flags, c->data) : umount2(c->target, (int)c->flags);
  c->err = rc == 0 ? 0 : errno;
}

static void complete(napi_env env, napi_status status, void *p) {
  call_t *c = p;
  if (status == napi_ok && c->err == 0) {
    napi_value undef;
    napi_get_undefined(env, &undef);
    napi_resolve_deferred(env, c->deferred, undef);
  } else {
    int e = status == napi_ok ? c->err : ECANCELED;
    napi_value msg, err, code, syscall;
    napi_create_string_utf8(env, strerror(e), NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_create_int32(env, e, &code);
    napi_set_named_property(env, err, "errno", code);
    napi_create_string_utf8(env, c->is_mount ? "mount" : "umount2", NAPI_AUTO_LENGTH, &syscall);
    napi_set_named_property(env, err, "syscall", syscall);
    napi_reject_deferred(env, c->deferred, err);
  }
  napi_delete_async_work(env, c->work);
  free_call(c);
}

/* A string argument copied to the heap; NULL for null/undefined; *ok = 0 on anything else. */
static char *string_arg(napi_env env, napi_value v, int *ok) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_null || t == napi_undefined) return NULL;
  char *s = napi_string_dup(env, v);
  if (s == NULL) *ok = 0;
  return s;
}

static napi_value queue(napi_env env, call_t *c) {
  napi_value promise, name;
  if (napi_create_promise(env, &c->deferred, &promise) != napi_ok) {
    free_call(c);
    return NULL;
  }
  napi_create_string_utf8(env, c->is_mount ? "crio-ts:mount" : "crio-ts:umount", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, c, &c->work);
  napi_queue_async_work(env, c->work);
  return promise;
}

static napi_value Mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  call_t *c = calloc(1, sizeof(call_t));
  int ok = argc == 5 && c != NULL;
  double flags = 0;
  if (ok) {
    c->is_mount = 1;
    c->source = string_arg(env, argv[0], &ok);
    c->target = string_arg(env, argv[1], &ok);
    c->fstype = string_arg(env, argv[2], &ok);
    c->data = string_arg(env, argv[4], &ok);
    ok = ok && c->target != NULL && napi_get_value_double(env, argv[3], &flags) == napi_ok && flags >= 0;
  }
  if (!ok) {
    if (c != NULL) free_call(c);
    napi_throw_type_error(env, NULL, "mount(source, target, fstype, flags, data)");
    return NULL;
  }
  c->flags = (unsigned long)flags;
  return queue(env, c);
}

static napi_value Umount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  call_t *c = calloc(1, sizeof(call_t));
  int ok = argc == 2 && c != NULL;
  int32_t flags = 0;
  if (ok) {
    c->target = string_arg(env, argv[0], &ok);
    ok = ok && c->target != NULL && napi_get_value_int32(env, argv[1], &flags) == napi_ok;
  }
  if (!ok) {
    if (c != NULL) free_call(c);
    napi_throw_type_error(env, NULL, "umount(target, flags)");
    return NULL;
  }
  c->flags = (unsigned long)flags;
  return queue(env, c);
}

static napi_value IsMountRoot(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int ok = argc == 1;
  char *p = ok ? string_arg(env, argv[0], &ok) : NULL;
  if (!ok || p == NULL) {
    free(p);
    napi_throw_type_error(env, NULL, "isMountRoot(path)");
    return NULL;
  }
  struct statx st;
  int rc = statx(AT_FDCWD, p, AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &st);
  int e = errno;
  free(p);
  if (rc != 0 || !(st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
    if (rc != 0 && e == ENOENT) {
      napi_get_boolean(env, 0, &out);
    } else {
      napi_get_null(env, &out);
    }
    return out;
  }
  napi_get_boolean(env, (st.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "mount", NAPI_AUTO_LENGTH, Mount, NULL, &f);
  napi_set_named_property(env, exports, "mount", f);
  napi_create_function(env, "umount", NAPI_AUTO_LENGTH, Umount, NULL, &f);
  napi_set_named_property(env, exports, "umount", f);
  napi_create_function(env, "isMountRoot", NAPI_AUTO_LENGTH, IsMountRoot, NULL, &f);
  napi_set_named_property(env, exports, "isMountRoot", f);
  return exports;
}
