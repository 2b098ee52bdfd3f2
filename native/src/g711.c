/*
 * G.711 tables and loops. Decoding is one 256-entry lookup per byte; encoding
 * one 64K-entry lookup per sample indexed by the sample's 16-bit pattern,
 * exactly as src/media/g711.ts does (see the comments there for the maths).
 * Encoding follows the 16-bit formulation (bias 0x84, clip 32635) of the
 * public-domain ulaw.c by Reese and Campbell and its A-law counterpart.
 */
#include "g711.h"

#include <pthread.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TTMA_G711_AVX2 1
#include <immintrin.h>
#endif

enum {
  CODES = 256,
  SAMPLE_PATTERNS = 65536,
  MULAW_BIAS = 0x84,
  MULAW_CLIP = 32635,
  MULAW_INVERT = 0xff, /* G.711 table 2a: every mu-law character is sent inverted */
  ALAW_EVEN_BITS = 0x55, /* G.711 table 1a: A-law has its even bits inverted */
  ALAW_CLIP = 32635,
  SIGN_BIT = 0x80,
  SEGMENT_SHIFT = 4,
  SEGMENT_MASK = 0x70,
  MANTISSA_MASK = 0x0f
};

static int16_t mulaw_decode[CODES];
static int16_t alaw_decode[CODES];
static uint8_t mulaw_encode[SAMPLE_PATTERNS];
static uint8_t alaw_encode[SAMPLE_PATTERNS];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

/* Index of the highest set bit of v > 0 (31 - clz32 in the TypeScript). */
static int top_bit(uint32_t v) {
  int bit = 0;
  while (v >>= 1) bit++;
  return bit;
}

uint8_t ttma_mulaw_encode_sample(int16_t sample) {
  int32_t s = sample;
  int sign = s < 0 ? SIGN_BIT : 0;
  int32_t magnitude = (sign ? -s : s) + MULAW_BIAS;
  if (magnitude > MULAW_CLIP) magnitude = MULAW_CLIP;
  int32_t top = magnitude >> 7;
  int segment = top == 0 ? 0 : top_bit((uint32_t)top);
  int mantissa = (magnitude >> (segment + 3)) & MANTISSA_MASK;
  return (uint8_t)(~(sign | (segment << SEGMENT_SHIFT) | mantissa) & MULAW_INVERT);
}

uint8_t ttma_alaw_encode_sample(int16_t sample) {
  int32_t s = sample == INT16_MIN ? INT16_MIN + 1 : sample;
  int sign = s >= 0 ? SIGN_BIT : 0;
  int32_t magnitude = sign ? s : -s;
  if (magnitude > ALAW_CLIP) magnitude = ALAW_CLIP;
  int companded;
  if (magnitude >= 256) {
    /* 32 - clz32(magnitude >> 8) in the TypeScript: 1 + index of the top bit. */
    int segment = 1 + top_bit((uint32_t)(magnitude >> 8));
    companded = (segment << SEGMENT_SHIFT) | ((magnitude >> (segment + 3)) & MANTISSA_MASK);
  } else {
    companded = magnitude >> 4;
  }
  return (uint8_t)(companded ^ (sign ^ ALAW_EVEN_BITS));
}

int16_t ttma_mulaw_decode_code(uint8_t code) {
  int u = ~code & MULAW_INVERT;
  int segment = (u & SEGMENT_MASK) >> SEGMENT_SHIFT;
  int mantissa = u & MANTISSA_MASK;
  /* ((2m + 33) << segment) - 33 in 14-bit units, times 4. */
  int magnitude = (((mantissa << 3) + MULAW_BIAS) << segment) - MULAW_BIAS;
  return (int16_t)(u & SIGN_BIT ? -magnitude : magnitude);
}

int16_t ttma_alaw_decode_code(uint8_t code) {
  int a = code ^ ALAW_EVEN_BITS;
  int segment = (a & SEGMENT_MASK) >> SEGMENT_SHIFT;
  int mantissa = a & MANTISSA_MASK;
  /* Mid-point of the quantization interval, in 13-bit units, times 8. */
  int magnitude = (mantissa << 4) + 8;
  if (segment > 0) magnitude = (magnitude + 0x100) << (segment - 1);
  /* After the even-bit inversion a set sign bit means a positive sample. */
  return (int16_t)(a & SIGN_BIT ? magnitude : -magnitude);
}

static void build_tables(void) {
  for (int code = 0; code < CODES; code++) {
    mulaw_decode[code] = ttma_mulaw_decode_code((uint8_t)code);
    alaw_decode[code] = ttma_alaw_decode_code((uint8_t)code);
  }
  for (int pattern = 0; pattern < SAMPLE_PATTERNS; pattern++) {
    int16_t sample = (int16_t)(uint16_t)pattern;
    mulaw_encode[pattern] = ttma_mulaw_encode_sample(sample);
    alaw_encode[pattern] = ttma_alaw_encode_sample(sample);
  }
}

void ttma_pcmu_decode_scalar(const uint8_t *src, int16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = mulaw_decode[src[i]];
}

void ttma_pcma_decode_scalar(const uint8_t *src, int16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = alaw_decode[src[i]];
}

void ttma_pcmu_encode_scalar(const int16_t *src, uint8_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = mulaw_encode[(uint16_t)src[i]];
}

void ttma_pcma_encode_scalar(const int16_t *src, uint8_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = alaw_encode[(uint16_t)src[i]];
}

#ifdef TTMA_G711_AVX2
/*
 * AVX2: the same formulas, 16 samples at a time in 16-bit lanes. AVX2 has no
 * per-lane 16-bit shift, so `v << seg` is a multiply by a power of two and
 * `v >> k` a high-half multiply by 2^(16 - k), the powers looked up with
 * pshufb from the segment number; the segment itself (the top bit's index)
 * is looked up a nibble at a time. Checked against the tables for every input
 * by test/media/native.test.ts and by the fuzz target.
 */
#define AVX2 __attribute__((target("avx2")))
#define LANES 16

AVX2 static inline __m256i bytes_table(const int8_t t[16]) {
  __m128i half = _mm_loadu_si128((const __m128i *)t);
  return _mm256_broadcastsi128_si256(half);
}

/* 16 words to 16 bytes, in order. */
AVX2 static inline __m128i narrow(__m256i words) {
  return _mm_packus_epi16(_mm256_castsi256_si128(words), _mm256_extracti128_si256(words, 1));
}

AVX2 static void pcmu_decode_avx2(const uint8_t *src, int16_t *dst, size_t n) {
  static const int8_t POW2[16] = {1, 2, 4, 8, 16, 32, 64, (int8_t)128};
  const __m256i pow2 = bytes_table(POW2);
  const __m256i invert = _mm256_set1_epi16(MULAW_INVERT);
  const __m256i seven = _mm256_set1_epi16(7);
  const __m256i fifteen = _mm256_set1_epi16(MANTISSA_MASK);
  const __m256i bias = _mm256_set1_epi16(MULAW_BIAS);
  const __m256i sign = _mm256_set1_epi16(SIGN_BIT);
  const __m256i one = _mm256_set1_epi16(1);
  size_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    __m256i u = _mm256_xor_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(src + i))), invert);
    __m256i segment = _mm256_and_si256(_mm256_srli_epi16(u, SEGMENT_SHIFT), seven);
    __m256i base = _mm256_add_epi16(_mm256_slli_epi16(_mm256_and_si256(u, fifteen), 3), bias);
    /* pshufb fills each word's high byte with POW2[0] (segment's high byte is 0): keep the low byte only. */
    __m256i power = _mm256_and_si256(_mm256_shuffle_epi8(pow2, segment), _mm256_set1_epi16(0xff));
    __m256i magnitude = _mm256_sub_epi16(_mm256_mullo_epi16(base, power), bias);
    __m256i negative = _mm256_cmpeq_epi16(_mm256_and_si256(u, sign), sign);
    __m256i value = _mm256_sign_epi16(magnitude, _mm256_or_si256(negative, one));
    _mm256_storeu_si256((__m256i *)(dst + i), value);
  }
  ttma_pcmu_decode_scalar(src + i, dst + i, n - i);
}

AVX2 static void pcma_decode_avx2(const uint8_t *src, int16_t *dst, size_t n) {
  /* 2^(segment - 1), and 1 for segment 0. */
  static const int8_t POW2[16] = {1, 1, 2, 4, 8, 16, 32, 64};
  const __m256i pow2 = bytes_table(POW2);
  const __m256i even_bits = _mm256_set1_epi16(ALAW_EVEN_BITS);
  const __m256i seven = _mm256_set1_epi16(7);
  const __m256i fifteen = _mm256_set1_epi16(MANTISSA_MASK);
  const __m256i eight = _mm256_set1_epi16(8);
  const __m256i above_segment0 = _mm256_set1_epi16(0x100);
  const __m256i sign = _mm256_set1_epi16(SIGN_BIT);
  const __m256i low_byte = _mm256_set1_epi16(0xff);
  const __m256i one = _mm256_set1_epi16(1);
  const __m256i zero = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    __m256i a = _mm256_xor_si256(_mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(src + i))), even_bits);
    __m256i segment = _mm256_and_si256(_mm256_srli_epi16(a, SEGMENT_SHIFT), seven);
    __m256i base = _mm256_add_epi16(_mm256_slli_epi16(_mm256_and_si256(a, fifteen), 4), eight);
    __m256i in_segment0 = _mm256_cmpeq_epi16(segment, zero);
    base = _mm256_add_epi16(base, _mm256_andnot_si256(in_segment0, above_segment0));
    __m256i power = _mm256_and_si256(_mm256_shuffle_epi8(pow2, segment), low_byte);
    __m256i magnitude = _mm256_mullo_epi16(base, power);
    /* After the even-bit inversion a clear sign bit means a negative sample. */
    __m256i negative = _mm256_cmpeq_epi16(_mm256_and_si256(a, sign), zero);
    _mm256_storeu_si256((__m256i *)(dst + i), _mm256_sign_epi16(magnitude, _mm256_or_si256(negative, one)));
  }
  ttma_pcma_decode_scalar(src + i, dst + i, n - i);
}

AVX2 static void pcmu_encode_avx2(const int16_t *src, uint8_t *dst, size_t n) {
  /* floor(log2(v)) for v < 16 (0 for 0), and 4 + floor(log2(v)) for the high nibble (0 for 0). */
  static const int8_t LOG2_LOW[16] = {0, 0, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};
  static const int8_t LOG2_HIGH[16] = {0, 4, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7};
  /* 2^(13 - segment) = (SHIFT_HIGH << 8) | SHIFT_LOW: the multiplier whose high half is v >> (segment + 3). */
  static const int8_t SHIFT_HIGH[16] = {32, 16, 8, 4, 2, 1, 0, 0};
  static const int8_t SHIFT_LOW[16] = {0, 0, 0, 0, 0, 0, (int8_t)128, 64};
  const __m256i log2_low = bytes_table(LOG2_LOW);
  const __m256i log2_high = bytes_table(LOG2_HIGH);
  const __m256i shift_high = bytes_table(SHIFT_HIGH);
  const __m256i shift_low = bytes_table(SHIFT_LOW);
  const __m256i bias = _mm256_set1_epi16(MULAW_BIAS);
  const __m256i clip = _mm256_set1_epi16(MULAW_CLIP);
  const __m256i fifteen = _mm256_set1_epi16(MANTISSA_MASK);
  const __m256i sign_bit = _mm256_set1_epi16(SIGN_BIT);
  const __m256i invert = _mm256_set1_epi16(MULAW_INVERT);
  const __m256i zero = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    __m256i s = _mm256_loadu_si256((const __m256i *)(src + i));
    __m256i sign = _mm256_and_si256(_mm256_cmpgt_epi16(zero, s), sign_bit);
    /* |s| + bias as unsigned 16-bit: |-32768| + 0x84 = 32900 still fits, then the clip. */
    __m256i magnitude = _mm256_min_epu16(_mm256_add_epi16(_mm256_abs_epi16(s), bias), clip);
    __m256i top = _mm256_srli_epi16(magnitude, 7); /* 1..254 */
    __m256i segment = _mm256_max_epu8(_mm256_shuffle_epi8(log2_high, _mm256_srli_epi16(top, 4)),
                                      _mm256_shuffle_epi8(log2_low, _mm256_and_si256(top, fifteen)));
    __m256i multiplier = _mm256_or_si256(_mm256_slli_epi16(_mm256_shuffle_epi8(shift_high, segment), 8),
                                         _mm256_shuffle_epi8(shift_low, segment));
    __m256i mantissa = _mm256_and_si256(_mm256_mulhi_epu16(magnitude, multiplier), fifteen);
    __m256i code = _mm256_or_si256(_mm256_or_si256(sign, _mm256_slli_epi16(segment, SEGMENT_SHIFT)), mantissa);
    _mm_storeu_si128((__m128i *)(dst + i), narrow(_mm256_xor_si256(code, invert)));
  }
  ttma_pcmu_encode_scalar(src + i, dst + i, n - i);
}

AVX2 static void pcma_encode_avx2(const int16_t *src, uint8_t *dst, size_t n) {
  /* Segment of v = magnitude >> 8 (0..127): 0 for 0, else floor(log2(v)) + 1, a nibble at a time. */
  static const int8_t SEGMENT_LOW[16] = {0, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4};
  static const int8_t SEGMENT_HIGH[16] = {0, 5, 6, 6, 7, 7, 7, 7};
  /* Shift 4 in segment 0, segment + 3 above: multiplier 2^(16 - shift) = (SHIFT_HIGH << 8) | SHIFT_LOW. */
  static const int8_t SHIFT_HIGH[16] = {16, 16, 8, 4, 2, 1, 0, 0};
  static const int8_t SHIFT_LOW[16] = {0, 0, 0, 0, 0, 0, (int8_t)128, 64};
  const __m256i segment_low = bytes_table(SEGMENT_LOW);
  const __m256i segment_high = bytes_table(SEGMENT_HIGH);
  const __m256i shift_high = bytes_table(SHIFT_HIGH);
  const __m256i shift_low = bytes_table(SHIFT_LOW);
  const __m256i floor_value = _mm256_set1_epi16(INT16_MIN + 1);
  const __m256i clip = _mm256_set1_epi16(ALAW_CLIP);
  const __m256i fifteen = _mm256_set1_epi16(MANTISSA_MASK);
  const __m256i positive_code = _mm256_set1_epi16(SIGN_BIT ^ ALAW_EVEN_BITS);
  const __m256i negative_code = _mm256_set1_epi16(ALAW_EVEN_BITS);
  const __m256i minus_one = _mm256_set1_epi16(-1);
  size_t i = 0;
  for (; i + LANES <= n; i += LANES) {
    __m256i s = _mm256_max_epi16(_mm256_loadu_si256((const __m256i *)(src + i)), floor_value);
    __m256i positive = _mm256_cmpgt_epi16(s, minus_one);
    __m256i magnitude = _mm256_min_epi16(_mm256_abs_epi16(s), clip);
    __m256i top = _mm256_srli_epi16(magnitude, 8); /* 0..127 */
    __m256i segment = _mm256_max_epu8(_mm256_shuffle_epi8(segment_high, _mm256_srli_epi16(top, 4)),
                                      _mm256_shuffle_epi8(segment_low, _mm256_and_si256(top, fifteen)));
    __m256i multiplier = _mm256_or_si256(_mm256_slli_epi16(_mm256_shuffle_epi8(shift_high, segment), 8),
                                         _mm256_shuffle_epi8(shift_low, segment));
    __m256i mantissa = _mm256_and_si256(_mm256_mulhi_epu16(magnitude, multiplier), fifteen);
    __m256i companded = _mm256_or_si256(_mm256_slli_epi16(segment, SEGMENT_SHIFT), mantissa);
    __m256i mask = _mm256_blendv_epi8(negative_code, positive_code, positive);
    _mm_storeu_si128((__m128i *)(dst + i), narrow(_mm256_xor_si256(companded, mask)));
  }
  ttma_pcma_encode_scalar(src + i, dst + i, n - i);
}
#endif

typedef void (*decode_fn)(const uint8_t *, int16_t *, size_t);
typedef void (*encode_fn)(const int16_t *, uint8_t *, size_t);

static decode_fn pcmu_decode_best = ttma_pcmu_decode_scalar;
static decode_fn pcma_decode_best = ttma_pcma_decode_scalar;
static encode_fn pcmu_encode_best = ttma_pcmu_encode_scalar;
static encode_fn pcma_encode_best = ttma_pcma_encode_scalar;
static const char *kernel_name = "scalar";

static void init_once(void) {
  build_tables();
#ifdef TTMA_G711_AVX2
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) {
    pcmu_decode_best = pcmu_decode_avx2;
    pcma_decode_best = pcma_decode_avx2;
    pcmu_encode_best = pcmu_encode_avx2;
    pcma_encode_best = pcma_encode_avx2;
    kernel_name = "avx2";
  }
#endif
}

void ttma_g711_init(void) { pthread_once(&tables_once, init_once); }

const char *ttma_g711_kernel_name(void) { return kernel_name; }

/* True when the byte ranges share memory: the vector loops read ahead, so overlap takes the sequential loop. */
static int overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes) {
  uintptr_t a0 = (uintptr_t)a;
  uintptr_t b0 = (uintptr_t)b;
  return a_bytes > 0 && b_bytes > 0 && a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

void ttma_pcmu_decode(const uint8_t *src, int16_t *dst, size_t n) {
  if (overlaps(src, n, dst, n * sizeof(int16_t))) ttma_pcmu_decode_scalar(src, dst, n);
  else pcmu_decode_best(src, dst, n);
}

void ttma_pcma_decode(const uint8_t *src, int16_t *dst, size_t n) {
  if (overlaps(src, n, dst, n * sizeof(int16_t))) ttma_pcma_decode_scalar(src, dst, n);
  else pcma_decode_best(src, dst, n);
}

void ttma_pcmu_encode(const int16_t *src, uint8_t *dst, size_t n) {
  if (overlaps(src, n * sizeof(int16_t), dst, n)) ttma_pcmu_encode_scalar(src, dst, n);
  else pcmu_encode_best(src, dst, n);
}

void ttma_pcma_encode(const int16_t *src, uint8_t *dst, size_t n) {
  if (overlaps(src, n * sizeof(int16_t), dst, n)) ttma_pcma_encode_scalar(src, dst, n);
  else pcma_encode_best(src, dst, n);
}
