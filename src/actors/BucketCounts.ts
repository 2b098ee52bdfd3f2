/**
 * Cumulative histogram counts with fixed upper bounds (Prometheus style:
 * a value lands in the first bucket whose bound is >= it; the last slot is
 * +Inf). Workers record into one and send copies to the main thread, which
 * adds them up; counts only grow, so two snapshots give a delta.
 */
export interface BucketSnapshot {
  /** Per bucket (not cumulative), bounds.length + 1 entries; the last is above every bound. */
  counts: number[];
  sum: number;
  count: number;
}

export class BucketCounts {
  readonly bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new RangeError('bucket bounds must increase');
    }
    this.bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  record(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i] = this.#counts[i]! + 1;
    this.#sum += value;
    this.#count++;
  }

  snapshot(): BucketSnapshot {
    return { counts: Array.from(this.#counts), sum: this.#sum, count: this.#count };
  }
}
