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
 * f = floor((n_j - lag) / 160); round trip = arrival_j - planned(f) (both
 * counted from its segment's start). It is only
 * computed when the returned audio is an echo of the sent audio
 * (correlation >= ECHO_MIN_CORRELATION); otherwise the lag means nothing.
 *
 * A call whose media stream was lost and restarted has one segment per
 * stream: frames in flight at the loss never come back and the new stream's
 * delay may differ, so no single lag fits the whole call. A gap of
 * RETURN_GAP_MS or more in the returned audio (frames the gateway lost with a
 * media worker, on the same stream) starts a segment too, for the same
 * reason. Each segment is analysed on its own; the call's correlation is the
 * lowest of them. Where in the sent audio a segment's echo resumes is not
 * known. If the gateway lost what it held, it resumes with audio sent shortly
 * before the segment began. If it only stalled (another process starved of
 * CPU, its frames waiting in a socket), the returned burst echoes audio sent
 * before the gap, as far back as the lag before it: searched from the
 * segment's start, that lag is past the search range (the demo's 0.01 on a
 * busy box). A gateway may also do both (a lost worker's in-flight frames
 * gone, the ones sent while its calls moved delivered late). So a segment
 * after the first is searched over every sent position its echo can start
 * at. The earliest is its own returned position less the search range: the
 * first segment's echo lags by no more, and audio lost since only moves the
 * echo later (a gateway that held everything resumes there, however far
 * behind it had fallen before the gap). The latest is the sent position
 * when the segment began: nothing can echo audio not yet sent. It is still
 * only the call's own audio near the gap, so audio that is not an echo
 * scores low. A gap while the simulator
 * itself stood still (its sends stopped as long, as when its own event loop
 * is starved) is not one: the gateway's audio waited in the socket, nothing
 * was lost and the lag is the same (seen in the security suite on a loaded
 * machine: a perfect echo analysed at 0.157 when such a gap was cut).
 */
import { GrowableFloat64, GrowableInt16 } from './Growable.js';
import { SAMPLES_PER_FRAME } from './constants.js';
import type { EchoResult } from './EchoAnalyzer.js';
import { summarize, round3, type LatencySummary } from './stats.js';

export type Correlate = (sent: Int16Array, returned: Int16Array, maxLag: number) => Promise<EchoResult>;

/** Below this the returned audio is not an echo of ours and no round trip is computed. */
export const ECHO_MIN_CORRELATION = 0.5;
/** Returned frames come every 20 ms while an echo flows: five missing in a row means audio went missing. */
const RETURN_GAP_MS = 100;
/** A stream's segment shorter than this (0.5 s) is not analysed on its own. */
const MIN_SEGMENT_SAMPLES = 25 * SAMPLES_PER_FRAME;

export interface EchoAnalysis {
  echo: { lagSamples: number; correlation: number };
  roundTripMs: LatencySummary;
  roundTripSamplesMs: number[];
  /** How late frames left against their planned time (the simulator's own timing). */
  sendLagMs: LatencySummary;
  sentPcm: Int16Array;
  returnedPcm: Int16Array;
}

/** Where a segment begins: in returned samples, and in sent samples and frames (its echo cannot start later). */
interface SegmentStart {
  returned: number;
  sent: number;
  frames: number;
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
  /** When the last frame actually left, and the longest pause between sends since the last returned frame. */
  #lastSentAtMs = Number.NaN;
  #longestSendPauseMs = 0;
  /** Where each media stream (or gap segment) after the first began. */
  readonly #streamStarts: SegmentStart[] = [];

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
    const pause = actualMs - this.#lastSentAtMs;
    if (pause > this.#longestSendPauseMs) this.#longestSendPauseMs = pause;
    this.#lastSentAtMs = actualMs;
    this.#sent.append(pcm);
  }

  recordReturned(arrivalMs: number, pcm: Int16Array): void {
    if (pcm.length === 0) return;
    const last = this.#arrivals.length > 0 ? this.#arrivals.at(this.#arrivals.length - 1) : Number.NaN;
    const segmentStart = this.#streamStarts.at(-1)?.returned ?? 0;
    const gap = arrivalMs - last;
    // The simulator's own stall: it neither sent nor read for most of the gap.
    const ownStall = Math.max(this.#longestSendPauseMs, arrivalMs - this.#lastSentAtMs) >= gap / 2;
    this.#longestSendPauseMs = 0;
    // After a gap the lag may differ (as after a new stream), unless the segment has only just begun.
    if (gap >= RETURN_GAP_MS && !ownStall && this.#returnedSamples > segmentStart) this.newStream();
    this.#returnedSamples += pcm.length;
    this.#arrivals.push(arrivalMs);
    this.#returnedNewest.push(this.#returnedSamples - 1);
    this.#returned.append(pcm);
  }

  /** A new media stream opened after a lost one (or the returned audio had a gap): its echo is analysed as a segment of its own. */
  newStream(): void {
    this.#streamStarts.push({ returned: this.#returnedSamples, sent: this.#sent.length, frames: this.#planned.length });
  }

  /**
   * One best-lag correlation per stream (a call that never lost its stream is
   * one segment, analysed whatever its length). With several, a segment whose
   * returned or sent audio is shorter than MIN_SEGMENT_SAMPLES is left out
   * (too little audio to tell an echo from chance); the call's correlation is
   * the lowest of the rest and its lag the first one's. Round trips use each
   * segment's own lag.
   */
  async analyse(maxLagSamples: number, correlate: Correlate): Promise<EchoAnalysis> {
    let sentPcm = this.#sent.toArray();
    let returnedPcm = this.#returned.toArray();
    const starts: SegmentStart[] = [{ returned: 0, sent: 0, frames: 0 }, ...this.#streamStarts];
    const whole = starts.length === 1;
    const segments = starts.map((start, k) => {
      const next = starts[k + 1];
      // After the first, a segment's sent side starts a search range before its returned position (whole 20 ms frames):
      // the first segment's echo lags by at most that, and audio lost since only moves the echo later.
      const frames = k === 0 ? 0 : Math.max(0, Math.floor((start.returned - maxLagSamples) / SAMPLES_PER_FRAME));
      const sent = frames * SAMPLES_PER_FRAME;
      return {
        returned: start.returned,
        sent,
        frames,
        /** How far past `sent` the echo may start (0 for the first segment, whose echo lags behind its start instead). */
        ahead: Math.max(0, start.sent - sent),
        sentEnd: next?.sent ?? sentPcm.length,
        returnedEnd: next?.returned ?? this.#returnedSamples,
        framesEnd: next?.frames ?? this.#planned.length,
        /** Returned sample n of the segment echoes its sent sample n - lag (negative: the echo starts past `sent`). */
        lag: 0,
        correlation: Number.NaN,
      };
    });
    for (const [k, segment] of segments.entries()) {
      const sentLength = segment.sentEnd - segment.sent;
      const returnedLength = Math.min(segment.returnedEnd, returnedPcm.length) - segment.returned;
      if (whole) {
        if (sentLength <= 0 || returnedLength <= 0) continue;
        // One stream: the whole recording travels to the analyser and back without a copy.
        const best = await correlate(sentPcm, returnedPcm, maxLagSamples);
        sentPcm = best.sent;
        returnedPcm = best.returned;
        segment.lag = best.lagSamples;
        segment.correlation = best.correlation;
        continue;
      }
      if (sentLength < MIN_SEGMENT_SAMPLES || returnedLength < MIN_SEGMENT_SAMPLES) continue;
      const sent = sentPcm.slice(segment.sent, segment.sentEnd);
      const returned = returnedPcm.slice(segment.returned, segment.returned + returnedLength);
      if (k === 0) {
        const best = await correlate(sent, returned, maxLagSamples);
        segment.lag = best.lagSamples;
        segment.correlation = best.correlation;
        continue;
      }
      // Roles swapped: the sent side leads the returned one by 0..ahead samples, and every returned sample is compared.
      const best = await correlate(returned, sent, segment.ahead);
      segment.lag = -best.lagSamples;
      segment.correlation = best.correlation;
    }
    const analysed = segments.filter((s) => !Number.isNaN(s.correlation));
    const echo =
      analysed.length === 0
        ? { lagSamples: 0, correlation: 0 }
        : // The lag counted from where the segment began (for the first, the call's start), as the report has always said.
          { lagSamples: analysed[0]!.ahead + analysed[0]!.lag, correlation: round3(Math.min(...analysed.map((s) => s.correlation))) };
    const roundTripSamplesMs: number[] = [];
    let k = 0;
    for (let j = 0; j < this.#arrivals.length; j++) {
      const newest = this.#returnedNewest.at(j);
      while (k + 1 < segments.length && newest >= segments[k + 1]!.returned) k++;
      const segment = segments[k]!;
      if (!(round3(segment.correlation) >= ECHO_MIN_CORRELATION)) continue;
      const f = segment.frames + Math.floor((newest - segment.returned - segment.lag) / SAMPLES_PER_FRAME);
      if (f < segment.frames || f >= segment.framesEnd) continue;
      roundTripSamplesMs.push(round3(this.#arrivals.at(j) - this.#planned.at(f)));
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
