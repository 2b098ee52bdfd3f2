/**
 * A Prometheus histogram whose buckets are added up from other threads'
 * snapshots (BucketCounts) instead of observed one value at a time:
 * prom-client's Histogram cannot take bucket counts, so this implements the
 * registry's metric shape (name, help, type, get) directly.
 */
import type { BucketSnapshot } from '../actors/BucketCounts.js';

interface Value {
  value: number;
  labels: Record<string, string | number>;
  metricName: string;
}

export class SummedHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Add what grew between two snapshots of one source (prev null: the source is new). */
  add(prev: BucketSnapshot | null, next: BucketSnapshot): void {
    if (next.counts.length !== this.#counts.length) return;
    for (let i = 0; i < this.#counts.length; i++) {
      this.#counts[i]! += Math.max(0, next.counts[i]! - (prev?.counts[i] ?? 0));
    }
    this.#sum += Math.max(0, next.sum - (prev?.sum ?? 0));
    this.#count += Math.max(0, next.count - (prev?.count ?? 0));
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: Value[] }> {
    const values: Value[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      cumulative += this.#counts[i]!;
      const le = i < this.#bounds.length ? this.#bounds[i]! : '+Inf';
      values.push({ value: cumulative, labels: { le }, metricName: `${this.name}_bucket` });
    }
    values.push({ value: this.#sum, labels: {}, metricName: `${this.name}_sum` });
    values.push({ value: this.#count, labels: {}, metricName: `${this.name}_count` });
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }
}
