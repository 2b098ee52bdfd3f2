/*
 * The inner loop of src/media/Resampler.ts in C: polyphase FIR sample-rate
 * conversion by L/M over a Float32 history ("work") buffer the caller owns.
 *
 * The filter tables are those of polyphaseDesign.ts (coefs, branchStart,
 * branchLength, branchReach, branchSymmetric), copied and validated once.
 * The per-call state is the TypeScript resampler's three numbers, kept in an
 * Int32Array so TypeScript and C can hand a stream to each other:
 *   state[0] newest:   newest input index of the next output, relative to the
 *                      next call's first sample (negative: in the history)
 *   state[1] branch:   polyphase branch of the next output, 0 <= branch < up
 *   state[2] fraction: (up * inputs so far) mod down
 *
 * Arithmetic mirrors the TypeScript exactly: coefficients and samples widened
 * to double, the same four interleaved partial sums added in the same order,
 * Math.round semantics (ties toward +infinity), clamp to Int16. Every product
 * of a float coefficient and an Int16-valued float is exact in double, so the
 * output is bit-identical to the TypeScript whether or not the vector kernel
 * fuses the multiply and the add.
 *
 * Pure C: no N-API; the fuzz target drives it directly.
 */
#ifndef TTMA_POLYPHASE_H
#define TTMA_POLYPHASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Interpolation and decimation factors accepted (the TypeScript design stops at 48). */
#define TTMA_POLYPHASE_MAX_FACTOR 1024
/* History samples accepted: far beyond any sensible filter. */
#define TTMA_POLYPHASE_MAX_HISTORY (1 << 20)
#define TTMA_POLYPHASE_STATE_LENGTH 3
/* Room for an error message from the functions below. */
#define TTMA_ERROR_SIZE 192

typedef enum { TTMA_KERNEL_AUTO = 0, TTMA_KERNEL_SCALAR = 1 } ttma_kernel_choice;

typedef struct ttma_polyphase ttma_polyphase;

/*
 * Validates the tables (every branch inside coefs, no branch reading ahead of
 * its newest sample, history deep enough for the longest reach) and copies
 * them. Returns NULL with a message in err (TTMA_ERROR_SIZE bytes) on misuse
 * or when out of memory.
 */
ttma_polyphase *ttma_polyphase_create(const float *coefs, size_t coef_count, const int32_t *branch_start,
                                      const int32_t *branch_length, const int32_t *branch_reach,
                                      const uint8_t *branch_symmetric, size_t branches, int64_t up, int64_t down,
                                      int64_t history, ttma_kernel_choice kernel, char *err);
void ttma_polyphase_destroy(ttma_polyphase *f);

/* Name of the dot-product kernel the filter uses: "avx2-fma" or "scalar". */
const char *ttma_polyphase_kernel_name(const ttma_polyphase *f);
/* The kernel TTMA_KERNEL_AUTO picks on this machine. */
const char *ttma_polyphase_best_kernel_name(void);

/*
 * Converts `n` input samples: writes them into work[history..history+n) as
 * floats, computes floor((fraction + up*n) / down) outputs, advances state and
 * shifts the newest `history` samples to the front of work. Returns the output
 * count, or -1 with a message in err when an argument is inconsistent (work
 * shorter than history + n, output too short, state out of range for this
 * filter, buffers sharing memory); nothing is written then.
 */
int64_t ttma_polyphase_process(const ttma_polyphase *f, float *work, size_t work_length, int32_t *state,
                               const int16_t *input, size_t n, int16_t *output, size_t output_length, char *err);

#ifdef __cplusplus
}
#endif

#endif
