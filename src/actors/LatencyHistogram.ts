/**
 * A mergeable latency histogram for the gateway's own added latency (per
 * direction, pooled over every call). Fixed buckets, so worker threads can
 * ship theirs to the main thread as a sparse list and the sums stay exact
 * (a p99 of per-call p99s would not be the p99 of the frames).
 *
 * Buckets: 10 us wide up to 20 ms, then 1 ms wide up to 1 s, then one
 * overflow bucket. A percentile is the upper edge of its bucket (never
 * understated); the max is exact.
 */
const FINE_US = 10;
const FINE_LIMIT_MS = 20;
const FINE_BUCKETS = (FINE_LIMIT_MS * 1000) / FINE_US;
const COARSE_LIMIT_MS = 1000;
const COARSE_BUCKETS = COARSE_LIMIT_MS - FINE_LIMIT_MS;
const BUCKETS = FINE_BUCKETS + COARSE_BUCKETS + 1;

export interface LatencyPercentiles {
  count: number;
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

function bucketOf(ms: number): number {
  if (!(ms > 0)) return 0;
  if (ms < FINE_LIMIT_MS) return Math.floor((ms * 1000) / FINE_US);
  if (ms < COARSE_LIMIT_MS) return FINE_BUCKETS + Math.floor(ms - FINE_LIMIT_MS);
  return BUCKETS - 1;
}

/** Upper edge of bucket `i`, in ms (the overflow bucket answers with the max). */
function upperEdge(i: number): number {
  if (i < FINE_BUCKETS) return ((i + 1) * FINE_US) / 1000;
  return FINE_LIMIT_MS + (i - FINE_BUCKETS) + 1;
}

export class LatencyHistogram {
  readonly #counts = new Uint32Array(BUCKETS);
  #count = 0;
  #sum = 0;
  #max = 0;

  get count(): number {
    return this.#count;
  }

  record(ms: number): void {
    const v = ms > 0 ? ms : 0;
    this.#counts[bucketOf(v)]!++;
    this.#count++;
    this.#sum += v;
    if (v > this.#max) this.#max = v;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#count = 0;
    this.#sum = 0;
    this.#max = 0;
  }

  /** Sparse form for postMessage: [bucket, count, bucket, count, ...], then sum and max. */
  toSparse(): SparseHistogram {
    const pairs: number[] = [];
    for (let i = 0; i < BUCKETS; i++) if (this.#counts[i]! > 0) pairs.push(i, this.#counts[i]!);
    return { pairs, sum: this.#sum, max: this.#max };
  }

  /** Adds a sparse histogram (from another thread) into this one; malformed input is ignored. */
  merge(sparse: SparseHistogram): void {
    const { pairs } = sparse;
    for (let k = 0; k + 1 < pairs.length; k += 2) {
      const i = pairs[k]!;
      const n = pairs[k + 1]!;
      if (!Number.isInteger(i) || i < 0 || i >= BUCKETS || !Number.isInteger(n) || n < 0) continue;
      this.#counts[i]! += n;
      this.#count += n;
    }
    if (Number.isFinite(sparse.sum)) this.#sum += sparse.sum;
    if (sparse.max > this.#max) this.#max = sparse.max;
  }

  percentile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) return i === BUCKETS - 1 ? this.#max : Math.min(upperEdge(i), this.#max);
    }
    return this.#max;
  }

  summary(): LatencyPercentiles {
    const r = (v: number) => Math.round(v * 1000) / 1000;
    return {
      count: this.#count,
      p50: r(this.percentile(0.5)),
      p99: r(this.percentile(0.99)),
      p999: r(this.percentile(0.999)),
      max: r(this.#max),
      mean: r(this.#count === 0 ? 0 : this.#sum / this.#count),
    };
  }
}

export interface SparseHistogram {
  pairs: number[];
  sum: number;
  max: number;
}
