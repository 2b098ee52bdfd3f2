/** What the simulator reports about a call, in process and over HTTP. */
import type { CallDirection, CallDetailRecord } from '../wire/telnyx.js';
import type { SimCodec } from './codecs.js';
import type { LatencySummary } from './stats.js';

/**
 * Who ended the call. `caller` / `callee`: the simulated phone party hung up
 * (the caller of an inbound call, the callee of an outbound one); `gateway`:
 * the hangup action, or the gateway closed the media socket normally;
 * `timeout`: no answer in time, or a time limit; `stream_failed`: the media
 * socket could not be opened; `error`: the media socket broke, or the
 * simulator stopped.
 */
export type EndedBy = 'caller' | 'callee' | 'gateway' | 'timeout' | 'stream_failed' | 'error';

export interface CallSummary {
  callId: string;
  direction: CallDirection;
  codec: SimCodec;
  /** null while the call is live. */
  endedBy: EndedBy | null;
  endReason: string | null;
  framesSent: number;
  framesReturned: number;
  malformedFrames: number;
  lateSends: number;
  /** null while the call is live (computed once, at the end). */
  echo: { lagSamples: number; correlation: number } | null;
  roundTripMs: LatencySummary | null;
  sendLagMs: LatencySummary | null;
  marksEchoed: number;
  clearsReceived: number;
  /** Media streams opened (the answer's or dial's, then any streaming_start). */
  streamsOpened: number;
  /** Streams that ended while the call went on (closed by the far end, or dropped by the simulator's dropStream). */
  streamsLost: number;
  dtmfSent: number;
  /** DTMF digits the gateway sent with the send_dtmf action, in order. */
  dtmfReceived: string;
  /** Where a transfer action sent the call, or null. */
  transferredTo: string | null;
  /** What the phone heard of the gateway's audio (performance.now() times of this process). */
  heard: HeardTimeline;
  webhooksFailed: number;
  cdr: CallDetailRecord;
}

export interface CallReport extends CallSummary {
  endedBy: EndedBy;
  endReason: string;
  echo: { lagSamples: number; correlation: number };
  roundTripMs: LatencySummary;
  sendLagMs: LatencySummary;
  sentPcm: Int16Array;
  returnedPcm: Int16Array;
  roundTripSamplesMs: number[];
}

export interface HeardTimeline {
  /** Arrival of the first returned frame with sound in it (above -45 dBFS), or null. */
  firstSoundAtMs: number | null;
  /** Milliseconds of returned audio with sound in it. */
  soundMs: number;
  /** Arrival of each `clear`, with the sound heard before it and the arrival of the last frame before it. */
  clears: Array<{ atMs: number; soundMsBefore: number; lastFrameBeforeAtMs: number | null }>;
  /** Arrival of the last returned frame with sound. */
  lastSoundAtMs: number | null;
}

/** The report without raw audio, as served by `GET /sim/calls/{id}`. */
export function toSummary(report: CallReport): CallSummary {
  const { sentPcm: _sent, returnedPcm: _returned, roundTripSamplesMs: _samples, ...summary } = report;
  return summary;
}
