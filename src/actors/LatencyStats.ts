/**
 * Small latency summary for call reports: exact percentiles over a bounded
 * reservoir of recent samples (enough for a call summary; the bench uses
 * full histograms).
 */
const DEFAULT_CAPACITY = 4096;

export class LatencyStats {
  readonly #samples: Float64Array;
  #count = 0;
  #max = 0;

  constructor(capacity = DEFAULT_CAPACITY) {
    this.#samples = new Float64Array(capacity);
  }

  record(ms: number): void {
    this.#samples[this.#count % this.#samples.length] = ms;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }

  summary(): { p50: number; p99: number; max: number; count: number } {
    const n = Math.min(this.#count, this.#samples.length);
    if (n === 0) return { p50: 0, p99: 0, max: 0, count: 0 };
    const sorted = Float64Array.from(this.#samples.subarray(0, n)).sort();
    const at = (q: number) => sorted[Math.min(n - 1, Math.floor(q * (n - 1)))] ?? 0;
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return { p50: round(at(0.5)), p99: round(at(0.99)), max: round(this.#max), count: this.#count };
  }
}
