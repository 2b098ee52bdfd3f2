/**
 * What one call sent and got back, and what that says about the gateway.
 *
 * Sent frames are recorded with their PLANNED send time (t0 + 20 ms * k) and
 * their actual one; returned audio with its arrival time. Latency is measured
 * from the planned time, so a late sender cannot hide delay (no coordinated
 * omission).
 *
 * Round trip of returned frame j: its newest sample n_j (in the returned
 * stream) came from sent sample n_j - lag, which sits in sent frame
 * f = floor((n_j - lag) / 160); round trip = arrival_j - planned(f). It is only
 * computed when the returned audio is an echo of the sent audio
 * (correlation >= ECHO_MIN_CORRELATION); otherwise the lag means nothing.
 */
import { GrowableFloat64, GrowableInt16 } from './Growable.js';
import { SAMPLES_PER_FRAME } from './constants.js';
import type { EchoResult } from './EchoAnalyzer.js';
import { summarize, round3, type LatencySummary } from './stats.js';

export type Correlate = (sent: Int16Array, returned: Int16Array, maxLag: number) => Promise<EchoResult>;

/** Below this the returned audio is not an echo of ours and no round trip is computed. */
export const ECHO_MIN_CORRELATION = 0.5;

export interface EchoAnalysis {
  echo: { lagSamples: number; correlation: number };
  roundTripMs: LatencySummary;
  roundTripSamplesMs: number[];
  /** How late frames left against their planned time (the simulator's own timing). */
  sendLagMs: LatencySummary;
  sentPcm: Int16Array;
  returnedPcm: Int16Array;
}

export class CallRecorder {
  readonly #sent: GrowableInt16;
  readonly #returned: GrowableInt16;
  readonly #planned = new GrowableFloat64(512);
  readonly #sendLag = new GrowableFloat64(512);
  readonly #arrivals = new GrowableFloat64(512);
  /** Per returned frame: index of its newest sample in the returned stream. */
  readonly #returnedNewest = new GrowableFloat64(512);
  readonly #lateThresholdMs: number;
  #returnedSamples = 0;
  #lateSends = 0;

  constructor(maxSamples: number, lateThresholdMs: number) {
    this.#sent = new GrowableInt16(maxSamples);
    this.#returned = new GrowableInt16(maxSamples);
    this.#lateThresholdMs = lateThresholdMs;
  }

  get framesSent(): number {
    return this.#planned.length;
  }

  get framesReturned(): number {
    return this.#arrivals.length;
  }

  get lateSends(): number {
    return this.#lateSends;
  }

  recordSent(plannedMs: number, actualMs: number, pcm: Int16Array): void {
    this.#planned.push(plannedMs);
    const lag = actualMs - plannedMs;
    this.#sendLag.push(lag);
    if (lag >= this.#lateThresholdMs) this.#lateSends++;
    this.#sent.append(pcm);
  }

  recordReturned(arrivalMs: number, pcm: Int16Array): void {
    if (pcm.length === 0) return;
    this.#returnedSamples += pcm.length;
    this.#arrivals.push(arrivalMs);
    this.#returnedNewest.push(this.#returnedSamples - 1);
    this.#returned.append(pcm);
  }

  async analyse(maxLagSamples: number, correlate: Correlate): Promise<EchoAnalysis> {
    let sentPcm = this.#sent.toArray();
    let returnedPcm = this.#returned.toArray();
    let echo = { lagSamples: 0, correlation: 0 };
    if (sentPcm.length > 0 && returnedPcm.length > 0) {
      const best = await correlate(sentPcm, returnedPcm, maxLagSamples);
      echo = { lagSamples: best.lagSamples, correlation: round3(best.correlation) };
      sentPcm = best.sent;
      returnedPcm = best.returned;
    }
    const roundTripSamplesMs: number[] = [];
    if (echo.correlation >= ECHO_MIN_CORRELATION) {
      const framesSent = this.#planned.length;
      for (let j = 0; j < this.#arrivals.length; j++) {
        const f = Math.floor((this.#returnedNewest.at(j) - echo.lagSamples) / SAMPLES_PER_FRAME);
        if (f < 0 || f >= framesSent) continue;
        roundTripSamplesMs.push(round3(this.#arrivals.at(j) - this.#planned.at(f)));
      }
    }
    return {
      echo,
      roundTripMs: summarize(roundTripSamplesMs),
      roundTripSamplesMs,
      sendLagMs: summarize(this.#sendLag.view()),
      sentPcm,
      returnedPcm,
    };
  }
}
