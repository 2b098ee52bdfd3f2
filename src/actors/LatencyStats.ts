/**
 * A call's added-latency summary for its report (p50, p99, max, count), over
 * the whole call, in 1.7 KiB.
 *
 * Log-linear buckets: each power of two of microseconds is cut into 16 equal
 * sub-buckets, so a percentile, read as its bucket's upper edge, is never
 * understated and at most 1/16 (6.25 %) over; the max and the count are exact.
 * From 1 us to 2^27 us (134 s), then one overflow bucket that answers with the
 * max. The first version kept the last 4,096 samples in a Float64Array: 32 KiB
 * a call, the largest single part of a call's memory (bench/callMemory.ts), and
 * a summary of the last 82 s only.
 */
const SUB = 16;
const OCTAVES = 27;
/** Bucket 0: under 1 us; then OCTAVES * SUB; then the overflow bucket. */
const BUCKETS = 1 + OCTAVES * SUB + 1;
const OVERFLOW = BUCKETS - 1;

function bucketOf(ms: number): number {
  const us = ms * 1000;
  if (!(us >= 1)) return 0;
  if (us >= 2 ** OCTAVES) return OVERFLOW;
  const octave = Math.floor(Math.log2(us));
  // Clamped: where log2 rounds across a power of two, the bucket above still bounds the sample.
  const sub = Math.min(SUB - 1, Math.max(0, Math.floor((us / 2 ** octave - 1) * SUB)));
  return Math.min(OVERFLOW, 1 + octave * SUB + sub);
}

/** Upper edge of bucket `i` in ms (exclusive: every sample in it is below). */
function upperEdgeMs(i: number): number {
  if (i === 0) return 0.001;
  const octave = Math.floor((i - 1) / SUB);
  const sub = (i - 1) % SUB;
  return (2 ** octave * (1 + (sub + 1) / SUB)) / 1000;
}

export class LatencyStats {
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;
  #max = 0;

  record(ms: number): void {
    this.#counts[bucketOf(ms)]!++;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }

  summary(): { p50: number; p99: number; max: number; count: number } {
    if (this.#count === 0) return { p50: 0, p99: 0, max: 0, count: 0 };
    const round = (v: number) => Math.round(v * 1000) / 1000;
    const max = this.#max;
    return { p50: round(Math.min(this.#percentile(0.5), max)), p99: round(Math.min(this.#percentile(0.99), max)), max: round(max), count: this.#count };
  }

  /** The upper edge of the bucket holding the q-th sample in order (the max for the overflow bucket). */
  #percentile(q: number): number {
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return i === OVERFLOW ? this.#max : upperEdgeMs(i);
    }
    return this.#max;
  }
}
