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
  dtmfSent: number;
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

/** The report without raw audio, as served by `GET /sim/calls/{id}`. */
export function toSummary(report: CallReport): CallSummary {
  const { sentPcm: _sent, returnedPcm: _returned, roundTripSamplesMs: _samples, ...summary } = report;
  return summary;
}
