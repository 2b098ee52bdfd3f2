/*
 * Polyphase FIR inner loop (see polyphase.h). Two kernels compute the same
 * numbers: a portable scalar one written exactly like dot() and dotSymmetric()
 * in src/media/Resampler.ts, and on x86-64 an AVX2 one, whose four double
 * lanes are either the TypeScript's four partial sums a0..a3 of one output
 * (two outputs side by side), or, when upsampling, four outputs that share a
 * branch (a0..a3 then in four registers).
 */
#include "polyphase.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define TTMA_HAVE_AVX2 1
#include <immintrin.h>
#endif

/* Math.round gives a value inside Int16 exactly for acc in [ROUND_LOW, ROUND_HIGH). */
#define ROUND_LOW (-32768.5)
#define ROUND_HIGH 32767.5
/* Samples converted to double on the stack per call; longer calls (chunks over ~1800 samples) allocate. */
#define STACK_SCRATCH 2048

typedef enum { KERNEL_SCALAR = 0, KERNEL_AVX2 = 1 } kernel_id;

static const char *const KERNEL_NAMES[] = {"scalar", "avx2-fma"};

struct ttma_polyphase {
  int64_t up;
  int64_t down;
  int64_t history;
  int64_t max_reach;
  kernel_id kernel;
  /* Per branch; all arrays live in the same allocation as this struct. */
  int64_t *start;
  int64_t *length;
  int64_t *reach;
  uint8_t *symmetric;
  /* The Float32 coefficients widened to double (exact). */
  double *coefs;
};

static void fail(char *err, const char *format, ...) {
  if (err == NULL) return;
  va_list args;
  va_start(args, format);
  vsnprintf(err, TTMA_ERROR_SIZE, format, args);
  va_end(args);
}

/* Four partial sums, as dot() in Resampler.ts. */
static inline double dot_scalar(const double *c, int64_t length, const double *x) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t j = 0;
  for (; j + 3 < length; j += 4) {
    a0 += c[j] * x[j];
    a1 += c[j + 1] * x[j + 1];
    a2 += c[j + 2] * x[j + 2];
    a3 += c[j + 3] * x[j + 3];
  }
  for (; j < length; j++) a0 += c[j] * x[j];
  return a0 + a1 + a2 + a3;
}

/* dot() for c symmetric about its middle, as dotSymmetric() in Resampler.ts. */
static inline double dot_symmetric_scalar(const double *c, int64_t length, const double *x) {
  int64_t half = length >> 1;
  double a0 = (length & 1) ? c[half] * x[half] : 0;
  double a1 = 0, a2 = 0, a3 = 0;
  int64_t j = 0;
  int64_t lo = 0;
  int64_t hi = length - 1;
  for (; j + 3 < half; j += 4, lo += 4, hi -= 4) {
    a0 += c[j] * (x[lo] + x[hi]);
    a1 += c[j + 1] * (x[lo + 1] + x[hi - 1]);
    a2 += c[j + 2] * (x[lo + 2] + x[hi - 2]);
    a3 += c[j + 3] * (x[lo + 3] + x[hi - 3]);
  }
  for (; j < half; j++, lo++, hi--) a0 += c[j] * (x[lo] + x[hi]);
  return a0 + a1 + a2 + a3;
}

static inline void dot2_scalar(const double *c0, const double *x0, const double *c1, const double *x1, int64_t length,
                        double *r0, double *r1) {
  *r0 = dot_scalar(c0, length, x0);
  *r1 = dot_scalar(c1, length, x1);
}

static inline void dot2_symmetric_scalar(const double *c0, const double *x0, const double *c1, const double *x1,
                                  int64_t length, double *r0, double *r1) {
  *r0 = dot_symmetric_scalar(c0, length, x0);
  *r1 = dot_symmetric_scalar(c1, length, x1);
}

#ifdef TTMA_HAVE_AVX2
/*
 * Lane k of an accumulator is the TypeScript's a_k. A fused multiply-add
 * rounds once where the TypeScript rounds the product and then the sum, but
 * the product of a float coefficient and an Int16-valued sample is exact in
 * double, so both round the same sum. Each sum is one dependent chain (that is
 * what makes it exact), so the two-output versions run two chains side by side.
 */
#define AVX2 __attribute__((target("avx2,fma")))

/* Lanes out by shuffles: a 256-bit store read back as doubles stalls store forwarding. */
AVX2 static inline void lanes(__m256d v, double *a0, double *a1, double *a2, double *a3) {
  __m128d low = _mm256_castpd256_pd128(v);
  __m128d high = _mm256_extractf128_pd(v, 1);
  *a0 = _mm_cvtsd_f64(low);
  *a1 = _mm_cvtsd_f64(_mm_unpackhi_pd(low, low));
  *a2 = _mm_cvtsd_f64(high);
  *a3 = _mm_cvtsd_f64(_mm_unpackhi_pd(high, high));
}

/* x[lo..lo+3] + x[hi..hi-3]: lane k pairs x[lo+k] with x[hi-k]. */
AVX2 static inline __m256d mirrored_pairs(const double *x, int64_t lo, int64_t hi) {
  __m256d high = _mm256_permute4x64_pd(_mm256_loadu_pd(x + hi - 3), _MM_SHUFFLE(0, 1, 2, 3));
  return _mm256_add_pd(_mm256_loadu_pd(x + lo), high);
}

AVX2 static inline double dot_avx2(const double *c, int64_t length, const double *x) {
  __m256d acc = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 3 < length; j += 4) acc = _mm256_fmadd_pd(_mm256_loadu_pd(c + j), _mm256_loadu_pd(x + j), acc);
  double a0, a1, a2, a3;
  lanes(acc, &a0, &a1, &a2, &a3);
  for (; j < length; j++) a0 += c[j] * x[j];
  return a0 + a1 + a2 + a3;
}

AVX2 static inline void dot2_avx2(const double *c0, const double *x0, const double *c1, const double *x1, int64_t length,
                           double *r0, double *r1) {
  __m256d acc0 = _mm256_setzero_pd();
  __m256d acc1 = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 3 < length; j += 4) {
    acc0 = _mm256_fmadd_pd(_mm256_loadu_pd(c0 + j), _mm256_loadu_pd(x0 + j), acc0);
    acc1 = _mm256_fmadd_pd(_mm256_loadu_pd(c1 + j), _mm256_loadu_pd(x1 + j), acc1);
  }
  double a0, a1, a2, a3, b0, b1, b2, b3;
  lanes(acc0, &a0, &a1, &a2, &a3);
  lanes(acc1, &b0, &b1, &b2, &b3);
  for (; j < length; j++) {
    a0 += c0[j] * x0[j];
    b0 += c1[j] * x1[j];
  }
  *r0 = a0 + a1 + a2 + a3;
  *r1 = b0 + b1 + b2 + b3;
}

AVX2 static inline double dot_symmetric_avx2(const double *c, int64_t length, const double *x) {
  int64_t half = length >> 1;
  __m256d acc = _mm256_set_pd(0, 0, 0, (length & 1) ? c[half] * x[half] : 0);
  int64_t j = 0;
  int64_t lo = 0;
  int64_t hi = length - 1;
  for (; j + 3 < half; j += 4, lo += 4, hi -= 4) {
    acc = _mm256_fmadd_pd(_mm256_loadu_pd(c + j), mirrored_pairs(x, lo, hi), acc);
  }
  double a0, a1, a2, a3;
  lanes(acc, &a0, &a1, &a2, &a3);
  for (; j < half; j++, lo++, hi--) a0 += c[j] * (x[lo] + x[hi]);
  return a0 + a1 + a2 + a3;
}

AVX2 static inline void dot2_symmetric_avx2(const double *c0, const double *x0, const double *c1, const double *x1,
                                     int64_t length, double *r0, double *r1) {
  int64_t half = length >> 1;
  __m256d acc0 = _mm256_set_pd(0, 0, 0, (length & 1) ? c0[half] * x0[half] : 0);
  __m256d acc1 = _mm256_set_pd(0, 0, 0, (length & 1) ? c1[half] * x1[half] : 0);
  int64_t j = 0;
  int64_t lo = 0;
  int64_t hi = length - 1;
  for (; j + 3 < half; j += 4, lo += 4, hi -= 4) {
    acc0 = _mm256_fmadd_pd(_mm256_loadu_pd(c0 + j), mirrored_pairs(x0, lo, hi), acc0);
    acc1 = _mm256_fmadd_pd(_mm256_loadu_pd(c1 + j), mirrored_pairs(x1, lo, hi), acc1);
  }
  double a0, a1, a2, a3, b0, b1, b2, b3;
  lanes(acc0, &a0, &a1, &a2, &a3);
  lanes(acc1, &b0, &b1, &b2, &b3);
  for (; j < half; j++, lo++, hi--) {
    a0 += c0[j] * (x0[lo] + x0[hi]);
    b0 += c1[j] * (x1[lo] + x1[hi]);
  }
  *r0 = a0 + a1 + a2 + a3;
  *r1 = b0 + b1 + b2 + b3;
}

static int cpu_has_avx2_fma(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

const char *ttma_polyphase_best_kernel_name(void) {
#ifdef TTMA_HAVE_AVX2
  if (cpu_has_avx2_fma()) return "avx2-fma";
#endif
  return "scalar";
}

ttma_polyphase *ttma_polyphase_create(const float *coefs, size_t coef_count, const int32_t *branch_start,
                                      const int32_t *branch_length, const int32_t *branch_reach,
                                      const uint8_t *branch_symmetric, size_t branches, int64_t up, int64_t down,
                                      int64_t history, ttma_kernel_choice kernel, char *err) {
  if (up < 1 || up > TTMA_POLYPHASE_MAX_FACTOR || down < 1 || down > TTMA_POLYPHASE_MAX_FACTOR) {
    fail(err, "up and down must be integers in 1..%d, got %lld and %lld", TTMA_POLYPHASE_MAX_FACTOR, (long long)up,
         (long long)down);
    return NULL;
  }
  if ((int64_t)branches != up) {
    fail(err, "branch tables must have up = %lld entries, got %zu", (long long)up, branches);
    return NULL;
  }
  if (history < 1 || history > TTMA_POLYPHASE_MAX_HISTORY) {
    fail(err, "history must be an integer in 1..%d, got %lld", TTMA_POLYPHASE_MAX_HISTORY, (long long)history);
    return NULL;
  }
  if (coef_count == 0 || coef_count > (size_t)TTMA_POLYPHASE_MAX_FACTOR * TTMA_POLYPHASE_MAX_HISTORY) {
    fail(err, "coefs must hold 1..%lld values, got %zu",
         (long long)TTMA_POLYPHASE_MAX_FACTOR * TTMA_POLYPHASE_MAX_HISTORY, coef_count);
    return NULL;
  }
  int64_t max_reach = 0;
  for (size_t p = 0; p < branches; p++) {
    int64_t start = branch_start[p];
    int64_t length = branch_length[p];
    int64_t reach = branch_reach[p];
    if (start < 0 || length < 1 || start + length > (int64_t)coef_count) {
      fail(err, "branch %zu covers coefs[%lld..%lld), outside the %zu coefficients", p, (long long)start,
           (long long)(start + length), coef_count);
      return NULL;
    }
    if (reach < length - 1 || reach >= history) {
      fail(err, "branch %zu reaches %lld samples back with %lld taps and history %lld: need taps - 1 <= reach < history",
           p, (long long)reach, (long long)length, (long long)history);
      return NULL;
    }
    if (branch_symmetric[p] > 1) {
      fail(err, "branchSymmetric[%zu] must be 0 or 1, got %u", p, (unsigned)branch_symmetric[p]);
      return NULL;
    }
    if (reach > max_reach) max_reach = reach;
  }

  size_t per_branch = 3 * sizeof(int64_t) + 1;
  size_t header = sizeof(ttma_polyphase);
  size_t tables = (size_t)up * per_branch;
  /* Coefficients after the tables, aligned for doubles. */
  size_t coef_offset = (header + tables + sizeof(double) - 1) / sizeof(double) * sizeof(double);
  unsigned char *block = malloc(coef_offset + coef_count * sizeof(double));
  if (block == NULL) {
    fail(err, "out of memory");
    return NULL;
  }
  ttma_polyphase *f = (ttma_polyphase *)block;
  f->up = up;
  f->down = down;
  f->history = history;
  f->max_reach = max_reach;
  f->start = (int64_t *)(block + header);
  f->length = f->start + up;
  f->reach = f->length + up;
  f->symmetric = (uint8_t *)(f->reach + up);
  f->coefs = (double *)(block + coef_offset);
  for (int64_t p = 0; p < up; p++) {
    f->start[p] = branch_start[p];
    f->length[p] = branch_length[p];
    f->reach[p] = branch_reach[p];
    f->symmetric[p] = branch_symmetric[p];
  }
  for (size_t i = 0; i < coef_count; i++) f->coefs[i] = (double)coefs[i];

  f->kernel = KERNEL_SCALAR;
#ifdef TTMA_HAVE_AVX2
  if (kernel == TTMA_KERNEL_AUTO && cpu_has_avx2_fma()) f->kernel = KERNEL_AVX2;
#else
  (void)kernel;
#endif
  return f;
}

void ttma_polyphase_destroy(ttma_polyphase *f) { free(f); }

const char *ttma_polyphase_kernel_name(const ttma_polyphase *f) { return KERNEL_NAMES[f->kernel]; }

/*
 * Math.round (nearest, ties toward +infinity), the clamp, and the Int16Array
 * store (NaN becomes 0), without a libm call: inside the Int16 range the
 * truncation to int32 is exact and acc - floor(acc) is exact.
 */
static inline int16_t round_to_int16(double acc) {
  if (acc >= ROUND_LOW && acc < ROUND_HIGH) {
    /* Comparisons as 0/1 values, not branches: the rounding direction of audio is a coin toss. */
    int32_t t = (int32_t)acc;
    int32_t f = t - ((double)t > acc);
    return (int16_t)(f + (acc - (double)f >= 0.5));
  }
  if (acc >= ROUND_HIGH) return INT16_MAX;
  if (acc < ROUND_LOW) return INT16_MIN;
  return 0;
}

/* One output's sum with the kernel's dot product. */
static inline __attribute__((always_inline)) double single(const double *c, int64_t length, const double *x,
                                                            uint8_t sym, kernel_id kernel) {
#ifdef TTMA_HAVE_AVX2
  if (kernel == KERNEL_AVX2) return sym ? dot_symmetric_avx2(c, length, x) : dot_avx2(c, length, x);
#endif
  (void)kernel;
  return sym ? dot_symmetric_scalar(c, length, x) : dot_scalar(c, length, x);
}

/*
 * The outputs of one call, from x (history then input, as doubles). A
 * multi-tap output waits for the next one with the same branch shape, so the
 * two sums run side by side: each is one dependent chain (that is what keeps
 * it in the TypeScript's order), and two chains fill the time one spends
 * waiting on its adds. Written once, inlined into one copy per kernel so the
 * dot products inline and the tables stay in registers.
 */
static inline __attribute__((always_inline)) void outputs(const ttma_polyphase *f, const double *x, int16_t *output,
                                                           int64_t first, int64_t count, int64_t newest,
                                                           int64_t branch, kernel_id kernel) {
  const int64_t up = f->up;
  const int64_t down = f->down;
  const int64_t history = f->history;
  const double *const coefs = f->coefs;
  const int64_t *const start = f->start;
  const int64_t *const lengths = f->length;
  const int64_t *const reach = f->reach;
  const uint8_t *const symmetric = f->symmetric;
  int64_t pending = -1;
  const double *pending_c = NULL;
  const double *pending_x = NULL;
  int64_t pending_length = 0;
  uint8_t pending_symmetric = 0;
  for (int64_t o = first; o < count; o++) {
    const int64_t length = lengths[branch];
    const double *c = coefs + start[branch];
    const double *xo = x + (history + newest - reach[branch]);
    const uint8_t sym = symmetric[branch];
    if (length == 1) {
      output[o] = round_to_int16(c[0] * xo[0]);
    } else if (pending >= 0 && pending_length == length && pending_symmetric == sym) {
      double r0, r1;
      if (kernel == KERNEL_AVX2) {
#ifdef TTMA_HAVE_AVX2
        if (sym) dot2_symmetric_avx2(pending_c, pending_x, c, xo, length, &r0, &r1);
        else dot2_avx2(pending_c, pending_x, c, xo, length, &r0, &r1);
#endif
      } else {
        if (sym) dot2_symmetric_scalar(pending_c, pending_x, c, xo, length, &r0, &r1);
        else dot2_scalar(pending_c, pending_x, c, xo, length, &r0, &r1);
      }
      output[pending] = round_to_int16(r0);
      output[o] = round_to_int16(r1);
      pending = -1;
    } else {
      if (pending >= 0) output[pending] = round_to_int16(single(pending_c, pending_length, pending_x, pending_symmetric, kernel));
      pending = o;
      pending_c = c;
      pending_x = xo;
      pending_length = length;
      pending_symmetric = sym;
    }
    branch += down;
    while (branch >= up) {
      branch -= up;
      newest++;
    }
  }
  if (pending >= 0) output[pending] = round_to_int16(single(pending_c, pending_length, pending_x, pending_symmetric, kernel));
}

static void outputs_scalar(const ttma_polyphase *f, const double *x, int16_t *output, int64_t count, int64_t newest,
                           int64_t branch) {
  outputs(f, x, output, 0, count, newest, branch, KERNEL_SCALAR);
}

#ifdef TTMA_HAVE_AVX2
/*
 * Pure upsampling (down = 1): the outputs o, o + up, o + 2 up, o + 3 up use
 * the same branch on inputs one sample apart, so one vector lane per output
 * does the work of four, with the TypeScript's partial sums a0..a3 in four
 * registers instead of four lanes. Same products, same order per output.
 */
AVX2 static inline __m256d dot4_inputs_apart(const double *c, int64_t length, const double *x) {
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
  int64_t j = 0;
  for (; j + 3 < length; j += 4) {
    a0 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j), _mm256_loadu_pd(x + j), a0);
    a1 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j + 1), _mm256_loadu_pd(x + j + 1), a1);
    a2 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j + 2), _mm256_loadu_pd(x + j + 2), a2);
    a3 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j + 3), _mm256_loadu_pd(x + j + 3), a3);
  }
  for (; j < length; j++) a0 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j), _mm256_loadu_pd(x + j), a0);
  return _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(a0, a1), a2), a3);
}

AVX2 static inline __m256d pairs_at(const double *x, int64_t lo, int64_t hi) {
  return _mm256_add_pd(_mm256_loadu_pd(x + lo), _mm256_loadu_pd(x + hi));
}

AVX2 static inline __m256d dot4_symmetric_inputs_apart(const double *c, int64_t length, const double *x) {
  const int64_t half = length >> 1;
  __m256d a0 = (length & 1) ? _mm256_mul_pd(_mm256_broadcast_sd(c + half), _mm256_loadu_pd(x + half))
                            : _mm256_setzero_pd();
  __m256d a1 = _mm256_setzero_pd(), a2 = a1, a3 = a1;
  int64_t j = 0;
  int64_t lo = 0;
  int64_t hi = length - 1;
  for (; j + 3 < half; j += 4, lo += 4, hi -= 4) {
    a0 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j), pairs_at(x, lo, hi), a0);
    a1 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j + 1), pairs_at(x, lo + 1, hi - 1), a1);
    a2 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j + 2), pairs_at(x, lo + 2, hi - 2), a2);
    a3 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j + 3), pairs_at(x, lo + 3, hi - 3), a3);
  }
  for (; j < half; j++, lo++, hi--) a0 = _mm256_fmadd_pd(_mm256_broadcast_sd(c + j), pairs_at(x, lo, hi), a0);
  return _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(a0, a1), a2), a3);
}

/* round_to_int16 on four lanes: floor, ties up, clamp, NaN to 0. */
AVX2 static inline __m128i round4_to_int16(__m256d acc) {
  __m256d f = _mm256_floor_pd(acc);
  __m256d tie_up = _mm256_cmp_pd(_mm256_sub_pd(acc, f), _mm256_set1_pd(0.5), _CMP_GE_OQ);
  __m256d r = _mm256_add_pd(f, _mm256_and_pd(tie_up, _mm256_set1_pd(1.0)));
  r = _mm256_min_pd(_mm256_max_pd(r, _mm256_set1_pd(INT16_MIN)), _mm256_set1_pd(INT16_MAX));
  r = _mm256_and_pd(r, _mm256_cmp_pd(acc, acc, _CMP_ORD_Q));
  __m128i words = _mm256_cvttpd_epi32(r);
  return _mm_packs_epi32(words, words);
}

/* Output o's sample of tap t (the few taps outside the main loops). */
AVX2 static inline __m256d tap_load(const double *const phases[], uint64_t down, uint64_t o, uint64_t t) {
  return _mm256_loadu_pd(phases[t % down] + o + t / down);
}

/*
 * Taps come in blocks of B = lcm(4, D): tap J + m of a block (J a multiple of
 * B) is in phase m mod D at J/D + m div D, and goes to a_(m mod 4) as in the
 * TypeScript, so with D a constant (these are inlined per factor) every load
 * is a base register plus the block index plus a constant: no index
 * arithmetic in the loop, which is then bound by its loads. Taps past the
 * last whole block keep the TypeScript's order through tap_load.
 */
AVX2 static inline __attribute__((always_inline)) __m256d decimate4_symmetric(const double *c, uint64_t length,
                                                                               const double *const phases[],
                                                                               uint64_t o, const uint64_t down,
                                                                               const int64_t last_phase) {
  const uint64_t block = down == 2 ? 4 : 12;
  const uint64_t half = length >> 1;
  const uint64_t last = length - 1;
  /* Tap last - m is in phase (last_phase - m) mod D at last div D + floor((last_phase - m) / D). */
  const uint64_t last_div = last / down;
  const uint64_t quads_end = half & ~(uint64_t)3;
  __m256d acc[4] = {(length & 1) ? _mm256_mul_pd(_mm256_broadcast_sd(c + half), tap_load(phases, down, o, half))
                                 : _mm256_setzero_pd(),
                    _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  uint64_t t = 0;
  for (uint64_t step = 0; t + block <= quads_end; t += block, step += block / down) {
#pragma GCC unroll 12
    for (uint64_t m = 0; m < block; m++) {
      const double *lo = phases[m % down] + o + m / down + step;
      const int64_t dm = last_phase - (int64_t)m;
      const int64_t ph = ((dm % (int64_t)down) + (int64_t)down) % (int64_t)down;
      const double *hi = phases[ph] + o + last_div + (dm - ph) / (int64_t)down - step;
      const __m256d pair = _mm256_add_pd(_mm256_loadu_pd(lo), _mm256_loadu_pd(hi));
      acc[m & 3] = _mm256_fmadd_pd(_mm256_broadcast_sd(c + t + m), pair, acc[m & 3]);
    }
  }
  for (; t < half; t++) {
    const __m256d pair = _mm256_add_pd(tap_load(phases, down, o, t), tap_load(phases, down, o, last - t));
    const uint64_t k = t < quads_end ? (t & 3) : 0;
    acc[k] = _mm256_fmadd_pd(_mm256_broadcast_sd(c + t), pair, acc[k]);
  }
  return _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), acc[2]), acc[3]);
}

AVX2 static inline __attribute__((always_inline)) __m256d decimate4(const double *c, uint64_t length,
                                                                     const double *const phases[], uint64_t o,
                                                                     const uint64_t down) {
  const uint64_t block = down == 2 ? 4 : 12;
  const uint64_t quads_end = length & ~(uint64_t)3;
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
  uint64_t t = 0;
  for (uint64_t step = 0; t + block <= quads_end; t += block, step += block / down) {
#pragma GCC unroll 12
    for (uint64_t m = 0; m < block; m++) {
      const double *lo = phases[m % down] + o + m / down + step;
      acc[m & 3] = _mm256_fmadd_pd(_mm256_broadcast_sd(c + t + m), _mm256_loadu_pd(lo), acc[m & 3]);
    }
  }
  for (; t < length; t++) {
    const uint64_t k = t < quads_end ? (t & 3) : 0;
    acc[k] = _mm256_fmadd_pd(_mm256_broadcast_sd(c + t), tap_load(phases, down, o, t), acc[k]);
  }
  return _mm256_add_pd(_mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), acc[2]), acc[3]);
}

AVX2 static inline __attribute__((always_inline)) void decimate_groups(const double *c, uint64_t length, uint8_t sym,
                                                                        const double *const phases[],
                                                                        int16_t *output, int64_t groups,
                                                                        const uint64_t down) {
  /* The phase of the last tap as a constant too (one copy each), so the mirrored loads are as cheap. */
  const uint64_t last_phase = (length - 1) % down;
  for (int64_t o = 0; o < 4 * groups; o += 4) {
    __m256d acc;
    if (!sym) acc = decimate4(c, length, phases, (uint64_t)o, down);
    else if (last_phase == 0) acc = decimate4_symmetric(c, length, phases, (uint64_t)o, down, 0);
    else if (last_phase == 1) acc = decimate4_symmetric(c, length, phases, (uint64_t)o, down, 1);
    else acc = decimate4_symmetric(c, length, phases, (uint64_t)o, down, 2);
    _mm_storel_epi64((__m128i *)(output + o), round4_to_int16(acc));
  }
}

/*
 * Pure decimation (up = 1, down = D): four consecutive outputs in four lanes,
 * like the upsampling path above. Output o's tap t reads x[base + D o + t];
 * with the window split into D phases, P_r[i] = x[base + D i + r], that is
 * P_(t mod D)[o + t div D], so the four outputs' samples of one tap are four
 * contiguous doubles. Each lane keeps the TypeScript's partial sums a0..a3
 * (tap j in register a_(j mod 4)), its tail and its final order, so the
 * outputs are bit-identical to dot()/dotSymmetric(), and no output pays for a
 * horizontal reduction. 16 to 8 kHz, 121 taps: 4.4-4.9 us a frame with two
 * outputs at a time, 2.2-2.8 us this way (same harness, same run). Factors 2
 * (16 to 8, 48 to 24 kHz) and 3 (24 to 8, 48 to 16 kHz); 48 to 8 kHz (6)
 * takes the general path. Returns how many outputs it did (a multiple of
 * four); the caller does the rest. `phase_scratch` holds at least span doubles.
 */
#define DECIMATE_MAX_FACTOR 3
AVX2 static int64_t decimate_avx2(const ttma_polyphase *f, const double *x, size_t span, double *phase_scratch,
                                  int16_t *output, int64_t count, int64_t newest) {
  const int64_t down = f->down;
  const int64_t length = f->length[0];
  const int64_t groups = count / 4;
  if (groups == 0 || length < 2 || (down != 2 && down != 3)) return 0;
  const int64_t base = f->history + newest - f->reach[0];
  /* Output 4 groups - 1 reads up to P_r[4 groups - 1 + (length - 1) div D]. */
  const int64_t per_phase = 4 * groups + (length - 1) / down;
  if (per_phase * down > (int64_t)span) return 0;
  const double *phases[DECIMATE_MAX_FACTOR];
  for (int64_t r = 0; r < down; r++) {
    double *p = phase_scratch + r * per_phase;
    const double *from = x + base + r;
    int64_t i = 0;
    for (; i < per_phase && base + r + i * down < (int64_t)span; i++) p[i] = from[i * down];
    for (; i < per_phase; i++) p[i] = 0; /* past the input: no kept output reads it */
    phases[r] = p;
  }
  const double *c = f->coefs + f->start[0];
  const uint8_t sym = f->symmetric[0];
  /* One copy per factor, with `down` a constant. */
  if (down == 2) decimate_groups(c, (uint64_t)length, sym, phases, output, groups, 2);
  else decimate_groups(c, (uint64_t)length, sym, phases, output, groups, 3);
  return 4 * groups;
}

AVX2 static void outputs_avx2(const ttma_polyphase *f, const double *x, size_t span, double *phase_scratch,
                              int16_t *output, int64_t count, int64_t newest, int64_t branch) {
  int64_t o = 0;
  const int64_t up = f->up;
  if (up == 1 && f->down > 1 && phase_scratch != NULL) {
    o = decimate_avx2(f, x, span, phase_scratch, output, count, newest);
    newest += o * f->down;
  }
  if (f->down == 1 && up > 1) {
    const int64_t block = 4 * up;
    for (; o + block <= count; o += block) {
      int64_t b = branch;
      int64_t n = newest;
      for (int64_t p = 0; p < up; p++) {
        const int64_t length = f->length[b];
        const double *c = f->coefs + f->start[b];
        const double *xo = x + (f->history + n - f->reach[b]);
        __m256d acc;
        if (length == 1) acc = _mm256_mul_pd(_mm256_broadcast_sd(c), _mm256_loadu_pd(xo));
        else if (f->symmetric[b]) acc = dot4_symmetric_inputs_apart(c, length, xo);
        else acc = dot4_inputs_apart(c, length, xo);
        __m128i r = round4_to_int16(acc);
        int16_t *out = output + o + p;
        out[0] = (int16_t)_mm_extract_epi16(r, 0);
        out[up] = (int16_t)_mm_extract_epi16(r, 1);
        out[2 * up] = (int16_t)_mm_extract_epi16(r, 2);
        out[3 * up] = (int16_t)_mm_extract_epi16(r, 3);
        if (++b == up) {
          b = 0;
          n++;
        }
      }
      /* Four periods later the branch is back where it was, four inputs on. */
      newest += 4;
    }
  }
  outputs(f, x, output, o, count, newest, branch, KERNEL_AVX2);
}
#endif

static int overlaps(const void *a, size_t a_bytes, const void *b, size_t b_bytes) {
  uintptr_t a0 = (uintptr_t)a;
  uintptr_t b0 = (uintptr_t)b;
  return a_bytes > 0 && b_bytes > 0 && a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

int64_t ttma_polyphase_process(const ttma_polyphase *f, float *work, size_t work_length, int32_t *state,
                               const int16_t *input, size_t n, int16_t *output, size_t output_length, char *err) {
  const int64_t up = f->up;
  const int64_t down = f->down;
  const int64_t history = f->history;
  if (n > (size_t)INT32_MAX) {
    fail(err, "input holds %zu samples, more than %d", n, INT32_MAX);
    return -1;
  }
  if (work_length < (size_t)history + n) {
    fail(err, "work holds %zu floats, needs history %lld + input %zu", work_length, (long long)history, n);
    return -1;
  }
  const int64_t newest0 = state[0];
  const int64_t branch0 = state[1];
  const int64_t fraction = state[2];
  if (branch0 < 0 || branch0 >= up || fraction < 0 || fraction >= down) {
    fail(err, "state [%lld, %lld, %lld] does not fit this filter (branch in 0..%lld, fraction in 0..%lld)",
         (long long)newest0, (long long)branch0, (long long)fraction, (long long)(up - 1), (long long)(down - 1));
    return -1;
  }
  const int64_t count = (fraction + up * (int64_t)n) / down;
  if ((int64_t)output_length < count) {
    fail(err, "output holds %zu samples, needs %lld", output_length, (long long)count);
    return -1;
  }
  /* Every output reads work[history + newest - reach .. history + newest]; newest only grows. */
  if (count > 0) {
    const int64_t newest_last = newest0 + (branch0 + (count - 1) * down) / up;
    if (history + newest0 - f->max_reach < 0 || newest_last >= (int64_t)n) {
      fail(err, "state newest %lld does not fit this filter and input (outputs would read work[%lld..%lld])",
           (long long)newest0, (long long)(history + newest0 - f->max_reach), (long long)(history + newest_last));
      return -1;
    }
  }
  const int64_t advanced = branch0 + count * down;
  const int64_t newest_end = newest0 + advanced / up - (int64_t)n;
  if (newest_end < INT32_MIN || newest_end > INT32_MAX) {
    fail(err, "state newest %lld is out of range", (long long)newest0);
    return -1;
  }
  const size_t work_bytes = work_length * sizeof(float);
  const size_t state_bytes = TTMA_POLYPHASE_STATE_LENGTH * sizeof(int32_t);
  const size_t input_bytes = n * sizeof(int16_t);
  const size_t output_bytes = (size_t)count * sizeof(int16_t);
  if (overlaps(work, work_bytes, state, state_bytes) || overlaps(work, work_bytes, input, input_bytes) ||
      overlaps(work, work_bytes, output, output_bytes) || overlaps(state, state_bytes, input, input_bytes) ||
      overlaps(state, state_bytes, output, output_bytes) || overlaps(input, input_bytes, output, output_bytes)) {
    fail(err, "work, state, input and output must not share memory");
    return -1;
  }

  /* History and input as doubles, once: every sample then feeds many outputs without a conversion. */
  const size_t span = (size_t)history + n;
  double stack_scratch[STACK_SCRATCH];
#ifdef TTMA_HAVE_AVX2
  double phase_scratch[STACK_SCRATCH];
#endif
  double *x = stack_scratch;
  if (span > STACK_SCRATCH) {
    x = malloc(span * sizeof(double));
    if (x == NULL) {
      fail(err, "out of memory for %zu samples", span);
      return -1;
    }
  }
  float *fresh = work + history;
  for (size_t i = 0; i < n; i++) fresh[i] = (float)input[i];
  for (size_t i = 0; i < span; i++) x[i] = (double)work[i];

#ifdef TTMA_HAVE_AVX2
  if (f->kernel == KERNEL_AVX2) outputs_avx2(f, x, span, x == stack_scratch ? phase_scratch : NULL, output, count, newest0, branch0);
  else
#endif
    outputs_scalar(f, x, output, count, newest0, branch0);
  if (x != stack_scratch) free(x);
  state[0] = (int32_t)newest_end;
  state[1] = (int32_t)(advanced % up);
  state[2] = (int32_t)(fraction + up * (int64_t)n - count * down);
  memmove(work, work + n, (size_t)history * sizeof(float));
  return count;
}
