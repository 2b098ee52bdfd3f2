/**
 * The gateway's Prometheus metrics (prom-client), served on the local
 * listener only (FAQ-04). Two kinds of source:
 *  - main-thread counters that already exist as plain records (webhook
 *    outcomes, refused upgrades, ended calls...): mirrored at scrape time;
 *  - media workers' counters and histograms: each worker sends its totals
 *    once a second in the health pong (WorkerStats); the deltas between two
 *    pongs are added here, so a worker's figures survive its restart and no
 *    message crosses threads per frame.
 * Names, labels and meanings: docs/operations-metrics.md.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { ControlActor } from '../actors/ControlActor.js';
import type { Supervisor } from '../actors/Supervisor.js';
import type { WorkerHost } from '../actors/WorkerHost.js';
import {
  ADDED_LATENCY_BUCKETS_S,
  CALL_JITTER_BUCKETS_S,
  LOOP_DELAY_RESOLUTION_MS,
  loopDelayExcessMs,
  type FrameTotals,
  type WorkerStatsSnapshot,
} from '../actors/WorkerStats.js';
import { ErrorCodes } from '../errors.js';
import type { DeploymentUsage } from '../wire/platformApi.js';
import { SummedHistogram } from './SummedHistogram.js';

/** What the metrics read; the Gateway passes its parts. */
export interface GatewaySources {
  supervisor: Supervisor;
  control: ControlActor;
  webhooks: { counters: Record<string, number>; replayEntries: { held: number; max: number } };
  front: {
    counters: {
      mediaRefused: Record<string, number>;
      mediaClosedForAbuse: Record<string, number>;
      webhookBodyRefused: Record<string, number>;
      localRefused: Record<string, number>;
      webhooksRelayed: Record<string, number>;
    };
  };
  signalling: { refusals: Record<string, number>; connectRetries: number; usage(): Promise<DeploymentUsage> };
  /** The control connection is open and authenticated (the platform's hello arrived). */
  platformConnected(): boolean;
}

/** The main thread's loop delay is sampled (and its window restarted) this often. */
const LOOP_SAMPLE_MS = 1_000;
const WORKER_COUNTERS: Array<[keyof FrameTotals, string, string]> = [
  ['lost', 'ttma_media_frames_lost_total', 'Caller frames that never arrived in time (jitter buffer), by worker.'],
  ['concealed', 'ttma_media_frames_concealed_total', 'Caller frames synthesised in place of lost ones (concealment, silence), by worker.'],
  ['late', 'ttma_media_frames_late_total', 'Caller frames that arrived after their playout time and were discarded, by worker.'],
  ['malformed', 'ttma_media_frames_malformed_total', 'Provider media frames that were not valid protocol (counted, never played), by worker.'],
  ['mailboxDrops', 'ttma_mailbox_drops_total', 'Frames dropped oldest-first by a full bounded queue (call mailbox or agent-audio queue), or as stale by a worker that fell behind, by worker.'],
];

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly #sources: GatewaySources;
  readonly #seen = new WeakMap<WorkerHost, WorkerStatsSnapshot>();
  readonly #frames: Counter<'worker' | 'direction'>;
  readonly #workerCounters: Array<[keyof FrameTotals, Counter<'worker'>]>;
  readonly #agentAudioDrops: Counter<'worker'>;
  readonly #agentReconnectsStopped: Counter<'worker'>;
  readonly #addedLatency = new SummedHistogram('ttma_media_added_latency_seconds', 'Added latency of each frame paced out to the phone: caller frame (or agent audio) in to paced frame out, through jitter buffer, agent hop excluded for remote agents.', ADDED_LATENCY_BUCKETS_S);
  readonly #callJitter = new SummedHistogram('ttma_call_jitter_seconds', "Each ended call's RFC 3550 interarrival jitter estimate of caller audio.", CALL_JITTER_BUCKETS_S);
  readonly #mainLoop: IntervalHistogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  #mainLoopP99 = 0;
  #mainLoopMax = 0;
  #sampler: NodeJS.Timeout | null = null;

  constructor(sources: GatewaySources) {
    this.#sources = sources;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const { control, supervisor, webhooks, signalling } = sources;

    mirror(this.registry, 'ttma_calls_started_total', 'Calls admitted to a worker, by direction.', 'direction', () => control.started);
    mirror(this.registry, 'ttma_calls_ended_total', 'Calls ended, by cause (hangup, agent, streaming_failed, media_closed, media_abuse, media_refused, answer_failed, no_media, worker_failed, minute_cap, shutdown, handover).', 'cause', () => control.ended);
    mirror(this.registry, 'ttma_webhook_verifications_total', 'Provider webhooks by verification outcome (accepted, duplicate, or the refusal reason).', 'outcome', () => webhooks.counters);
    mirror(this.registry, 'ttma_webhooks_relayed_total', 'Provider webhooks the platform relayed over the control connection, by the HTTP status they were answered with (200 accepted or duplicate, 401 refused, 503 no key or replay cache full).', 'status', () => sources.front.counters.webhooksRelayed);
    mirror(this.registry, 'ttma_webhook_bodies_refused_total', 'Webhook bodies refused before verification (too_large, timeout, busy: past what bodies being read may hold at once).', 'reason', () => sources.front.counters.webhookBodyRefused);
    mirror(this.registry, 'ttma_media_upgrades_refused_total', 'Media WebSocket upgrades refused, by reason (missing/unknown/expired token, wrong call, no live call, bad call id, check unavailable).', 'reason', () => sources.front.counters.mediaRefused);
    mirror(this.registry, 'ttma_media_sockets_closed_total', 'Media sockets closed by the front for abuse, by kind (flood, binary).', 'kind', () => sources.front.counters.mediaClosedForAbuse);
    mirror(this.registry, 'ttma_local_requests_refused_total', 'Requests to the local listener refused as not local (FAQ-04): a tunnel header, a foreign Host (DNS rebinding) or another site\'s Origin.', 'reason', () => sources.front.counters.localRefused);
    mirror(this.registry, 'ttma_cap_refusals_total', 'Calls refused by a cap: concurrent_calls (maxCalls, at this gateway), worker_load (every media worker above maxWorkerLoad) or minutes (TTMA_ERR_CAP_REACHED from the platform, or refused here while the platform says the deployment is capped).', 'cap', () => ({
      concurrent_calls: control.capRefused.concurrent_calls ?? 0,
      worker_load: control.capRefused.worker_load ?? 0,
      minutes: (signalling.refusals[ErrorCodes.CAP_REACHED] ?? 0) + control.counters.callsRefusedForCap,
    }));
    mirror(this.registry, 'ttma_platform_refusals_total', 'Signalling requests the platform refused, by error code.', 'code', () => signalling.refusals);
    mirror(this.registry, 'ttma_hangup_retries_total', 'Hang-ups through the platform by outcome: retried (sent again after a failure that may pass: no answer, 5xx, rate limit; after 1, 5 and 30 s) or failed (never went through: refused, or the retries spent).', 'outcome', () => ({
      retried: control.counters.hangupRetries,
      failed: control.counters.hangupsFailed,
    }));
    mirror(this.registry, 'ttma_answer_retries_total', "Inbound calls' answers sent again after the platform refused them for the deployment's rate limit (after its Retry-After, within 8 s of the call's arrival).", 'reason', () => ({ rate_limited: control.counters.answerRetries }));
    mirror(this.registry, 'ttma_agent_requests_refused_total', "Agents' transfer, dial and DTMF requests refused by the gateway before reaching the platform, by the bound they passed: call (one in flight per kind with 4 waiting, burst 5 and 2 a second per call) or gateway (burst 20 and 10 a second for all calls' agents together).", 'by', () => control.agentRequests.refused);
    mirror(this.registry, 'ttma_platform_connect_retries_total', 'Signalling requests sent again because the platform refused the connection (it was restarting); up to 5 s a request.', 'reason', () => ({ connection_refused: signalling.connectRetries }));
    mirror(this.registry, 'ttma_media_stream_restarts_asked_total', 'New media streams the gateway asked for, by reason: lost (the socket closed mid-call without the provider\'s stop), adopted (a live call taken over from an earlier gateway process), worker_lost (the media worker that owned the call\'s socket was lost), not_connected (asked again after streaming.failed), paced (asked again after the platform\'s rate limit).', 'reason', () => control.streamRestartsAsked);
    mirror(this.registry, 'ttma_media_stream_restarts_total', 'Those new streams by outcome: landed (the call carried on) or refused by the platform or provider (the call ended).', 'outcome', () => ({
      landed: control.counters.streamRestartsLanded,
      refused: control.counters.streamRestartsFailed,
    }));
    mirror(this.registry, 'ttma_calls_taken_over_total', 'Live calls left by an earlier gateway process (a crash, or onStop handover), by outcome: adopted (asked for a new stream to this process), refused (no room: hung up), ringing_answered (an inbound call that rang while no gateway was up, answered by this process).', 'outcome', () => ({
      adopted: control.counters.callsAdopted,
      refused: control.counters.callsAdoptionRefused,
      ringing_answered: control.counters.callsRingingAnswered,
    }));
    mirror(this.registry, 'ttma_worker_restarts_total', 'Media workers restarted after a crash, a stall or the heap limit.', 'reason', () => ({ lost: supervisor.restarts }));
    mirror(this.registry, 'ttma_worker_lost_calls_total', 'Calls of a media worker that was lost, by outcome: moved (a new actor on a live worker, and with worker-owned sockets a new stream) or ended (a second lost worker for the call, or no worker with room).', 'outcome', () => ({
      moved: control.counters.workerCallsMoved,
      ended: control.counters.workerCallsLost,
    }));

    this.#frames = new Counter({ name: 'ttma_media_frames_total', help: 'Media frames carried, by worker and direction (in: caller audio accepted; out: paced to the phone).', labelNames: ['worker', 'direction'], registers });
    this.#workerCounters = WORKER_COUNTERS.map(([key, name, help]) => [key, new Counter({ name, help, labelNames: ['worker'], registers })]);
    this.#agentAudioDrops = new Counter({
      name: 'ttma_agent_audio_budget_drops_total',
      help: "Agent audio frames dropped, oldest first, because a media worker's calls together reached its bound on queued agent audio (a quarter of its heap limit): only calls holding more than their fair share lose them. Also in ttma_mailbox_drops_total. By worker.",
      labelNames: ['worker'],
      registers,
    });
    this.#agentReconnectsStopped = new Counter({
      name: 'ttma_agent_reconnects_stopped_total',
      help: 'Calls whose agent socket the gateway stopped connecting again: it was lost 3 times in a row, each within 10 s of connecting (an agent that breaks every connection); the call hung up after playout. By worker.',
      labelNames: ['worker'],
      registers,
    });
    this.registry.registerMetric(this.#addedLatency as unknown as Metric);
    this.registry.registerMetric(this.#callJitter as unknown as Metric);

    new Gauge({
      name: 'ttma_calls_live',
      help: 'Live calls, by worker.',
      labelNames: ['worker'],
      registers,
      collect() {
        this.reset();
        for (const host of supervisor.hosts()) this.set({ worker: String(host.index) }, host.exited ? 0 : host.calls);
      },
    });
    new Gauge({
      name: 'ttma_webhook_replay_entries',
      help: 'Webhook identities (event id, signature digest) the replay cache holds until their signatures are stale (held), and its bound (max): past it a new event is refused with 503 (replay_full).',
      labelNames: ['stat'],
      registers,
      collect() {
        const { held, max } = webhooks.replayEntries;
        this.set({ stat: 'held' }, held);
        this.set({ stat: 'max' }, max);
      },
    });
    new Gauge({
      name: 'ttma_platform_connected',
      help: '1 while the control connection to the platform is open and authenticated; 0 while the gateway is cut off (no call can be answered).',
      registers,
      collect() {
        this.set(sources.platformConnected() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ttma_worker_up',
      help: '1 while the media worker runs; 0 from its loss until its replacement has started (and for good if that never starts).',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const host of supervisor.hosts()) this.set({ worker: String(host.index) }, host.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ttma_worker_heap_used_bytes',
      help: "A media worker's V8 heap in use (its limit is 512 MiB), at its last health pong.",
      labelNames: ['worker'],
      registers,
      collect() {
        for (const host of supervisor.hosts()) this.set({ worker: String(host.index) }, host.lastHeapUsedBytes);
      },
    });
    new Gauge({
      name: 'ttma_worker_busy_ratio',
      help: "Share of the last second a media worker's event loop was busy, at its last health pong: what measured-load admission compares with maxWorkerLoad.",
      labelNames: ['worker'],
      registers,
      collect() {
        for (const host of supervisor.hosts()) this.set({ worker: String(host.index) }, host.exited ? 0 : host.lastBusyShare);
      },
    });
    const self = this;
    new Gauge({
      name: 'ttma_event_loop_delay_seconds',
      help: 'Event-loop delay per thread over the last second, beyond the 10 ms sampling interval: thread="main" (the uWS front and control) or "media-N"; stat="p99" or "max".',
      labelNames: ['thread', 'stat'],
      registers,
      collect() {
        this.set({ thread: 'main', stat: 'p99' }, self.#mainLoopP99 / 1000);
        this.set({ thread: 'main', stat: 'max' }, self.#mainLoopMax / 1000);
        for (const host of supervisor.hosts()) {
          this.set({ thread: `media-${host.index}`, stat: 'p99' }, loopDelayExcessMs(host.lastLoopDelayP99Ms) / 1000);
          this.set({ thread: `media-${host.index}`, stat: 'max' }, loopDelayExcessMs(host.lastLoopDelayMaxMs) / 1000);
        }
      },
    });
    new Gauge({
      name: 'ttma_call_minutes',
      help: 'Minutes of calls carried by this gateway since it started, in the current UTC day and month (live calls included). The platform meters the billed minutes.',
      labelNames: ['period'],
      registers,
      collect() {
        const m = self.minutes();
        this.set({ period: 'day' }, m.dayMinutes);
        this.set({ period: 'month' }, m.monthMinutes);
      },
    });
  }

  start(): void {
    this.#mainLoop.enable();
    this.#sampler = setInterval(() => {
      this.#mainLoopP99 = loopDelayExcessMs(this.#mainLoop.percentile(99) / 1e6);
      this.#mainLoopMax = loopDelayExcessMs(this.#mainLoop.max / 1e6);
      this.#mainLoop.reset();
    }, LOOP_SAMPLE_MS);
    this.#sampler.unref();
  }

  stop(): void {
    if (this.#sampler) clearInterval(this.#sampler);
    this.#mainLoop.disable();
  }

  /** The main thread's loop delay over the last sampled second (beyond the sampling interval), ms. */
  get mainLoopDelayMs(): { p99: number; max: number } {
    return { p99: this.#mainLoopP99, max: this.#mainLoopMax };
  }

  /** Minutes carried today and this month (UTC), live calls counted so far. */
  minutes(nowMs = Date.now()): ReturnType<ControlActor['minutes']['at']> {
    let liveMs = 0;
    for (const call of this.#sources.control.snapshot()) liveMs += Math.max(0, nowMs - call.startedAtMs);
    return this.#sources.control.minutes.at(nowMs, liveMs);
  }

  /** A worker's pong arrived (its host already holds the new snapshot): add what grew since the previous one. */
  onWorkerPong(host: WorkerHost): void {
    const next = host.lastStats;
    if (!next) return;
    const prev = this.#seen.get(host);
    this.#seen.set(host, next);
    const worker = String(host.index);
    const grew = (key: keyof FrameTotals) => Math.max(0, next.totals[key] - (prev?.totals[key] ?? 0));
    incBy(this.#frames, { worker, direction: 'in' }, grew('framesIn'));
    incBy(this.#frames, { worker, direction: 'out' }, grew('framesOut'));
    for (const [key, counter] of this.#workerCounters) incBy(counter, { worker }, grew(key));
    incBy(this.#agentAudioDrops, { worker }, Math.max(0, next.agentAudio.drops - (prev?.agentAudio.drops ?? 0)));
    incBy(this.#agentReconnectsStopped, { worker }, Math.max(0, next.agentReconnectsStopped - (prev?.agentReconnectsStopped ?? 0)));
    this.#addedLatency.add(prev?.addedLatency ?? null, next.addedLatency);
    this.#callJitter.add(prev?.callJitter ?? null, next.callJitter);
  }

  /** Prometheus text exposition. */
  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Also with 0: the series exists (reads 0) from the worker's first pong on, rather than appearing on its first event. */
function incBy<T extends string>(counter: Counter<T>, labels: Partial<Record<T, string>>, by: number): void {
  counter.inc(labels, by);
}

/** A counter that follows a plain record of running totals, read at scrape time. */
function mirror(registry: Registry, name: string, help: string, label: string, read: () => Record<string, number>): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [key, value] of Object.entries(read())) {
        const seen = last.get(key);
        const by = value - (seen ?? 0);
        if (by > 0 || seen === undefined) this.inc({ [label]: key }, Math.max(0, by));
        last.set(key, value);
      }
    },
  });
}
