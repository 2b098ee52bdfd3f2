/*
 * Argument checking shared by the addon's N-API functions (defined in
 * addon.c): misuse throws a TypeError or RangeError with code
 * TTMA_ERR_NATIVE_ARGUMENT and the helper returns 0 / NULL.
 */
#ifndef TTMA_NAPI_ARGS_H
#define TTMA_NAPI_ARGS_H

#include <node_api.h>
#include <stdint.h>

#include "registry.h"

#define ERROR_CODE "TTMA_ERR_NATIVE_ARGUMENT"

void throw_type(napi_env env, const char *fn, const char *message);
void throw_range(napi_env env, const char *fn, const char *message);
/* Anything unexpected from N-API itself: surface it rather than crash. */
napi_value napi_failed(napi_env env, const char *fn);
/* The data and length of `value` if it is a `want` typed array; else throws a TypeError and returns 0. */
int typed_arg(napi_env env, napi_value value, napi_typedarray_type want, const char *fn, const char *name,
              void **data, size_t *length);
/* An integer-valued number argument in [min, max]; else throws and returns 0. */
int integer_arg(napi_env env, napi_value value, const char *fn, const char *name, int64_t min, int64_t max,
                int64_t *out);
napi_value number(napi_env env, int64_t value, const char *fn);
/*
 * An external for a native object, registered with its kind (checked on the
 * way back in: a few tens of ns, where a type-tagged wrapped object costs
 * about 200 ns per call in Node 20). On failure `finalize` frees the object.
 */
napi_value wrap_handle(napi_env env, void *object, ttma_handle_kind kind, napi_finalize finalize, const char *fn);
/* The live object of `kind` behind a handle from `maker`(); else throws a TypeError and returns NULL. */
void *handle_arg(napi_env env, napi_value value, ttma_handle_kind kind, const char *fn, const char *maker);

#endif
