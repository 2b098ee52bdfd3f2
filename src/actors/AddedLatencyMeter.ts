/**
 * The gateway's added latency per direction (DESIGN 9), pooled over its
 * workers: each worker's pong (once a second) carries its histograms since
 * the last one, and frames toward the phone that the main thread's front
 * sends are timed here. bench/ reads and resets it per measurement window.
 */
import { LatencyHistogram, type LatencyPercentiles } from './LatencyHistogram.js';
import { lateness } from './loopDelay.js';
import type { FromWorker } from './messages.js';

/** The gateway's added latency per direction since the last reset (DESIGN 9; read by bench/). */
export interface AddedLatency {
  /** Caller frame in at the front to its audio handed to the agent, less the jitter buffer's hold. */
  toAgent: LatencyPercentiles;
  /** Agent audio in to its frame sent toward the phone by the front. */
  toPhone: LatencyPercentiles;
  /** The jitter buffer's hold, apart. */
  jitterHold: LatencyPercentiles;
  /** Of toPhone: how long the live pacer's spacing held frames (bunched input spread at most one frame per 5 ms). */
  pacerHold: LatencyPercentiles;
  /** The highest of the workers' event-loop delay p99 (lateness) since the reset, each over the whole window (ms). */
  workerLoopDelayP99Ms: number;
}

type Pong = Extract<FromWorker, { type: 'pong' }>;

export class AddedLatencyMeter {
  readonly #toAgent = new LatencyHistogram();
  readonly #toPhone = new LatencyHistogram();
  readonly #jitterHold = new LatencyHistogram();
  readonly #pacerHold = new LatencyHistogram();
  /** Each worker's event-loop delay p99 (lateness) since the last reset, as its latest pong says. */
  readonly #workerLoopP99 = new Map<number, number>();

  /** A frame toward the phone left the main thread `ms` after its agent audio came in. */
  toPhone(ms: number): void {
    this.#toPhone.record(ms);
  }

  /** A worker's pong: its samples since the previous one. */
  merge(workerIndex: number, pong: Pong): void {
    this.#toAgent.merge(pong.inbound);
    this.#jitterHold.merge(pong.hold);
    this.#pacerHold.merge(pong.paced);
    if (pong.toPhone) this.#toPhone.merge(pong.toPhone);
    this.#workerLoopP99.set(workerIndex, lateness(pong.windowLoopDelayP99Ms));
  }

  summary(): AddedLatency {
    return {
      toAgent: this.#toAgent.summary(),
      toPhone: this.#toPhone.summary(),
      jitterHold: this.#jitterHold.summary(),
      pacerHold: this.#pacerHold.summary(),
      workerLoopDelayP99Ms: Math.round(Math.max(0, ...this.#workerLoopP99.values()) * 1000) / 1000,
    };
  }

  /** This thread's part; the workers reset theirs on `latency.reset`. */
  reset(): void {
    this.#toAgent.reset();
    this.#toPhone.reset();
    this.#jitterHold.reset();
    this.#pacerHold.reset();
    this.#workerLoopP99.clear();
  }
}
