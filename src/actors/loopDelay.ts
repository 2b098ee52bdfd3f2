/**
 * Event-loop delay as lateness. Node 20's monitorEventLoopDelay records the
 * whole interval between its timer's runs, resolution included (measured
 * here: an idle loop at resolution 10 ms gives p50 10.1 ms, at 20 ms 20.3 ms),
 * so the delay a bound like DESIGN 9's "p99 under 10 ms" means is the
 * percentile less the resolution.
 */
import { monitorEventLoopDelay, type Histogram, type IntervalHistogram } from 'node:perf_hooks';

export const LOOP_DELAY_RESOLUTION_MS = 10;

export function createLoopDelay(): IntervalHistogram {
  return monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
}

/** A percentile of `h` as lateness in ms (0 when the loop was on time). */
export function loopLatenessMs(h: Pick<Histogram, 'percentile'>, percentile: number): number {
  return lateness(h.percentile(percentile) / 1e6);
}

/** An interval (ms) measured with LOOP_DELAY_RESOLUTION_MS, as lateness. */
export function lateness(intervalMs: number): number {
  return Math.round(Math.max(0, intervalMs - LOOP_DELAY_RESOLUTION_MS) * 1000) / 1000;
}
