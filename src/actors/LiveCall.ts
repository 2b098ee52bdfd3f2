/**
 * A call the ControlActor carries: what it knows of the call between the
 * first event and the end, and how one is opened (an inbound call, a dial,
 * or a call taken over from an earlier gateway process).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { RecentCalls, type GatewayCallRecord } from '../control/RecentCalls.js';
import { StreamIds } from './StreamIds.js';

/** What the front gives us for each accepted media socket. */
export interface MediaSocket {
  send(frame: Uint8Array): void;
  close(code: number, reason: string): void;
}

export type CallState = 'answering' | 'answered' | 'streaming' | 'ending';

/** A call whose actor has no worker yet: with worker-owned sockets it goes where its socket lands. */
export const UNPLACED = -1;

export interface LiveCall {
  callId: string;
  /** Outbound: the id in the media path we chose before the provider named the call. */
  mediaId: string | null;
  slot: number;
  /** The worker carrying the call; UNPLACED until its media socket lands on one (worker-owned sockets). */
  workerIndex: number;
  direction: 'incoming' | 'outgoing';
  from: string;
  to: string;
  state: CallState;
  socket: MediaSocket | null;
  mediaSeen: boolean;
  startedAt: number;
  /** performance.now() at call.answered; null until then. */
  answeredAt: number | null;
  record: GatewayCallRecord;
  /** Epoch ms, for the dashboard and the minutes tally. */
  startedAtMs: number;
  log: Logger;
  /** The call's logger before any worker was bound to it: a call that moves gets `worker` bound afresh. */
  readonly baseLog: Logger;
  /** Cancels the pending end of a call without a media socket (StreamRestarts.armOrphanTimer). */
  orphanTimer: (() => void) | null;
  /** Taken over from an earlier gateway process, or moved off a lost worker: its actor opens without the greeting. */
  resumed: boolean;
  /** Media workers this call has lost (a crash, a stall, the heap limit) and outlived. */
  workerLosses: number;
  /**
   * Front-owned sockets: the current stream's `start` frame, kept so a new
   * actor (its worker lost) can be told the stream's format; and the frames
   * looked at for it since the socket opened (only the first few are).
   */
  startFrame: ArrayBuffer | null;
  framesSinceOpen: number;
  /** New streams asked for, losses, and the current loss's requests and deadline (StreamRestarts). */
  streamRestarts: number;
  streamLosses: number;
  episodeAttempts: number;
  episodeDeadline: number;
  /** A request asked again after `streaming.failed` is due (StreamRestarts.retryLater). */
  retryPending: boolean;
  /** The provider's ids of the call's streams: which one a `streaming.failed` is about. */
  readonly streams: StreamIds;
}

export interface LiveCallInit {
  callId: string;
  mediaId: string | null;
  slot: number;
  direction: 'incoming' | 'outgoing';
  from: string;
  to: string;
  log: Logger;
  /**
   * A call answered this long ago, taken over from an earlier gateway process:
   * it starts answered (its duration counts from the answer) and resumed.
   * Absent: a new call, answering.
   */
  answeredMsAgo?: number;
  /** A taken-over call's start as the platform recorded it (ISO 8601). */
  startedAtIso?: string;
}

export function openLiveCall(init: LiveCallInit): LiveCall {
  const { callId, direction, from, to, answeredMsAgo } = init;
  const taken = answeredMsAgo !== undefined;
  const ago = answeredMsAgo ?? 0;
  const record = RecentCalls.open(callId, direction, from, to);
  if (taken) {
    record.answered_at = new Date(Date.now() - ago).toISOString();
    record.started_at = init.startedAtIso ?? record.answered_at;
    record.taken_over = true;
  }
  return {
    callId,
    mediaId: init.mediaId,
    slot: init.slot,
    workerIndex: UNPLACED,
    direction,
    from,
    to,
    state: taken ? 'answered' : 'answering',
    socket: null,
    mediaSeen: false,
    startedAt: performance.now() - ago,
    answeredAt: taken ? performance.now() - ago : null,
    record,
    startedAtMs: Date.now() - ago,
    log: init.log,
    baseLog: init.log,
    orphanTimer: null,
    resumed: taken,
    workerLosses: 0,
    startFrame: null,
    framesSinceOpen: 0,
    streamRestarts: 0,
    streamLosses: 0,
    episodeAttempts: 0,
    episodeDeadline: 0,
    retryPending: false,
    streams: new StreamIds(),
  };
}

/** Frames of a stream looked at for its `start` (the provider sends `connected`, then `start`, first). */
const START_SEARCH_FRAMES = 4;
/** A `start` frame is a few hundred bytes; nothing longer is parsed to find one. */
const START_FRAME_MAX_BYTES = 4_096;
const utf8 = new TextDecoder();

/** Front-owned sockets: keep the stream's `start` frame (a copy) while it is among the first frames of the socket. */
export function noteStartFrame(call: LiveCall, data: ArrayBuffer): void {
  if (call.startFrame !== null || call.framesSinceOpen >= START_SEARCH_FRAMES) return;
  call.framesSinceOpen++;
  if (data.byteLength > START_FRAME_MAX_BYTES) return;
  try {
    const frame = JSON.parse(utf8.decode(data)) as { event?: unknown };
    if (frame?.event === 'start') call.startFrame = data.slice(0);
  } catch {
    // not JSON: the actor refuses it; nothing to keep
  }
}
