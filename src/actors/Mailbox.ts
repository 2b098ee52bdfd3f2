/**
 * A bounded FIFO for one actor's media frames. When full, the oldest frame
 * is dropped and counted: late audio is worth less than current audio, and
 * an actor that falls behind must not build up delay (DESIGN 4).
 */
export class Mailbox<T> {
  readonly #capacity: number;
  readonly #items: Array<T | undefined>;
  #head = 0;
  #size = 0;
  #dropped = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('mailbox capacity must be a positive integer');
    this.#capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return this.#size;
  }

  get dropped(): number {
    return this.#dropped;
  }

  /** Returns the dropped item when the mailbox was full. */
  push(item: T): T | undefined {
    let evicted: T | undefined;
    if (this.#size === this.#capacity) {
      evicted = this.#items[this.#head];
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.#capacity;
      this.#size--;
      this.#dropped++;
    }
    this.#items[(this.#head + this.#size) % this.#capacity] = item;
    this.#size++;
    return evicted;
  }

  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    const item = this.#items[this.#head];
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#size--;
    return item;
  }

  clear(): void {
    this.#items.fill(undefined);
    this.#head = 0;
    this.#size = 0;
  }
}
