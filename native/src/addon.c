/*
 * N-API glue for the media fast path: argument checks, then the pure C in
 * g711.c and polyphase.c. Misuse throws a TypeError (wrong type) or a
 * RangeError (wrong length or value), code TTMA_ERR_NATIVE_ARGUMENT; nothing
 * allocates on the per-frame paths. Types and semantics: src/media/native.ts.
 */
#include <node_api.h>
#include <stdio.h>
#include <string.h>

#include "g711.h"
#include "napi_args.h"
#include "opus_napi.h"
#include "polyphase.h"
#include "registry.h"

/* Bumped when the JavaScript-visible interface changes; native.ts refuses a stale build. */
#define TTMA_ABI_VERSION 2
#define MAX_ARGS 9


void throw_type(napi_env env, const char *fn, const char *message) {
  char text[TTMA_ERROR_SIZE + 64];
  snprintf(text, sizeof text, "%s: %s", fn, message);
  napi_throw_type_error(env, ERROR_CODE, text);
}

void throw_range(napi_env env, const char *fn, const char *message) {
  char text[TTMA_ERROR_SIZE + 64];
  snprintf(text, sizeof text, "%s: %s", fn, message);
  napi_throw_range_error(env, ERROR_CODE, text);
}

/* Anything unexpected from N-API itself: surface it rather than crash. */
napi_value napi_failed(napi_env env, const char *fn) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    char text[128];
    snprintf(text, sizeof text, "%s: N-API call failed", fn);
    napi_throw_error(env, "TTMA_ERR_NATIVE", text);
  }
  return NULL;
}

static const char *typed_name(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array: return "Int8Array";
    case napi_uint8_array: return "Uint8Array";
    case napi_uint8_clamped_array: return "Uint8ClampedArray";
    case napi_int16_array: return "Int16Array";
    case napi_uint16_array: return "Uint16Array";
    case napi_int32_array: return "Int32Array";
    case napi_uint32_array: return "Uint32Array";
    case napi_float32_array: return "Float32Array";
    case napi_float64_array: return "Float64Array";
    case napi_bigint64_array: return "BigInt64Array";
    case napi_biguint64_array: return "BigUint64Array";
  }
  return "TypedArray";
}

static const char *value_kind(napi_valuetype kind) {
  switch (kind) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return "a boolean";
    case napi_number: return "a number";
    case napi_string: return "a string";
    case napi_symbol: return "a symbol";
    case napi_object: return "another object";
    case napi_function: return "a function";
    case napi_external: return "an external";
    case napi_bigint: return "a bigint";
  }
  return "another value";
}

/* The data and length of `value` if it is a `want` typed array; else throws a TypeError and returns 0. */
int typed_arg(napi_env env, napi_value value, napi_typedarray_type want, const char *fn, const char *name,
                     void **data, size_t *length) {
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok) {
    char message[128];
    napi_valuetype kind = napi_undefined;
    napi_typeof(env, value, &kind);
    snprintf(message, sizeof message, "%s must be a %s, not %s", name, typed_name(want), value_kind(kind));
    throw_type(env, fn, message);
    return 0;
  }
  if (type != want) {
    char message[128];
    snprintf(message, sizeof message, "%s must be a %s, not %s", name, typed_name(want), typed_name(type));
    throw_type(env, fn, message);
    return 0;
  }
  return 1;
}

/* An integer-valued number argument in [min, max]; else throws and returns 0. */
int integer_arg(napi_env env, napi_value value, const char *fn, const char *name, int64_t min, int64_t max,
                       int64_t *out) {
  napi_valuetype type;
  double d;
  char message[160];
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number ||
      napi_get_value_double(env, value, &d) != napi_ok) {
    snprintf(message, sizeof message, "%s must be a number", name);
    throw_type(env, fn, message);
    return 0;
  }
  if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d) {
    snprintf(message, sizeof message, "%s must be an integer in %lld..%lld, got %g", name, (long long)min,
             (long long)max, d);
    throw_range(env, fn, message);
    return 0;
  }
  *out = (int64_t)d;
  return 1;
}

napi_value number(napi_env env, int64_t value, const char *fn) {
  napi_value result;
  if (napi_create_int64(env, value, &result) != napi_ok) return napi_failed(env, fn);
  return result;
}

typedef void (*decode_fn)(const uint8_t *, int16_t *, size_t);
typedef void (*encode_fn)(const int16_t *, uint8_t *, size_t);

static napi_value decode(napi_env env, napi_callback_info info, decode_fn run, const char *fn) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  void *src;
  void *dst;
  size_t n;
  size_t room;
  if (!typed_arg(env, argv[0], napi_uint8_array, fn, "src", &src, &n)) return NULL;
  if (!typed_arg(env, argv[1], napi_int16_array, fn, "dst", &dst, &room)) return NULL;
  if (room < n) {
    char message[128];
    snprintf(message, sizeof message, "dst holds %zu samples, src has %zu bytes", room, n);
    throw_range(env, fn, message);
    return NULL;
  }
  run(src, dst, n);
  return number(env, (int64_t)n, fn);
}

static napi_value encode(napi_env env, napi_callback_info info, encode_fn run, const char *fn) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  void *src;
  void *dst;
  size_t n;
  size_t room;
  if (!typed_arg(env, argv[0], napi_int16_array, fn, "src", &src, &n)) return NULL;
  if (!typed_arg(env, argv[1], napi_uint8_array, fn, "dst", &dst, &room)) return NULL;
  if (room < n) {
    char message[128];
    snprintf(message, sizeof message, "dst holds %zu bytes, src has %zu samples", room, n);
    throw_range(env, fn, message);
    return NULL;
  }
  run(src, dst, n);
  return number(env, (int64_t)n, fn);
}

static napi_value pcmu_decode(napi_env env, napi_callback_info info) {
  return decode(env, info, ttma_pcmu_decode, "pcmuDecode");
}
static napi_value pcma_decode(napi_env env, napi_callback_info info) {
  return decode(env, info, ttma_pcma_decode, "pcmaDecode");
}
static napi_value pcmu_encode(napi_env env, napi_callback_info info) {
  return encode(env, info, ttma_pcmu_encode, "pcmuEncode");
}
static napi_value pcma_encode(napi_env env, napi_callback_info info) {
  return encode(env, info, ttma_pcma_encode, "pcmaEncode");
}

static void no_work(const uint8_t *src, int16_t *dst, size_t n) {
  (void)src;
  (void)dst;
  (void)n;
}

/* The checks of pcmuDecode without the loop: what one call costs before any work. */
static napi_value overhead_probe(napi_env env, napi_callback_info info) {
  return decode(env, info, no_work, "overheadProbe");
}

static void filter_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ttma_registry_remove(data);
  ttma_polyphase_destroy(data);
}

static napi_value polyphase_filter(napi_env env, napi_callback_info info) {
  static const char fn[] = "polyphaseFilter";
  size_t argc = 9;
  napi_value argv[9];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  void *coefs, *start, *length, *reach, *symmetric;
  size_t coef_count, start_count, length_count, reach_count, symmetric_count;
  int64_t up, down, history;
  if (!typed_arg(env, argv[0], napi_float32_array, fn, "coefs", &coefs, &coef_count)) return NULL;
  if (!typed_arg(env, argv[1], napi_int32_array, fn, "branchStart", &start, &start_count)) return NULL;
  if (!typed_arg(env, argv[2], napi_int32_array, fn, "branchLength", &length, &length_count)) return NULL;
  if (!typed_arg(env, argv[3], napi_int32_array, fn, "branchReach", &reach, &reach_count)) return NULL;
  if (!typed_arg(env, argv[4], napi_uint8_array, fn, "branchSymmetric", &symmetric, &symmetric_count)) return NULL;
  if (!integer_arg(env, argv[5], fn, "up", 1, TTMA_POLYPHASE_MAX_FACTOR, &up)) return NULL;
  if (!integer_arg(env, argv[6], fn, "down", 1, TTMA_POLYPHASE_MAX_FACTOR, &down)) return NULL;
  if (!integer_arg(env, argv[7], fn, "history", 1, TTMA_POLYPHASE_MAX_HISTORY, &history)) return NULL;
  ttma_kernel_choice kernel = TTMA_KERNEL_AUTO;
  napi_valuetype kind;
  if (napi_typeof(env, argv[8], &kind) != napi_ok) return napi_failed(env, fn);
  if (kind != napi_undefined) {
    char name[16] = {0};
    size_t name_length = 0;
    if (kind != napi_string) {
      throw_type(env, fn, "kernel must be 'auto' or 'scalar' when given");
      return NULL;
    }
    if (napi_get_value_string_utf8(env, argv[8], name, sizeof name, &name_length) != napi_ok) {
      return napi_failed(env, fn);
    }
    if (strcmp(name, "scalar") == 0) kernel = TTMA_KERNEL_SCALAR;
    else if (strcmp(name, "auto") != 0) {
      throw_range(env, fn, "kernel must be 'auto' or 'scalar'");
      return NULL;
    }
  }
  if (start_count != (size_t)up || length_count != (size_t)up || reach_count != (size_t)up ||
      symmetric_count != (size_t)up) {
    char message[160];
    snprintf(message, sizeof message, "branch tables must have up = %lld entries, got %zu, %zu, %zu and %zu",
             (long long)up, start_count, length_count, reach_count, symmetric_count);
    throw_range(env, fn, message);
    return NULL;
  }
  char err[TTMA_ERROR_SIZE];
  ttma_polyphase *f = ttma_polyphase_create(coefs, coef_count, start, length, reach, symmetric, (size_t)up, up, down,
                                            history, kernel, err);
  if (f == NULL) {
    throw_range(env, fn, err);
    return NULL;
  }
  return wrap_handle(env, f, TTMA_HANDLE_POLYPHASE, filter_finalize, fn);
}

napi_value wrap_handle(napi_env env, void *object, ttma_handle_kind kind, napi_finalize finalize, const char *fn) {
  if (!ttma_registry_add(object, kind)) {
    finalize(env, object, NULL);
    char text[96];
    snprintf(text, sizeof text, "%s: out of memory", fn);
    napi_throw_error(env, "TTMA_ERR_NATIVE", text);
    return NULL;
  }
  napi_value handle;
  if (napi_create_external(env, object, finalize, NULL, &handle) != napi_ok) {
    finalize(env, object, NULL); /* also leaves the registry */
    return napi_failed(env, fn);
  }
  return handle;
}

void *handle_arg(napi_env env, napi_value value, ttma_handle_kind kind, const char *fn, const char *maker) {
  void *p = NULL;
  if (napi_get_value_external(env, value, &p) != napi_ok || !ttma_registry_contains(p, kind)) {
    char message[96];
    snprintf(message, sizeof message, "handle must be a handle from %s()", maker);
    throw_type(env, fn, message);
    return NULL;
  }
  return p;
}

static napi_value polyphase_process(napi_env env, napi_callback_info info) {
  static const char fn[] = "polyphaseProcess";
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  ttma_polyphase *f = handle_arg(env, argv[0], TTMA_HANDLE_POLYPHASE, fn, "polyphaseFilter");
  if (f == NULL) return NULL;
  void *work, *state, *input, *output;
  size_t work_length, state_length, n, output_length;
  if (!typed_arg(env, argv[1], napi_float32_array, fn, "work", &work, &work_length)) return NULL;
  if (!typed_arg(env, argv[2], napi_int32_array, fn, "state", &state, &state_length)) return NULL;
  if (!typed_arg(env, argv[3], napi_int16_array, fn, "input", &input, &n)) return NULL;
  if (!typed_arg(env, argv[4], napi_int16_array, fn, "output", &output, &output_length)) return NULL;
  if (state_length != TTMA_POLYPHASE_STATE_LENGTH) {
    char message[96];
    snprintf(message, sizeof message, "state must hold %d values, got %zu", TTMA_POLYPHASE_STATE_LENGTH,
             state_length);
    throw_range(env, fn, message);
    return NULL;
  }
  char err[TTMA_ERROR_SIZE];
  int64_t count = ttma_polyphase_process(f, work, work_length, state, input, n, output, output_length, err);
  if (count < 0) {
    throw_range(env, fn, err);
    return NULL;
  }
  return number(env, count, fn);
}

static int set_value(napi_env env, napi_value exports, const char *name, napi_value value) {
  return napi_set_named_property(env, exports, name, value) == napi_ok;
}

NAPI_MODULE_INIT() {
  ttma_g711_init();
  napi_property_descriptor functions[] = {
      {"pcmuDecode", NULL, pcmu_decode, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pcmuEncode", NULL, pcmu_encode, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pcmaDecode", NULL, pcma_decode, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pcmaEncode", NULL, pcma_encode, NULL, NULL, NULL, napi_enumerable, NULL},
      {"polyphaseFilter", NULL, polyphase_filter, NULL, NULL, NULL, napi_enumerable, NULL},
      {"polyphaseProcess", NULL, polyphase_process, NULL, NULL, NULL, napi_enumerable, NULL},
      {"overheadProbe", NULL, overhead_probe, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) != napi_ok) {
    return napi_failed(env, "init");
  }
  if (!ttma_opus_define(env, exports)) return napi_failed(env, "init");
  napi_value abi, kernel, g711_kernel;
  if (napi_create_int32(env, TTMA_ABI_VERSION, &abi) != napi_ok ||
      napi_create_string_utf8(env, ttma_polyphase_best_kernel_name(), NAPI_AUTO_LENGTH, &kernel) != napi_ok ||
      napi_create_string_utf8(env, ttma_g711_kernel_name(), NAPI_AUTO_LENGTH, &g711_kernel) != napi_ok ||
      !set_value(env, exports, "abiVersion", abi) || !set_value(env, exports, "kernel", kernel) ||
      !set_value(env, exports, "g711Kernel", g711_kernel)) {
    return napi_failed(env, "init");
  }
  return exports;
}
