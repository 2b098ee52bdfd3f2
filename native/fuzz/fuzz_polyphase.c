/*
 * libFuzzer target for the resampler's inner loop (native/src/polyphase.c),
 * below N-API: random filter tables, state, lengths and samples.
 *
 * Every buffer is allocated at its exact size, so AddressSanitizer reports a
 * read or write outside what the checks in ttma_polyphase_create/_process
 * admitted. Checks, each ending in __builtin_trap() on failure:
 *   - the vector kernel (AVX2 where the CPU has it) and the portable scalar
 *     kernel accept and refuse the same calls and, on Int16-valued work,
 *     produce the same samples, state and work;
 *   - a refused call writes nothing;
 *   - converting in one call or in two (split anywhere) gives the same output
 *     and the same final state and history.
 *
 * Build and run: native/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/polyphase.h"

#define CHECK(cond) \
  do {                \
    if (!(cond)) __builtin_trap(); \
  } while (0)

typedef struct {
  const uint8_t *data;
  size_t size;
  size_t at;
} reader;

static uint8_t next(reader *r) { return r->at < r->size ? r->data[r->at++] : 0; }

static int32_t small_signed(reader *r) {
  uint8_t b = next(r);
  return b >= 250 ? -(int32_t)(b - 249) : (int32_t)b;
}

/* Runs one call on private copies; returns the count and leaves the results in the copies. */
static int64_t run(const ttma_polyphase *f, float *work, size_t work_length, int32_t *state, const int16_t *input,
                   size_t n, int16_t *output, size_t output_length) {
  char err[TTMA_ERROR_SIZE];
  return ttma_polyphase_process(f, work, work_length, state, input, n, output, output_length, err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = {data, size, 0};
  const int64_t up = 1 + next(&r) % 6;
  const int64_t down = 1 + next(&r) % 7;
  const int64_t history = small_signed(&r) % 48;
  const size_t coef_count = next(&r) % 80;
  const uint8_t flags = next(&r);
  const int wild_work = flags & 1; /* non-integer floats in the history: no exactness claim, only safety */

  float *coefs = malloc(coef_count * sizeof(float) + 1);
  for (size_t i = 0; i < coef_count; i++) coefs[i] = (float)(int8_t)next(&r) / 64.0f;
  int32_t *start = malloc((size_t)up * sizeof(int32_t));
  int32_t *length = malloc((size_t)up * sizeof(int32_t));
  int32_t *reach = malloc((size_t)up * sizeof(int32_t));
  uint8_t *symmetric = malloc((size_t)up);
  for (int64_t p = 0; p < up; p++) {
    start[p] = small_signed(&r) % 90;
    length[p] = small_signed(&r) % 40;
    reach[p] = small_signed(&r) % 50;
    symmetric[p] = next(&r) % 3;
    /* Mostly self-consistent tables, so the process path gets exercised too. */
    if (flags & 2) {
      if (length[p] < 1) length[p] = 1;
      if (start[p] < 0) start[p] = 0;
      if ((size_t)start[p] + (size_t)length[p] > coef_count) start[p] = 0;
      if ((size_t)length[p] > coef_count) length[p] = (int32_t)(coef_count > 0 ? coef_count : 1);
      reach[p] = length[p] - 1 + (reach[p] & 3);
      if (reach[p] >= history) reach[p] = (int32_t)(history > 0 ? history - 1 : 0);
    }
  }
  char err[TTMA_ERROR_SIZE];
  ttma_polyphase *fast = ttma_polyphase_create(coefs, coef_count, start, length, reach, symmetric, (size_t)up, up,
                                               down, history, TTMA_KERNEL_AUTO, err);
  ttma_polyphase *slow = ttma_polyphase_create(coefs, coef_count, start, length, reach, symmetric, (size_t)up, up,
                                               down, history, TTMA_KERNEL_SCALAR, err);
  CHECK((fast == NULL) == (slow == NULL));
  free(coefs);
  free(start);
  free(length);
  free(reach);
  free(symmetric);
  if (fast == NULL) return 0;

  int32_t state0[TTMA_POLYPHASE_STATE_LENGTH];
  state0[0] = small_signed(&r) - 8;
  state0[1] = next(&r) % (up + 1);
  state0[2] = next(&r) % (down + 1);
  const size_t short_work = next(&r) % 4 == 0 ? next(&r) % 3 : 0;
  const size_t output_slack = next(&r) % 5;
  const size_t split_at = next(&r);
  const size_t n = (r.size - r.at) / 2;
  int16_t *input = malloc(n * sizeof(int16_t) + 1);
  for (size_t i = 0; i < n; i++) input[i] = (int16_t)(uint16_t)(next(&r) | (next(&r) << 8));

  size_t work_length = (size_t)history + n;
  work_length = work_length > short_work ? work_length - short_work : 0;
  float *work_a = malloc(work_length * sizeof(float) + 1);
  float *work_b = malloc(work_length * sizeof(float) + 1);
  for (size_t i = 0; i < work_length; i++) {
    work_a[i] = wild_work ? (float)(int8_t)data[i % size] * 1e3f / 7.0f : (float)(int16_t)(i * 2654435761u);
  }
  memcpy(work_b, work_a, work_length * sizeof(float));
  const int64_t expected = state0[2] >= 0 && state0[2] < down ? (state0[2] + up * (int64_t)n) / down : 0;
  const size_t output_length = (size_t)expected + output_slack > 2 ? (size_t)expected + output_slack - 2 : 0;
  int16_t *out_a = malloc(output_length * sizeof(int16_t) + 1);
  int16_t *out_b = malloc(output_length * sizeof(int16_t) + 1);
  memset(out_a, 0x5a, output_length * sizeof(int16_t));
  memset(out_b, 0x5a, output_length * sizeof(int16_t));
  int32_t state_a[3], state_b[3];
  memcpy(state_a, state0, sizeof state0);
  memcpy(state_b, state0, sizeof state0);

  int64_t count_a = run(fast, work_a, work_length, state_a, input, n, out_a, output_length);
  int64_t count_b = run(slow, work_b, work_length, state_b, input, n, out_b, output_length);
  CHECK(count_a == count_b);
  if (count_a < 0) {
    /* Refused: nothing written. */
    CHECK(memcmp(state_a, state0, sizeof state0) == 0);
    for (size_t i = 0; i < output_length; i++) CHECK(out_a[i] == 0x5a5a);
  } else {
    CHECK(count_a == expected);
    CHECK(memcmp(state_a, state_b, sizeof state_a) == 0);
    CHECK(memcmp(work_a, work_b, work_length * sizeof(float)) == 0);
    if (!wild_work) CHECK(memcmp(out_a, out_b, (size_t)count_a * sizeof(int16_t)) == 0);

    /* The same input in two calls from the same start. */
    if (!wild_work && work_length == (size_t)history + n) {
      const size_t k = n > 0 ? split_at % (n + 1) : 0;
      float *work_c = malloc(work_length * sizeof(float) + 1);
      for (size_t i = 0; i < work_length; i++) work_c[i] = (float)(int16_t)(i * 2654435761u);
      int32_t state_c[3];
      memcpy(state_c, state0, sizeof state0);
      int16_t *out_c = malloc((size_t)count_a * sizeof(int16_t) + 1);
      int64_t first = run(fast, work_c, (size_t)history + k, state_c, input, k, out_c, (size_t)count_a);
      if (first >= 0) {
        /* The second call's work holds the history at its front, as Resampler keeps it. */
        float *work_d = malloc(((size_t)history + (n - k)) * sizeof(float) + 1);
        memcpy(work_d, work_c, (size_t)history * sizeof(float));
        int64_t second = run(fast, work_d, (size_t)history + (n - k), state_c, input + k, n - k, out_c + first,
                             (size_t)(count_a - first));
        /* A state valid for the whole input can be refused for a part only if it reads past that part's end. */
        if (second >= 0) {
          CHECK(first + second == count_a);
          CHECK(memcmp(out_c, out_a, (size_t)count_a * sizeof(int16_t)) == 0);
          CHECK(memcmp(state_c, state_a, sizeof state_a) == 0);
          CHECK(memcmp(work_d, work_a, (size_t)history * sizeof(float)) == 0);
        }
        free(work_d);
      }
      free(work_c);
      free(out_c);
    }
  }
  free(input);
  free(work_a);
  free(work_b);
  free(out_a);
  free(out_b);
  ttma_polyphase_destroy(fast);
  ttma_polyphase_destroy(slow);
  return 0;
}
