/** Append-only typed arrays that double as they grow, with an optional hard cap. */

export class GrowableFloat64 {
  #data: Float64Array;
  #length = 0;

  constructor(initialCapacity = 256) {
    this.#data = new Float64Array(Math.max(1, initialCapacity));
  }

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    if (this.#length === this.#data.length) {
      const next = new Float64Array(this.#data.length * 2);
      next.set(this.#data);
      this.#data = next;
    }
    this.#data[this.#length++] = value;
  }

  at(index: number): number {
    return this.#data[index] ?? Number.NaN;
  }

  /** A view of the filled part (shares memory until the next growth). */
  view(): Float64Array {
    return this.#data.subarray(0, this.#length);
  }
}

export class GrowableInt16 {
  readonly #cap: number;
  #data: Int16Array;
  #length = 0;
  #dropped = 0;

  /** `cap`: most samples kept; later appends are counted as dropped. */
  constructor(cap: number, initialCapacity = 8000) {
    this.#cap = Math.max(0, cap);
    this.#data = new Int16Array(Math.max(1, Math.min(initialCapacity, this.#cap)));
  }

  get length(): number {
    return this.#length;
  }

  get dropped(): number {
    return this.#dropped;
  }

  append(samples: Int16Array): void {
    const room = this.#cap - this.#length;
    const take = Math.min(room, samples.length);
    this.#dropped += samples.length - take;
    if (take <= 0) return;
    if (this.#length + take > this.#data.length) {
      let size = this.#data.length;
      while (size < this.#length + take) size *= 2;
      const next = new Int16Array(Math.min(size, this.#cap));
      next.set(this.#data.subarray(0, this.#length));
      this.#data = next;
    }
    this.#data.set(take === samples.length ? samples : samples.subarray(0, take), this.#length);
    this.#length += take;
  }

  /** A copy trimmed to the filled length. */
  toArray(): Int16Array {
    return this.#data.slice(0, this.#length);
  }
}
