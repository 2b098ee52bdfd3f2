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
 *
 * Bounds: a number of frames, and optionally a total weight (the frames'
 * text length: a 20 ms frame is 150 to 2,600 characters by codec). A full
 * queue drops its oldest frame. Frames pushed with `pushReserved` (the
 * greeting, queued first) count against neither bound and are never dropped
 * for room: the bounds are for the agent's audio behind them. The ring
 * shrinks back once it empties, so a long reply's peak is not kept.
 *
 * A third bound may be shared with other queues (SharedQueueBudget: every
 * call on a worker). Past it, a queue over its fair share drops its own
 * oldest frames to push (`push`) or on its owner's next turn (`shed`), and
 * counts them in `budgetDrops` too. Reserved frames are outside it as well.
 */
import type { SharedQueueBudget } from './SharedQueueBudget.js';

export interface ClearedOutput {
  /** Frames dropped unsent. */
  frames: number;
  /** Marks whose audio was not all sent, oldest first. */
  marks: string[];
}

const INITIAL_CAPACITY = 16;
/** An empty ring larger than this is given back (a 120 s reply grows it to 8,192 slots, 192 KiB). */
const SHRINK_ABOVE = 512;
/** Shared empty result: the common case allocates nothing. */
const NO_MARKS: readonly string[] = Object.freeze([]);

/** A second bound: frames' total weight (e.g. text length), each frame's from `of`. */
export interface QueueWeight<T> {
  max: number;
  of(frame: T): number;
}

export class OutboundQueue<T> {
  /** At most this many frames wait (besides reserved ones); pushing more drops the oldest (counted). */
  readonly maxFrames: number;
  readonly #weight: QueueWeight<T> | null;
  readonly #budget: SharedQueueBudget | null;
  /** Bytes charged to the shared budget for the frames queued (reserved ones are not). */
  #charged = 0;
  #budgetDrops = 0;
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
  /** Reserved frames still queued: always the oldest ones. */
  #reserved = 0;
  /** Weight of everything queued, and of the reserved frames among it. */
  #total = 0;
  #reservedTotal = 0;

  /** `budget`: a bound shared with other queues, charged each frame's weight plus its per-frame bytes (needs `weight`). */
  constructor(maxFrames: number, weight?: QueueWeight<T>, budget?: SharedQueueBudget) {
    if (!Number.isInteger(maxFrames) || maxFrames < 1) throw new RangeError(`OutboundQueue: maxFrames must be a positive integer, got ${maxFrames}`);
    if (weight && !(weight.max > 0)) throw new RangeError(`OutboundQueue: the weight bound must be positive, got ${weight.max}`);
    if (budget && !weight) throw new RangeError('OutboundQueue: a shared budget needs a weight for each frame');
    this.maxFrames = maxFrames;
    this.#weight = weight ?? null;
    this.#budget = budget ?? null;
    this.#items = [];
    this.#inAt = this.#agentAt = new Float64Array(0);
    this.#resize(Math.min(INITIAL_CAPACITY, maxFrames));
  }

  get length(): number {
    return this.#size;
  }

  /** Slots in the ring: grows with the queue, back to a few once it empties. */
  get capacity(): number {
    return this.#items.length;
  }

  /** Marks waiting for their audio to be sent. */
  get pendingMarks(): number {
    return this.#marks.length;
  }

  /** Frames dropped because the queue was full, over this object's life. */
  get overflowDrops(): number {
    return this.#overflowDrops;
  }

  /** Of those, the frames dropped because the shared budget was past its bound. */
  get budgetDrops(): number {
    return this.#budgetDrops;
  }

  /** Bytes this queue holds against the shared budget. */
  get chargedBytes(): number {
    return this.#charged;
  }

  /**
   * Queue a frame. `inAtMs` is when its audio entered the gateway (for latency),
   * `agentAtMs` when it came from the agent (for the outbound direction's
   * latency and the pacer); NaN when not timed. Returns the marks that passed
   * because a full queue dropped its oldest frame.
   */
  push(frame: T, inAtMs: number, agentAtMs = Number.NaN): readonly string[] {
    const w = this.#weight?.of(frame) ?? 0;
    const budget = this.#budget;
    const charge = budget === null ? 0 : w + budget.perFrameBytes;
    let passed: readonly string[] = NO_MARKS;
    while (this.#size > this.#reserved) {
      const full = this.#full(w);
      if (!full && (budget === null || budget.admits(this.#charged, charge))) break;
      if (!full) this.#countBudgetDrop();
      if (this.#reserved > 0) {
        // The oldest frames are the greeting, which is not cut for room: this frame is the one dropped.
        this.#overflowDrops++;
        return passed;
      }
      this.#takeHead();
      this.#overflowDrops++;
      passed = passed.length === 0 ? this.#passedMarks() : [...passed, ...this.#passedMarks()];
    }
    this.#append(frame, inAtMs, agentAtMs, w);
    if (budget !== null) {
      budget.take(this.#charged, charge);
      this.#charged += charge;
    }
    return passed;
  }

  /**
   * The shared budget is past its bound and this queue holds more than its
   * fair share: drop its oldest frames until either is no longer so (counted
   * in both drop counters). Returns the marks that passed. Reserved frames
   * ahead (the greeting) are not cut: the queue sheds once they have gone.
   */
  shed(): readonly string[] {
    const budget = this.#budget;
    if (budget === null || !budget.over || this.#reserved > 0) return NO_MARKS;
    let dropped = 0;
    while (this.#size > 0 && budget.excess(this.#charged) > 0) {
      this.#takeHead();
      dropped++;
    }
    if (dropped === 0) return NO_MARKS;
    this.#overflowDrops += dropped;
    this.#budgetDrops += dropped;
    budget.dropped(dropped);
    return this.#passedMarks();
  }

  #countBudgetDrop(): void {
    this.#budgetDrops++;
    this.#budget!.dropped(1);
  }

  /**
   * Queue a frame outside the bounds, never dropped for room (only by `clear`):
   * for the greeting, so however long it is, the agent's audio keeps its whole
   * bound behind it. Only while everything queued is reserved too.
   */
  pushReserved(frame: T): void {
    if (this.#size !== this.#reserved) throw new RangeError('OutboundQueue: reserved frames go before any other');
    const w = this.#weight?.of(frame) ?? 0;
    this.#append(frame, Number.NaN, Number.NaN, w);
    this.#reserved++;
    this.#reservedTotal += w;
  }

  /** Whether one more frame of weight `w` would pass a bound, not counting reserved frames. */
  #full(w: number): boolean {
    if (this.#size - this.#reserved >= this.maxFrames) return true;
    return this.#weight !== null && this.#total - this.#reservedTotal + w > this.#weight.max;
  }

  #append(frame: T, inAtMs: number, agentAtMs: number, w: number): void {
    if (this.#size === this.#items.length) this.#resize(this.#items.length * 2);
    const at = (this.#head + this.#size) % this.#items.length;
    this.#items[at] = frame;
    this.#inAt[at] = inAtMs;
    this.#agentAt[at] = agentAtMs;
    this.#size++;
    this.#pushed++;
    this.#total += w;
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
    this.#reserved = 0;
    this.#total = this.#reservedTotal = 0;
    if (this.#budget !== null) {
      this.#budget.give(0, this.#charged);
      this.#charged = 0;
    }
    if (this.#items.length > SHRINK_ABOVE) this.#resize(INITIAL_CAPACITY);
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
    if (this.#weight !== null) {
      const w = this.#weight.of(frame);
      this.#total -= w;
      if (this.#reserved > 0) this.#reservedTotal -= w;
      else if (this.#budget !== null) {
        const charge = w + this.#budget.perFrameBytes;
        this.#charged -= charge;
        this.#budget.give(this.#charged, charge);
      }
    }
    if (this.#reserved > 0) this.#reserved--;
    if (this.#size === 0 && this.#items.length > SHRINK_ABOVE) this.#resize(INITIAL_CAPACITY);
    return frame;
  }

  #passedMarks(): readonly string[] {
    const marks = this.#marks;
    if (marks.length === 0 || marks[0]!.after > this.#taken) return NO_MARKS;
    let n = 0;
    while (n < marks.length && marks[n]!.after <= this.#taken) n++;
    return marks.splice(0, n).map((m) => m.name);
  }

  /** A new ring of `capacity` slots (at least the frames queued), oldest at 0. */
  #resize(capacity: number): void {
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

