/**
 * Typed control messages between the main thread and media workers
 * (a discriminated union, exhaustively switched; encoded with msgpackr).
 * Control messages are never dropped; media frames travel apart, in
 * MediaBatch buffers.
 */
import type { MediaRefusalReason } from '../front/mediaRefusals.js';
import type { JitterStats } from '../media/JitterBuffer.js';
import type { SparseHistogram } from './LatencyHistogram.js';
import type { AgentActionResult } from '../agent/AgentAdapter.js';
import type { RequestId } from '../agent/requestId.js';
import type { AgentConfig, BargeInConfig } from '../agent/agentConfig.js';
import type { WorkerStatsSnapshot } from './WorkerStats.js';

/** What an agent asks the ControlActor to do for its call. */
export type AgentAction =
  | { kind: 'hangup'; reason: string }
  | { kind: 'transfer'; to: string; id?: RequestId }
  | { kind: 'dial'; to: string; id?: RequestId }
  | { kind: 'dtmf'; digits: string; id?: RequestId };

/** The caller -> agent jitter buffer of one call, at its end (JitterStats' fields, plus FEC recoveries). */
export type JitterSummary = Pick<JitterStats, 'jitterMs' | 'targetDelayMs' | 'delayMs' | 'late' | 'lost' | 'concealed' | 'duplicates' | 'resets'> & {
  /** Lost Opus frames rebuilt from in-band FEC. */
  fecRecovered: number;
};

export interface CallSummary {
  callId: string;
  codec: string | null;
  framesIn: number;
  framesOut: number;
  malformedFrames: number;
  mailboxDrops: number;
  pacerLate: number;
  jitter: JitterSummary | null;
  /** Added latency through the gateway for the echo: caller frame in at the front to paced frame out of the worker (ms). */
  workerLatencyMs: { p50: number; p99: number; max: number; count: number };
  durationMs: number;
  endReason: string;
  agent: { kind: string; openMs: number | null; turnLatencyMs: number[]; bargeIns: number };
}

/** Frame counters of a call, or summed over a worker's calls. */
export interface FrameTotals {
  framesIn: number;
  framesOut: number;
  /** Caller frames that never arrived in time (jitter buffer). */
  lost: number;
  /** Caller frames synthesised in their place. */
  concealed: number;
  late: number;
  malformed: number;
  mailboxDrops: number;
}

/** One live call's counters so far and recent figures, sent in the worker's periodic snapshot. */
export interface CallLiveStats extends FrameTotals {
  callId: string;
  codec: string | null;
  agent: string;
  durationMs: number;
  /** RFC 3550 interarrival jitter now, ms (null before the stream starts). */
  jitterMs: number | null;
  /** Mean added latency of the frames paced out since the previous snapshot, ms (null: none sent). */
  latencyMs: number | null;
}

/** Main thread -> worker. */
export type ToWorker =
  | {
      type: 'call.open';
      slot: number;
      callId: string;
      from: string;
      to: string;
      direction: 'incoming' | 'outgoing';
      agent: AgentConfig;
      bargeIn: BargeInConfig;
      /** A live call moved here with its new media stream (worker-owned sockets): no greeting again. */
      resumed?: boolean;
    }
  | { type: 'agent.result'; slot: number; result: AgentActionResult }
  | { type: 'call.end'; slot: number; reason: string }
  | { type: 'media.open'; slot: number }
  /** `restream`: main will ask for a new stream if the actor has one to resume (the worker answers media.lost). */
  | { type: 'media.closed'; slot: number; restream?: boolean }
  /** `withCalls`: include each live call's figures in the pong (only while a dashboard watches: ~1 ms to encode 500 calls). */
  | { type: 'ping'; id: number; sentAt: number; withCalls: boolean }
  /** Forget the added-latency samples gathered so far (a bench step starts). */
  | { type: 'latency.reset' }
  /** Worker-owned sockets: the answer to a `webhook` it forwarded. */
  | { type: 'webhook.answer'; id: number; status: string; json: string }
  /** Worker-owned sockets: the token check's verdict for an upgrade it holds (a `call.open` precedes an ok). */
  | { type: 'media.verdict'; id: number; verdict: { ok: true; slot: number } | { ok: false; reason: MediaRefusalReason } }
  /** Worker-owned sockets: close this call's media socket. */
  | { type: 'media.end'; slot: number; code: number; reason: string }
  /** Worker-owned sockets: stop accepting connections (the gateway is stopping). */
  | { type: 'listen.close' }
  | { type: 'shutdown' };

/** Worker -> main thread. */
export type FromWorker =
  /** `tunnelPort`: the port its own listener got (worker-owned sockets only). */
  | { type: 'ready'; workerIndex: number; tunnelPort?: number }
  | {
      type: 'pong';
      id: number;
      sentAt: number;
      calls: number;
      loopDelayP99Ms: number;
      /** Event-loop delay p99 since the last `latency.reset` (bench windows). */
      windowLoopDelayP99Ms: number;
      heapUsedBytes: number;
      /** Added-latency samples since the last pong (caller audio toward the agent, and the jitter buffer's hold apart). */
      inbound: SparseHistogram;
      hold: SparseHistogram;
      /** How long the live pacer's spacing held frames toward the phone, since the last pong. */
      paced: SparseHistogram;
      /** Worker-owned sockets: added latency toward the phone, measured where the frame is sent. */
      toPhone?: SparseHistogram;
      loopDelayMaxMs: number;
      /** Share of the time since the last pong that this worker's event loop was busy (0 to 1): admission's measured load. */
      busyShare: number;
      /** The worker's counters and histograms since it started, and its live calls (metrics and dashboard). */
      stats: WorkerStatsSnapshot;
    }
  | { type: 'call.ended'; slot: number; summary: CallSummary }
  /** The actor asks main to close the call's media socket (bad start frame, unsupported codec...). */
  | { type: 'media.close'; slot: number; code: number; reason: string }
  /** The call's stream was lost mid-call (no `stop` from the provider): its actor waits for a new one. */
  | { type: 'media.lost'; slot: number }
  /** The stream's `start` frame named it (the provider's `stream_id`): main tells its events apart by it. */
  | { type: 'media.started'; slot: number; streamId: string }
  | { type: 'agent.action'; slot: number; action: AgentAction }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; slot?: number; fields?: Record<string, unknown> }
  // Worker-owned sockets (DESIGN 4, fourth option): the worker's listener asks, main decides.
  /** A webhook body read whole by the worker's listener; main verifies and acts on it. */
  | { type: 'webhook'; id: number; signature?: string; timestamp?: string; body: Uint8Array }
  /** An upgrade held open until main has checked (and consumed) the token. */
  | { type: 'media.authorize'; id: number; callId: string; token?: string }
  | { type: 'media.opened'; slot: number }
  | { type: 'media.socket.closed'; slot: number }
  | { type: 'media.abuse'; slot: number; reason: string }
  | { type: 'front.count'; counter: 'mediaRefused' | 'mediaClosedForAbuse' | 'webhookBodyRefused' | 'notFound'; key: string };

export function assertNever(value: never): never {
  throw new Error(`unhandled message: ${JSON.stringify(value)}`);
}
