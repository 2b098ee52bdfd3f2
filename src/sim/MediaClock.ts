/**
 * One clock for every call in the simulator (a timer per call does not scale:
 * thousands of timers waking every 20 ms saturate a core).
 *
 * The clock ticks on a fixed grid of `frameMs / slotsPerFrame` (5 ms by
 * default), re-arming a single `setTimeout` against `performance.now()` so
 * timer drift never accumulates. A subscriber added now is given the next grid
 * time as its t0; its frame k is planned at t0 + frameMs * k, which is always a
 * grid time, so each tick only has to send what is due. Calls that start at
 * different moments land on different slots, which spreads the load over the
 * frame period instead of sending every call's frame in one burst.
 *
 * If the event loop falls behind, the next tick still calls every subscriber
 * once with the current time; subscribers send everything that is due and
 * count the late sends (planned times stay planned: no coordinated omission).
 */
import { performance } from 'node:perf_hooks';
import { FRAME_MS } from './constants.js';

export interface ClockSubscriber {
  onTick(nowMs: number): void;
}

export interface MediaClockOptions {
  frameMs?: number;
  slotsPerFrame?: number;
  /** A subscriber threw: report it; the clock keeps going for the others. */
  onSubscriberError?: (err: unknown, subscriber: ClockSubscriber) => void;
}

export interface MediaClockStats {
  ticks: number;
  /** Grid ticks that passed without the timer firing (the loop was behind). */
  missedTicks: number;
  /** Worst lateness of a tick against its grid time, in ms. */
  maxTickLagMs: number;
  subscribers: number;
}

export class MediaClock {
  readonly frameMs: number;
  readonly tickMs: number;
  readonly #origin: number;
  readonly #subscribers = new Set<ClockSubscriber>();
  readonly #onSubscriberError: MediaClockOptions['onSubscriberError'];
  #timer: NodeJS.Timeout | null = null;
  #nextTickAt = 0;
  #ticks = 0;
  #missedTicks = 0;
  #maxTickLagMs = 0;
  #closed = false;

  constructor(options: MediaClockOptions = {}) {
    this.frameMs = options.frameMs ?? FRAME_MS;
    const slots = options.slotsPerFrame ?? 4;
    if (!Number.isInteger(slots) || slots < 1 || slots > 20) {
      throw new RangeError(`MediaClock slotsPerFrame must be an integer from 1 to 20, got ${slots}`);
    }
    this.tickMs = this.frameMs / slots;
    this.#origin = performance.now();
    this.#onSubscriberError = options.onSubscriberError;
  }

  /** The first grid time at or after `nowMs`. */
  nextGridTime(nowMs: number = performance.now()): number {
    const n = Math.ceil((nowMs - this.#origin) / this.tickMs);
    return this.#origin + n * this.tickMs;
  }

  /**
   * Subscribe; returns the subscriber's t0 (a grid time, not in the past).
   * Adding a subscriber that is already there only returns a fresh t0.
   */
  add(subscriber: ClockSubscriber): number {
    if (this.#closed) throw new Error('MediaClock is closed');
    this.#subscribers.add(subscriber);
    const t0 = this.nextGridTime();
    if (this.#timer === null) {
      this.#nextTickAt = t0;
      this.#arm();
    }
    return t0;
  }

  remove(subscriber: ClockSubscriber): void {
    this.#subscribers.delete(subscriber);
    if (this.#subscribers.size === 0) this.#disarm();
  }

  has(subscriber: ClockSubscriber): boolean {
    return this.#subscribers.has(subscriber);
  }

  get stats(): MediaClockStats {
    return {
      ticks: this.#ticks,
      missedTicks: this.#missedTicks,
      maxTickLagMs: this.#maxTickLagMs,
      subscribers: this.#subscribers.size,
    };
  }

  /** Stops ticking and drops every subscriber. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#subscribers.clear();
    this.#disarm();
  }

  #arm(): void {
    const delay = Math.max(0, this.#nextTickAt - performance.now());
    this.#timer = setTimeout(this.#fire, delay);
  }

  #disarm(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }

  readonly #fire = (): void => {
    this.#timer = null;
    if (this.#subscribers.size === 0) return;
    const now = performance.now();
    // Node's timers run on a cached millisecond loop time and can fire a little
    // before the grid time as performance.now() sees it: wait the remainder.
    if (now < this.#nextTickAt) {
      this.#arm();
      return;
    }
    const lag = now - this.#nextTickAt;
    this.#ticks++;
    if (lag > this.#maxTickLagMs) this.#maxTickLagMs = lag;
    if (lag >= this.tickMs) this.#missedTicks += Math.floor(lag / this.tickMs);
    // Deleting during Set iteration is safe; subscribers added now start later.
    for (const subscriber of this.#subscribers) {
      try {
        subscriber.onTick(now);
      } catch (err) {
        this.#onSubscriberError?.(err, subscriber);
      }
    }
    if (this.#subscribers.size === 0 || this.#closed) return;
    this.#nextTickAt = this.#origin + (Math.floor((now - this.#origin) / this.tickMs) + 1) * this.tickMs;
    this.#arm();
  };
}
