/**
 * How far the wall clock has been stepped (set, not slewed) since a moment:
 * the change in "wall clock minus monotonic clock". NTP's slewing speeds or
 * slows both clocks alike (clock_gettime(2): CLOCK_MONOTONIC "is affected by
 * the incremental adjustments performed by adjtime(3) and NTP"), so only a
 * step (chrony's makestep at boot, an operator's `date -s`, a VM restored from
 * a snapshot) moves their difference.
 *
 * Why it matters: a start time read from the wall clock is in the frame of
 * the clock as it was then. A box that boots with its clock an hour behind
 * and is stepped right by NTP a minute later would otherwise keep a start
 * time an hour early; one that booted ahead keeps one in the future.
 */
import { performance } from 'node:perf_hooks';

/** Under this, a change is the jitter of reading two clocks one after the other, not a step. */
const STEP_MIN_MS = 1_000;

/** Wall clock minus monotonic clock, now (ms). */
export function wallMinusMonotonicMs(): number {
  return Date.now() - performance.now();
}

export class WallClockStep {
  readonly #offset: () => number;
  readonly #offsetAtStart: number;

  /** `offset`: wall minus monotonic now (tests step it); read once here, as the start. */
  constructor(offset: () => number = wallMinusMonotonicMs) {
    this.#offset = offset;
    this.#offsetAtStart = offset();
  }

  /** How far the wall clock was stepped since construction (ms, + forward); 0 below a second. */
  sinceStart(): number {
    const step = this.#offset() - this.#offsetAtStart;
    return Math.abs(step) < STEP_MIN_MS ? 0 : step;
  }
}
