/*
 * What the addons share: a JS string argument as a C string. A header of static functions, since
 * scripts/build-native.js compiles each addon from its own .c file.
 */
#ifndef CRIO_TS_NAPI_STRING_H
#define CRIO_TS_NAPI_STRING_H

#include <node_api.h>
#include <stdlib.h>
#include <string.h>

/*
 * A JS string as a malloc'd C string; NULL when the value is not a string, memory runs out, or it
 * holds a NUL (which would silently cut a path or an argument short, where Node's own APIs refuse
 * such strings).
 */
static char *napi_string_dup(napi_env env, napi_value value) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return NULL;
  char *s = malloc(len + 1);
  if (s == NULL) return NULL;
  if (napi_get_value_string_utf8(env, value, s, len + 1, &len) != napi_ok || strlen(s) != len) {
    free(s);
    return NULL;
  }
  return s;
}

#endif
