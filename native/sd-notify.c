/*
 * sd_notify(3)'s one system call for the daemon (lib/sd-notify.ts): a datagram to systemd's
 * $NOTIFY_SOCKET from the daemon's own process (systemd reads the sender's PID from the socket).
 *
 * Why not node-unix-socket, which did it before: under systemd (crio.service is Type=notify) that
 * addon cost the idle daemon +2.0 MiB of RSS (issue 17, measured with NOTIFY_SOCKET set): its
 * loader calls process.report.getReport() to tell glibc from musl, the Rust library is linked
 * BIND_NOW (every Node-API symbol looked up in node's 5 MB symbol table at load), and its JS
 * loads worker_threads. Node's dgram has no unix sockets. This is what libsystemd does: a
 * SOCK_DGRAM socket per message, sendto without blocking, close.
 *
 * send(address: Buffer, message: Buffer) -> 0 or the errno of socket/sendto. The address is the
 * socket path, or NUL and the name for one in the abstract namespace (as systemd's '@name').
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>

static int send_datagram(const void *addr, size_t addr_len, const void *msg, size_t msg_len) {
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (addr_len == 0 || addr_len > sizeof sa.sun_path) return EINVAL;
  memcpy(sa.sun_path, addr, addr_len);
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int err = 0;
  if (sendto(fd, msg, msg_len, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + addr_len)) < 0) err = errno;
  close(fd);
  return err;
}

static napi_value Send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *addr = NULL, *msg = NULL;
  size_t addr_len = 0, msg_len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_buffer_info(env, argv[0], &addr, &addr_len) != napi_ok ||
      napi_get_buffer_info(env, argv[1], &msg, &msg_len) != napi_ok) {
    napi_throw_type_error(env, NULL, "send(address: Buffer, message: Buffer)");
    return NULL;
  }
  napi_value out;
  napi_create_int32(env, send_datagram(addr, addr_len, msg, msg_len), &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, Send, NULL, &f);
  napi_set_named_property(env, exports, "send", f);
  return exports;
}
