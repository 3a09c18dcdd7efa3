/*
 * malloc_trim for the daemon (lib/malloc-trim.ts).
 *
 * Why: Node's socket and file reads take 64 KiB blocks from glibc's heap and shrink them to what
 * was read; with kubelet polling, a pull and pods they leave the main arena fragmented, free
 * pages that glibc returns only from the top of the heap (issue 17: [heap] 3 → 6-10 MiB). A
 * lower mmap_threshold avoided that but made every download read an mmap/munmap (pulls 35%
 * slower). malloc_trim(0) gives back the free pages inside the arenas (madvise), at the cost of
 * a walk over the free lists; Node has no binding for it.
 *
 * trim() -> whether memory was released.
 */
#include <malloc.h>
#include <node_api.h>

static napi_value Trim(napi_env env, napi_callback_info info) {
  napi_value out;
  napi_get_boolean(env, malloc_trim(0) != 0, &out);
  return out;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "trim", NAPI_AUTO_LENGTH, Trim, NULL, &f);
  napi_set_named_property(env, exports, "trim", f);
  return exports;
}
