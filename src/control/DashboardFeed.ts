/**
 * What the local dashboard shows, as one JSON state rebuilt once a second:
 * live calls (the ControlActor's view joined with the workers' latest
 * per-call figures), per-worker load, recent refusals and errors (from the
 * growth of the same counters /metrics serves), and minutes carried.
 * The front pushes each state to the open dashboards (Server-Sent Events).
 */
import { EventEmitter } from 'node:events';
import type { CallLiveStats } from '../actors/messages.js';
import { loopDelayExcessMs } from '../actors/WorkerStats.js';
import { ErrorCodes } from '../errors.js';
import type { DeploymentUsage } from '../wire/platformApi.js';
import type { GatewayMetrics, GatewaySources } from './GatewayMetrics.js';

const TICK_MS = 1_000;
/** The platform is asked for the deployment's minutes against its caps this often, only while a dashboard is open. */
const CAPS_REFRESH_MS = 30_000;
const RECENT_EVENTS = 50;
/** End causes that are a fault rather than an ordinary end of a call. */
const FAULT_CAUSES = new Set(['streaming_failed', 'media_closed', 'media_abuse', 'media_refused', 'answer_failed', 'no_media', 'worker_failed']);

export interface DashboardCall {
  callId: string;
  direction: string;
  state: string;
  worker: number;
  from: string;
  to: string;
  durationS: number;
  codec: string | null;
  agent: string | null;
  jitterMs: number | null;
  /** Caller frames lost (not arrived in time) per frame expected, percent. */
  lossPct: number | null;
  latencyMs: number | null;
}

export interface DashboardState {
  at: string;
  calls: DashboardCall[];
  workers: Array<{ index: number; up: boolean; calls: number; loopDelayP99Ms: number; heapMb: number }>;
  mainLoopDelayP99Ms: number;
  recent: Array<{ at: string; what: string; detail: string; count: number }>;
  minutes: { day: string; dayMinutes: number; month: string; monthMinutes: number };
  /**
   * The minute caps: the platform holds and enforces them (FAQ-14); the gateway asks for its
   * deployment's figures while a dashboard is open. `known` false: not fetched yet or the
   * platform did not answer (`note` says which).
   */
  caps: {
    known: boolean;
    note: string;
    dayCap: number | null;
    dayUsed: number | null;
    monthCap: number | null;
    monthUsed: number | null;
    asOf: string | null;
    minuteCapRefusals: number;
    concurrentCallRefusals: number;
    maxCalls: number;
  };
}

export interface DashboardFeedEvents {
  state: [json: string];
}

/** Each watched record: what it means on the dashboard, and which of its keys are not trouble. */
interface Watched {
  what: string;
  read: () => Record<string, number>;
  ignore?: (key: string) => boolean;
}

export class DashboardFeed extends EventEmitter<DashboardFeedEvents> {
  readonly #sources: GatewaySources;
  readonly #metrics: GatewayMetrics;
  readonly #maxCalls: number;
  readonly #watched: Watched[];
  readonly #last = new Map<Watched, Map<string, number>>();
  readonly #recent: DashboardState['recent'] = [];
  #timer: NodeJS.Timeout | null = null;
  #usage: { value: DeploymentUsage; atMs: number } | null = null;
  #usageError: string | null = null;
  #usageAskedAtMs = Number.NEGATIVE_INFINITY;

  constructor(sources: GatewaySources, metrics: GatewayMetrics, maxCalls: number) {
    super();
    this.#sources = sources;
    this.#metrics = metrics;
    this.#maxCalls = maxCalls;
    const { control, webhooks, signalling, supervisor } = sources;
    this.#watched = [
      { what: 'webhook refused', read: () => webhooks.counters, ignore: (k) => k === 'accepted' || k === 'duplicate' },
      { what: 'webhook body refused', read: () => sources.front.counters.webhookBodyRefused },
      { what: 'media upgrade refused', read: () => sources.front.counters.mediaRefused },
      { what: 'media socket closed for abuse', read: () => sources.front.counters.mediaClosedForAbuse },
      { what: 'diagnostics request from outside this machine refused', read: () => sources.front.counters.localRefused },
      { what: 'call refused: concurrent-call cap', read: () => control.capRefused },
      { what: 'platform refused a request', read: () => signalling.refusals },
      { what: 'call ended by a fault', read: () => control.ended, ignore: (k) => !FAULT_CAUSES.has(k) },
      { what: 'media worker restarted', read: () => ({ restart: supervisor.restarts }) },
      { what: 'media stream lost mid-call', read: () => ({ restarted: control.counters.streamRestartsLanded, refused: control.counters.streamRestartsFailed }) },
    ];
  }

  /** Counting starts now: what was refused before is not "recent". */
  start(): void {
    for (const w of this.#watched) this.#last.set(w, new Map(Object.entries(w.read())));
    this.#timer = setInterval(() => this.tick(), TICK_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Note what grew since the last tick, then publish the state to listeners. */
  tick(nowMs = Date.now()): void {
    const at = new Date(nowMs).toISOString();
    for (const w of this.#watched) {
      let last = this.#last.get(w);
      if (!last) this.#last.set(w, (last = new Map()));
      for (const [key, value] of Object.entries(w.read())) {
        const grew = value - (last.get(key) ?? 0);
        last.set(key, value);
        if (grew > 0 && !w.ignore?.(key)) this.#recent.unshift({ at, what: w.what, detail: key, count: grew });
      }
    }
    this.#recent.splice(RECENT_EVENTS);
    // Per-call figures cross from the workers, and caps are asked of the platform, only while someone watches.
    const watched = this.listenerCount('state') > 0;
    this.#sources.supervisor.wantCallStats = watched;
    if (watched && nowMs - this.#usageAskedAtMs >= CAPS_REFRESH_MS) this.#refreshUsage(nowMs);
    if (this.listenerCount('state') > 0) this.emit('state', JSON.stringify(this.state(nowMs)));
  }

  #refreshUsage(nowMs: number): void {
    this.#usageAskedAtMs = nowMs;
    this.#sources.signalling.usage().then(
      (value) => {
        this.#usage = { value, atMs: Date.now() };
        this.#usageError = null;
      },
      (err: Error) => {
        // The message names the code (e.g. TTMA_ERR_PLATFORM: unreachable); never a credential (not in our messages).
        this.#usageError = err.message.slice(0, 200);
      },
    );
  }

  #caps(): Pick<DashboardState['caps'], 'known' | 'note' | 'dayCap' | 'dayUsed' | 'monthCap' | 'monthUsed' | 'asOf'> {
    const u = this.#usage;
    if (!u) {
      const note = this.#usageError
        ? `The platform holds and enforces the minute caps; it did not tell us this deployment's figures: ${this.#usageError}`
        : "The platform holds and enforces the minute caps; this deployment's figures are asked for while a dashboard is open.";
      return { known: false, note, dayCap: null, dayUsed: null, monthCap: null, monthUsed: null, asOf: null };
    }
    const stale = this.#usageError ? ` (last refresh failed: ${this.#usageError})` : '';
    return {
      known: true,
      note: `Billed minutes (every started minute counts) as the platform meters them${stale}.`,
      dayCap: u.value.caps.day_minutes,
      dayUsed: u.value.used.day_minutes,
      monthCap: u.value.caps.month_minutes,
      monthUsed: u.value.used.month_minutes,
      asOf: new Date(u.atMs).toISOString(),
    };
  }

  state(nowMs = Date.now()): DashboardState {
    const { control, supervisor, signalling } = this.#sources;
    const live = new Map<string, CallLiveStats>();
    for (const host of supervisor.hosts()) for (const c of host.lastStats?.calls ?? []) live.set(c.callId, c);
    const calls = control.snapshot().map((c): DashboardCall => {
      const s = live.get(c.callId);
      const expected = s ? s.framesIn + s.lost : 0;
      return {
        callId: c.callId,
        direction: c.direction,
        state: c.state,
        worker: c.worker,
        from: c.from,
        to: c.to,
        durationS: Math.round((nowMs - c.startedAtMs) / 1000),
        codec: s?.codec ?? null,
        agent: s?.agent ?? null,
        jitterMs: s?.jitterMs ?? null,
        lossPct: s && expected > 0 ? Math.round((10_000 * s.lost) / expected) / 100 : null,
        latencyMs: s?.latencyMs ?? null,
      };
    });
    const minutes = this.#metrics.minutes(nowMs);
    return {
      at: new Date(nowMs).toISOString(),
      calls,
      workers: supervisor.hosts().map((h) => ({
        index: h.index,
        up: !h.exited,
        calls: h.exited ? 0 : h.calls,
        loopDelayP99Ms: round2(loopDelayExcessMs(h.lastLoopDelayP99Ms)),
        heapMb: Math.round(h.lastHeapUsedBytes / 1048576),
      })),
      mainLoopDelayP99Ms: round2(this.#metrics.mainLoopDelayMs.p99),
      recent: this.#recent.slice(),
      minutes: { ...minutes, dayMinutes: round2(minutes.dayMinutes), monthMinutes: round2(minutes.monthMinutes) },
      caps: {
        ...this.#caps(),
        minuteCapRefusals: signalling.refusals[ErrorCodes.CAP_REACHED] ?? 0,
        concurrentCallRefusals: control.capRefused.concurrent_calls ?? 0,
        maxCalls: this.#maxCalls,
      },
    };
  }
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
