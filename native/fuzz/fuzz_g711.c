/*
 * libFuzzer target for the G.711 C code (native/src/g711.c), below N-API.
 *
 * The input is read two ways: every byte as a code to decode, and every byte
 * pair as a PCM16 sample to encode. Buffers are allocated at their exact size,
 * so AddressSanitizer reports any read or write past the end. Checks, each
 * ending in __builtin_trap() on failure:
 *   - the dispatching loops (AVX2 where the CPU has it) equal the table loops
 *     and the per-sample formulas, at any length and alignment;
 *   - decode then encode gives the code back (mu-law 0x7f, negative zero,
 *     comes back as 0xff), and encode then decode stays within half a
 *     quantization step of the sample (G.711: 2^(segment + 2) in 16-bit units;
 *     the top segment also absorbs the clip at 32635);
 *   - the decoded value never decreases as the sample increases;
 *   - src and dst sharing memory give the sequential loop's result.
 *
 * Build and run: native/fuzz/run.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/g711.h"

#define CHECK(cond) \
  do {                \
    if (!(cond)) __builtin_trap(); \
  } while (0)

/* Largest |decode(encode(s)) - s| by segment of the code, measured over all 65536 samples. */
static const int MULAW_ERROR[8] = {4, 8, 16, 32, 64, 128, 256, 644};
static const int ALAW_ERROR[8] = {8, 8, 16, 32, 64, 128, 256, 512};

static int mulaw_segment(uint8_t code) { return ((uint8_t)~code >> 4) & 7; }
static int alaw_segment(uint8_t code) { return ((code ^ 0x55) >> 4) & 7; }

static void check_decode(const uint8_t *data, size_t n) {
  uint8_t *codes = malloc(n + 1);
  int16_t *fast = malloc(n * sizeof(int16_t) + 1);
  int16_t *table = malloc(n * sizeof(int16_t) + 1);
  memcpy(codes, data, n);
  ttma_pcmu_decode(codes, fast, n);
  ttma_pcmu_decode_scalar(codes, table, n);
  for (size_t i = 0; i < n; i++) {
    CHECK(fast[i] == table[i] && fast[i] == ttma_mulaw_decode_code(codes[i]));
    uint8_t back = ttma_mulaw_encode_sample(fast[i]);
    CHECK(back == codes[i] || (codes[i] == 0x7f && back == 0xff));
  }
  ttma_pcma_decode(codes, fast, n);
  ttma_pcma_decode_scalar(codes, table, n);
  for (size_t i = 0; i < n; i++) {
    CHECK(fast[i] == table[i] && fast[i] == ttma_alaw_decode_code(codes[i]));
    CHECK(ttma_alaw_encode_sample(fast[i]) == codes[i]);
  }
  free(codes);
  free(fast);
  free(table);
}

static void check_encode(const uint8_t *data, size_t n) {
  int16_t *samples = malloc(n * sizeof(int16_t) + 1);
  uint8_t *fast = malloc(n + 1);
  uint8_t *table = malloc(n + 1);
  for (size_t i = 0; i < n; i++) samples[i] = (int16_t)(uint16_t)(data[2 * i] | (data[2 * i + 1] << 8));
  ttma_pcmu_encode(samples, fast, n);
  ttma_pcmu_encode_scalar(samples, table, n);
  for (size_t i = 0; i < n; i++) {
    CHECK(fast[i] == table[i] && fast[i] == ttma_mulaw_encode_sample(samples[i]));
    int error = abs(ttma_mulaw_decode_code(fast[i]) - samples[i]);
    CHECK(error <= MULAW_ERROR[mulaw_segment(fast[i])]);
    if (i > 0 && samples[i - 1] <= samples[i]) {
      CHECK(ttma_mulaw_decode_code(fast[i - 1]) <= ttma_mulaw_decode_code(fast[i]));
    }
  }
  ttma_pcma_encode(samples, fast, n);
  ttma_pcma_encode_scalar(samples, table, n);
  for (size_t i = 0; i < n; i++) {
    CHECK(fast[i] == table[i] && fast[i] == ttma_alaw_encode_sample(samples[i]));
    int error = abs(ttma_alaw_decode_code(fast[i]) - samples[i]);
    CHECK(error <= ALAW_ERROR[alaw_segment(fast[i])]);
    if (i > 0 && samples[i - 1] <= samples[i]) {
      CHECK(ttma_alaw_decode_code(fast[i - 1]) <= ttma_alaw_decode_code(fast[i]));
    }
  }
  free(samples);
  free(fast);
  free(table);
}

/* src and dst in one buffer at offsets from the input: both loops on identical copies must agree. */
static void check_overlap(const uint8_t *data, size_t size) {
  if (size < 4) return;
  size_t total = size;
  size_t src_offset = data[0] % (total / 2 + 1);
  size_t dst_offset = data[1] % (total / 2 + 1);
  size_t room = total - (src_offset > dst_offset ? src_offset : dst_offset);
  size_t n = room / 2; /* the wider side (Int16) needs 2 bytes a sample */
  unsigned char *a = malloc(total);
  unsigned char *b = malloc(total);
  memcpy(a, data, total);
  memcpy(b, data, total);
  /* Decoding into memory that overlaps the codes (Int16 stores need even offsets in JavaScript; C does not care). */
  ttma_pcmu_decode(a + src_offset, (int16_t *)(void *)(a + (dst_offset & ~(size_t)1)), n);
  ttma_pcmu_decode_scalar(b + src_offset, (int16_t *)(void *)(b + (dst_offset & ~(size_t)1)), n);
  CHECK(memcmp(a, b, total) == 0);
  ttma_pcma_encode((const int16_t *)(const void *)(a + (src_offset & ~(size_t)1)), a + dst_offset, n);
  ttma_pcma_encode_scalar((const int16_t *)(const void *)(b + (src_offset & ~(size_t)1)), b + dst_offset, n);
  CHECK(memcmp(a, b, total) == 0);
  free(a);
  free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready = 0;
  if (!ready) {
    ttma_g711_init();
    ready = 1;
  }
  check_decode(data, size);
  check_encode(data, size / 2);
  check_overlap(data, size);
  return 0;
}
