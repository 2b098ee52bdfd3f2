/*
 * ITU-T G.711 mu-law (PCMU) and A-law (PCMA), table driven: the C twin of
 * src/media/g711.ts, bit-exact with it (and so with the `alawmulaw` package).
 * Pure C: no N-API, no allocation, usable from the fuzz targets.
 */
#ifndef TTMA_G711_H
#define TTMA_G711_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Builds the tables once per process (thread-safe). Call before the loops below (the addon does at load). */
void ttma_g711_init(void);

/* Per-sample formulas the tables are built from (also the fuzz oracle). */
uint8_t ttma_mulaw_encode_sample(int16_t sample);
uint8_t ttma_alaw_encode_sample(int16_t sample);
int16_t ttma_mulaw_decode_code(uint8_t code);
int16_t ttma_alaw_decode_code(uint8_t code);

/*
 * n codes to n samples, or n samples to n codes, with the fastest loop this
 * CPU runs (AVX2 on x86-64 when present). If src and dst overlap, the
 * sequential table loop runs instead, so the result is the one the TypeScript
 * loop gives (element i read before element i written).
 */
void ttma_pcmu_decode(const uint8_t *src, int16_t *dst, size_t n);
void ttma_pcmu_encode(const int16_t *src, uint8_t *dst, size_t n);
void ttma_pcma_decode(const uint8_t *src, int16_t *dst, size_t n);
void ttma_pcma_encode(const int16_t *src, uint8_t *dst, size_t n);

/* The table loops alone (the reference the vector loops are checked against). */
void ttma_pcmu_decode_scalar(const uint8_t *src, int16_t *dst, size_t n);
void ttma_pcmu_encode_scalar(const int16_t *src, uint8_t *dst, size_t n);
void ttma_pcma_decode_scalar(const uint8_t *src, int16_t *dst, size_t n);
void ttma_pcma_encode_scalar(const int16_t *src, uint8_t *dst, size_t n);

/* "avx2" or "scalar": the loops ttma_pcm*_* use here (valid after ttma_g711_init). */
const char *ttma_g711_kernel_name(void);

#ifdef __cplusplus
}
#endif

#endif
