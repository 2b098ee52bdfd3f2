/**
 * The phone-bound queue: encoded frames waiting for the pacer, with the
 * agent's marks between them. A mark says "tell me when the caller has heard
 * everything I sent before this". It passes when the last frame queued before
 * it is sent; `clear` (barge-in) empties the queue at once and reports the
 * frames and marks it dropped, so the agent learns exactly what was not heard.
 *
 * Frames sit in a ring (no per-frame allocation, O(1) at both ends); marks
 * are rare and sit in a small array, each tagged with the count of frames
 * pushed before it.
 */

export interface ClearedOutput {
  /** Frames dropped unsent. */
  frames: number;
  /** Marks whose audio was not all sent, oldest first. */
  marks: string[];
}

const INITIAL_CAPACITY = 16;
/** Shared empty result: the common case allocates nothing. */
const NO_MARKS: readonly string[] = Object.freeze([]);

export class OutboundQueue<T> {
  /** At most this many frames wait; pushing more drops the oldest (counted). */
  readonly maxFrames: number;
  #items: (T | undefined)[];
  #inAt: Float64Array;
  #agentAt: Float64Array;
  #head = 0;
  #size = 0;
  /** Frames ever pushed and ever taken (sent or dropped): a mark passes when `#taken` reaches its `after`. */
  #pushed = 0;
  #taken = 0;
  readonly #marks: { name: string; after: number }[] = [];
  #overflowDrops = 0;

  constructor(maxFrames: number) {
    if (!Number.isInteger(maxFrames) || maxFrames < 1) throw new RangeError(`OutboundQueue: maxFrames must be a positive integer, got ${maxFrames}`);
    this.maxFrames = maxFrames;
    const capacity = Math.min(INITIAL_CAPACITY, maxFrames);
    this.#items = new Array<T | undefined>(capacity).fill(undefined);
    this.#inAt = new Float64Array(capacity);
    this.#agentAt = new Float64Array(capacity);
  }

  get length(): number {
    return this.#size;
  }

  /** Marks waiting for their audio to be sent. */
  get pendingMarks(): number {
    return this.#marks.length;
  }

  /** Frames dropped because the queue was full, over this object's life. */
  get overflowDrops(): number {
    return this.#overflowDrops;
  }

  /**
   * Queue a frame. `inAtMs` is when its audio entered the gateway (for latency),
   * `agentAtMs` when it came from the agent (for the outbound direction's
   * latency and the pacer); NaN when not timed. Returns the marks that passed
   * because a full queue dropped its oldest frame.
   */
  push(frame: T, inAtMs: number, agentAtMs = Number.NaN): readonly string[] {
    let passed: readonly string[] = NO_MARKS;
    if (this.#size === this.maxFrames) {
      this.#takeHead();
      this.#overflowDrops++;
      passed = this.#passedMarks();
    }
    if (this.#size === this.#items.length) this.#grow();
    const at = (this.#head + this.#size) % this.#items.length;
    this.#items[at] = frame;
    this.#inAt[at] = inAtMs;
    this.#agentAt[at] = agentAtMs;
    this.#size++;
    this.#pushed++;
    return passed;
  }

  /** A mark after every frame pushed so far. Returns [name] at once when nothing is queued (it has passed). */
  mark(name: string): readonly string[] {
    if (this.#size === 0) return [name];
    this.#marks.push({ name, after: this.#pushed });
    return NO_MARKS;
  }

  /** When the head frame's audio entered the gateway; NaN when empty or when it was pushed without one (a greeting). */
  get headInAtMs(): number {
    return this.#size === 0 ? Number.NaN : this.#inAt[this.#head]!;
  }

  /** When the head frame's audio came from the agent; NaN when empty or not timed. */
  get headAgentAtMs(): number {
    return this.#size === 0 ? Number.NaN : this.#agentAt[this.#head]!;
  }

  /** The next frame to send, or undefined when empty. Call passedMarks() after sending it. */
  shift(): T | undefined {
    if (this.#size === 0) return undefined;
    return this.#takeHead();
  }

  /** Marks whose audio has all been taken, in order, removed from the queue. */
  passedMarks(): readonly string[] {
    return this.#passedMarks();
  }

  /** Barge-in: drop every frame and every pending mark at once. */
  clear(): ClearedOutput {
    const frames = this.#size;
    for (let i = 0; i < this.#size; i++) this.#items[(this.#head + i) % this.#items.length] = undefined;
    this.#head = 0;
    this.#size = 0;
    this.#taken = this.#pushed;
    const marks = this.#marks.map((m) => m.name);
    this.#marks.length = 0;
    return { frames, marks };
  }

  #takeHead(): T {
    const frame = this.#items[this.#head] as T;
    this.#items[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#items.length;
    this.#size--;
    this.#taken++;
    return frame;
  }

  #passedMarks(): readonly string[] {
    const marks = this.#marks;
    if (marks.length === 0 || marks[0]!.after > this.#taken) return NO_MARKS;
    let n = 0;
    while (n < marks.length && marks[n]!.after <= this.#taken) n++;
    return marks.splice(0, n).map((m) => m.name);
  }

  #grow(): void {
    const capacity = Math.min(this.maxFrames, this.#items.length * 2);
    const items = new Array<T | undefined>(capacity).fill(undefined);
    const inAt = new Float64Array(capacity);
    const agentAt = new Float64Array(capacity);
    for (let i = 0; i < this.#size; i++) {
      const from = (this.#head + i) % this.#items.length;
      items[i] = this.#items[from];
      inAt[i] = this.#inAt[from]!;
      agentAt[i] = this.#agentAt[from]!;
    }
    this.#items = items;
    this.#inAt = inAt;
    this.#agentAt = agentAt;
    this.#head = 0;
  }
}

