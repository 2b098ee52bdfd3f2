/**
 * A call the ControlActor carries: what it knows of the call between the
 * first event and the end, and how one is opened (an inbound call, a dial,
 * or a call taken over from an earlier gateway process).
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import { RecentCalls, type GatewayCallRecord } from '../control/RecentCalls.js';

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
  orphanTimer: NodeJS.Timeout | null;
  /** Taken over from an earlier gateway process: its actor opens without the greeting. */
  resumed: boolean;
  /** New streams asked for, losses, and the current loss's requests and deadline (StreamRestarts). */
  streamRestarts: number;
  streamLosses: number;
  episodeAttempts: number;
  episodeDeadline: number;
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
    orphanTimer: null,
    resumed: taken,
    streamRestarts: 0,
    streamLosses: 0,
    episodeAttempts: 0,
    episodeDeadline: 0,
  };
}
