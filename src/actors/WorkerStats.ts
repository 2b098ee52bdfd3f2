/**
 * A media worker's counters and histograms since it started, for metrics
 * and the dashboard. Totals are ended calls' final figures plus the live
 * calls' figures so far, so they only grow; the main thread turns two
 * snapshots into a delta. Sent once a second in the health pong (no
 * per-frame messages across threads).
 */
import { BucketCounts, type BucketSnapshot } from './BucketCounts.js';
import type { CallActor } from './CallActor.js';
import type { SharedQueueBudget } from '../media/SharedQueueBudget.js';
import type { CallLiveStats, CallSummary, FrameTotals } from './messages.js';

/** Added latency, frame in to paced frame out, seconds: a 20 ms frame plus the jitter buffer's delay lands around 0.02 to 0.1. */
export const ADDED_LATENCY_BUCKETS_S = [0.005, 0.01, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1];
/** A call's interarrival jitter when it ends, seconds (RFC 3550 estimate). */
export const CALL_JITTER_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2];

/**
 * perf_hooks' loop-delay histograms sample with a timer of this period and
 * (Node 20, measured) record the whole interval: an idle loop reads about
 * 10.1 ms at p50. Metrics report the excess over it, the actual delay.
 */
export const LOOP_DELAY_RESOLUTION_MS = 10;

export function loopDelayExcessMs(recordedMs: number): number {
  return Math.max(0, recordedMs - LOOP_DELAY_RESOLUTION_MS);
}

export type { FrameTotals };

/** The worker's bound on queued agent audio (agentAudioBudget.ts): what it holds now, and frames it dropped so far. */
export interface AgentAudioSnapshot {
  heldBytes: number;
  maxBytes: number;
  drops: number;
}

export interface WorkerStatsSnapshot {
  totals: FrameTotals;
  addedLatency: BucketSnapshot;
  callJitter: BucketSnapshot;
  calls: CallLiveStats[];
  agentAudio: AgentAudioSnapshot;
  /** Calls whose agent reconnects were stopped (it broke its socket soon after each connection: agentReconnects.ts). */
  agentReconnectsStopped: number;
}

export function zeroTotals(): FrameTotals {
  return { framesIn: 0, framesOut: 0, lost: 0, concealed: 0, late: 0, malformed: 0, mailboxDrops: 0 };
}

export class WorkerStats {
  readonly #ended: FrameTotals = zeroTotals();
  readonly addedLatency = new BucketCounts(ADDED_LATENCY_BUCKETS_S);
  readonly callJitter = new BucketCounts(CALL_JITTER_BUCKETS_S);
  readonly #agentAudio: SharedQueueBudget | null;
  /** Since the worker started: calls whose agent reconnects were stopped. */
  agentReconnectsStopped = 0;

  constructor(agentAudio: SharedQueueBudget | null = null) {
    this.#agentAudio = agentAudio;
  }

  /** Hook for CallActor: one frame's added latency, ms. */
  readonly recordLatencyMs = (ms: number): void => this.addedLatency.record(ms / 1000);

  callEnded(summary: CallSummary): void {
    const t = this.#ended;
    t.framesIn += summary.framesIn;
    t.framesOut += summary.framesOut;
    t.malformed += summary.malformedFrames;
    t.mailboxDrops += summary.mailboxDrops;
    if (summary.jitter) {
      t.lost += summary.jitter.lost;
      t.concealed += summary.jitter.concealed;
      t.late += summary.jitter.late;
      this.callJitter.record(summary.jitter.jitterMs / 1000);
    }
  }

  /** `withCalls` false: totals only (the per-call list costs ~1 ms a second to encode at 500 calls). */
  snapshot(actors: Iterable<CallActor>, nowMs: number, withCalls = true): WorkerStatsSnapshot {
    const totals = { ...this.#ended };
    const calls: CallLiveStats[] = [];
    for (const actor of actors) {
      if (actor.ended) continue;
      const live = actor.liveStats(nowMs);
      if (withCalls) calls.push(live);
      totals.framesIn += live.framesIn;
      totals.framesOut += live.framesOut;
      totals.lost += live.lost;
      totals.concealed += live.concealed;
      totals.late += live.late;
      totals.malformed += live.malformed;
      totals.mailboxDrops += live.mailboxDrops;
    }
    const budget = this.#agentAudio;
    const agentAudio = { heldBytes: budget?.heldBytes ?? 0, maxBytes: budget?.maxBytes ?? 0, drops: budget?.drops ?? 0 };
    return {
      totals,
      addedLatency: this.addedLatency.snapshot(),
      callJitter: this.callJitter.snapshot(),
      calls,
      agentAudio,
      agentReconnectsStopped: this.agentReconnectsStopped,
    };
  }
}
