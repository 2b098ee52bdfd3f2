/**
 * The gateway's outbound control connection to the platform
 * (src/wire/controlChannel.ts). The gateway dials out and never listens for
 * control traffic. The agent secret goes in a header at the upgrade, never in
 * the URL. On any loss the connection is retried with capped exponential
 * backoff and jitter, and usage reports wait (bounded) until it is back.
 * A report the platform refused only because its store was unreachable
 * (TTMA_ERR_STORE_UNAVAILABLE) or its rate limit was reached
 * (TTMA_ERR_RATE_LIMITED) stays waiting and is re-sent with capped backoff;
 * any other refusal is final. The reports waiting at a (re)connection go out
 * a few at a time, not all at once past the platform's burst.
 */
import WebSocket from 'ws';
import { ErrorCodes } from '../errors.js';
import type { Logger } from '../log.js';
import { RefusalLog } from '../RefusalLog.js';
import { HEADER_DEPLOYMENT } from '../wire/platformApi.js';
import { identityRefusal, type IdentityRefusal } from './identityRefusal.js';
import {
  CLOSE_REVOKED,
  CONTROL_MAX_PAYLOAD_TO_GATEWAY,
  controlUrl,
  parsePlatformMessage,
  type GatewayControlMessage,
  type PlatformControlMessage,
} from '../wire/controlChannel.js';

export interface ControlChannelOptions {
  platformUrl: string;
  deploymentId: string;
  agentSecret: string;
  log: Logger;
  /** Every notice from the platform except usage acknowledgements. */
  onMessage(message: PlatformControlMessage): void;
  /** First retry delay (default 500 ms); doubles per failure up to maxDelayMs. */
  baseDelayMs?: number;
  /** Longest wait between attempts (default 30 s). */
  maxDelayMs?: number;
  /** [0, 1) source for the jitter; tests may pin it. */
  random?: () => number;
  /** First re-send delay of a report refused for an unreachable store (default 1 s); doubles up to reportRetryMaxMs. */
  reportRetryBaseMs?: number;
  /** Longest wait between re-sends of such a report (default 60 s). */
  reportRetryMaxMs?: number;
  /** Reports waiting at the platform's hello go out this many at a time (default 10)... */
  flushBatch?: number;
  /** ...this far apart (default 1 s: half the platform's default rate, leaving room for live calls' signalling). */
  flushEveryMs?: number;
  /** A connection that held this long after its hello starts the backoff afresh when lost (default 10 s). */
  heldAfterMs?: number;
}

/** Refusals that say "not now": the report is kept and sent again later. */
const RETRYABLE = new Set<string>([ErrorCodes.STORE_UNAVAILABLE, ErrorCodes.RATE_LIMITED]);

/** Usage reports kept while disconnected; beyond this the oldest is dropped (and logged). */
const MAX_PENDING_REPORTS = 1_000;
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A connection lost sooner than this after its hello counts as a failed attempt: the backoff goes
 * on growing. Reset at the hello itself, a platform or middlebox that drops each connection right
 * after it (a proxy that cuts WebSockets, a platform that fails on the first report) was dialled
 * again every 0.25 to 0.5 s for as long as it went on.
 */
const HELD_AFTER_MS = 10_000;
/** Until the platform's hello names its interval. */
const DEFAULT_HEARTBEAT_MS = 15_000;
/**
 * The longest ping interval taken from a hello. The dead timer (2.5 intervals) must fit a Node
 * timer: past 2^31-1 ms Node fires it after 1 ms, and a hello naming such an interval dropped
 * every connection at once. Nor is a connection silent for longer any use for cap notices.
 */
export const MAX_HEARTBEAT_MS = 10 * 60_000;

export type ChannelState = 'connecting' | 'open' | 'waiting' | 'stopped';

export class ControlChannel {
  readonly #options: ControlChannelOptions;
  readonly #url: URL;
  readonly #log: Logger;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #random: () => number;
  /** Reports not yet acknowledged, by call id (a resend after a reconnect is harmless: the first report counts). */
  readonly #pending = new Map<string, number>();
  /** Reports refused for an unreachable store: refusals so far and the timer of the next re-send. */
  readonly #retries = new Map<string, { refusals: number; timer: NodeJS.Timeout | null }>();
  readonly #reportRetryBaseMs: number;
  readonly #reportRetryMaxMs: number;
  readonly #flushBatch: number;
  readonly #flushEveryMs: number;
  /** Reports still to send after a hello, oldest first, and the timer of the next batch. */
  #flushing: string[] = [];
  #flushTimer: NodeJS.Timeout | null = null;
  #ws: WebSocket | null = null;
  #state: ChannelState = 'stopped';
  #failures = 0;
  /** When the current connection's hello arrived (monotonic), until it is lost. */
  #helloAtMs: number | null = null;
  readonly #heldAfterMs: number;
  #retryTimer: NodeJS.Timeout | null = null;
  #deadTimer: NodeJS.Timeout | null = null;
  #heartbeatMs = DEFAULT_HEARTBEAT_MS;
  readonly counters = { connects: 0, refusals: 0, disconnects: 0, reportsSent: 0, reportsAcked: 0, reportsRefused: 0, reportsRetried: 0, reportsDropped: 0 };
  /** The last refusal or failure, for `ttma doctor` and tests (never carries the secret). */
  lastError: string | null = null;
  /** True once the platform's hello arrived on the current connection (it sends it only after checking our identity). */
  authenticated = false;
  /** The last failure was the platform refusing our identity (401/403 at the upgrade, or 4401 revoked). */
  identityRefused = false;
  /** What that refusal means (identityRefusal.ts), null when the last failure was not one. */
  refusal: IdentityRefusal | null = null;
  /** When the platform last accepted our identity (its hello) in this process. */
  #acceptedAt: string | null = null;
  /** The refusal last logged loudly: the same one again is logged at debug (once per change, not per retry). */
  #loggedRefusal: string | null = null;
  /**
   * The deployment the last connection's hello named when it was not ours (a platform URL that
   * reaches another tenant's platform, a proxy mixup), until a hello names ours. Such a connection is
   * dropped before anything it says is acted on: its cap state and call lists are another deployment's.
   */
  deploymentMismatch: string | null = null;
  /** When the current state began (ISO), for `ttma doctor`. */
  since: string | null = null;
  /** The last socket error of a connection attempt (e.g. ECONNREFUSED), kept for the failure's reason. */
  #socketError: string | null = null;
  /**
   * Lines the platform can cause once per frame (a frame we do not understand, a report to send
   * again): the first few of each kind per window, then one count, whatever the platform sends.
   */
  readonly #frameLines: RefusalLog;

  constructor(options: ControlChannelOptions) {
    this.#options = options;
    this.#url = controlUrl(options.platformUrl);
    this.#log = options.log;
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
    this.#random = options.random ?? Math.random;
    this.#reportRetryBaseMs = options.reportRetryBaseMs ?? 1_000;
    this.#reportRetryMaxMs = options.reportRetryMaxMs ?? 60_000;
    this.#flushBatch = Math.max(1, options.flushBatch ?? 10);
    this.#flushEveryMs = options.flushEveryMs ?? 1_000;
    this.#heldAfterMs = options.heldAfterMs ?? HELD_AFTER_MS;
    this.#frameLines = new RefusalLog(options.log);
  }

  get state(): ChannelState {
    return this.#state;
  }

  get pendingReports(): number {
    return this.#pending.size;
  }

  /** Failed attempts since the last connection that held (heldAfterMs past its hello). */
  get failures(): number {
    return this.#held() ? 0 : this.#failures;
  }

  #held(): boolean {
    return this.#helloAtMs !== null && performance.now() - this.#helloAtMs >= this.#heldAfterMs;
  }

  #setState(state: ChannelState): void {
    if (state !== this.#state) this.since = new Date().toISOString();
    this.#state = state;
    if (state !== 'open') this.authenticated = false;
  }

  start(): void {
    if (this.#state !== 'stopped') return;
    this.#connect();
  }

  stop(): void {
    this.#setState('stopped');
    this.#helloAtMs = null;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#deadTimer) clearTimeout(this.#deadTimer);
    this.#retryTimer = null;
    this.#deadTimer = null;
    for (const retry of this.#retries.values()) if (retry.timer) clearTimeout(retry.timer);
    this.#retries.clear();
    this.#stopFlush();
    this.#dropSocket(true);
    this.#frameLines.close();
  }

  /** Forget the socket and silence it; `graceful`: an open one gets a close frame first. */
  #dropSocket(graceful: boolean): void {
    const ws = this.#ws;
    this.#ws = null;
    if (!ws) return;
    ws.removeAllListeners();
    ws.on('error', () => undefined);
    if (graceful && ws.readyState === WebSocket.OPEN) {
      // A close frame goes out after what is queued (the last usage reports); a platform that never answers it is cut off.
      ws.close(1001, 'gateway stopping');
      setTimeout(() => ws.terminate(), 1_000).unref();
    } else ws.terminate();
  }

  /** The call's duration as the gateway measured it; sent now or as soon as the connection is back. */
  reportUsage(callId: string, durationMs: number): void {
    if (this.#pending.size >= MAX_PENDING_REPORTS && !this.#pending.has(callId)) {
      const oldest = this.#pending.keys().next().value as string;
      this.#pending.delete(oldest);
      this.#forgetRetry(oldest);
      this.counters.reportsDropped++;
      this.#log.warn({ callId: oldest }, 'usage report dropped: too many waiting for the control connection');
    }
    const duration = Math.max(0, Math.round(durationMs));
    this.#pending.delete(callId); // re-inserted last: the bound drops the oldest report first
    this.#pending.set(callId, duration);
    if (this.#state === 'open') this.#sendUsage(callId, duration);
  }

  /** Delay before retry n (n >= 1): min(max, base * 2^(n-1)), half fixed, half random ("equal jitter"). */
  retryDelayMs(failures: number): number {
    return equalJitter(this.#baseDelayMs, this.#maxDelayMs, failures, this.#random);
  }

  /** Delay before re-sending a report refused n times (n >= 1) for an unreachable store; same formula, its own bounds. */
  reportRetryDelayMs(refusals: number): number {
    return equalJitter(this.#reportRetryBaseMs, this.#reportRetryMaxMs, refusals, this.#random);
  }

  #connect(): void {
    this.#setState('connecting');
    this.#socketError = null;
    const ws = new WebSocket(this.#url, {
      headers: { authorization: `Bearer ${this.#options.agentSecret}`, [HEADER_DEPLOYMENT]: this.#options.deploymentId },
      maxPayload: CONTROL_MAX_PAYLOAD_TO_GATEWAY,
      perMessageDeflate: false,
      handshakeTimeout: CONNECT_TIMEOUT_MS,
      followRedirects: false,
    });
    this.#ws = ws;
    let opened = false;
    ws.on('unexpected-response', (_req, res) => {
      // The platform refused the upgrade: read its error code, never echo anything of ours.
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= 4096) chunks.push(chunk);
      });
      res.on('end', () => {
        let code = `HTTP_${res.statusCode ?? 0}`;
        try {
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { error?: { code?: unknown } };
          if (typeof parsed.error?.code === 'string') code = parsed.error.code.slice(0, 64);
        } catch {
          // not JSON: keep the status
        }
        this.counters.refusals++;
        const status = res.statusCode ?? 0;
        const refused = status === 401 || status === 403 ? identityRefusal({ code, status, closeReason: null, acceptedAt: this.#acceptedAt }) : null;
        this.#failed(`refused by the platform: ${code} (HTTP ${status})`, refused);
      });
      res.on('error', () => this.#failed(`refused by the platform (HTTP ${res.statusCode ?? 0})`, null));
    });
    ws.on('open', () => {
      opened = true;
      this.#setState('open');
      this.counters.connects++;
      this.#armDeadTimer();
    });
    ws.on('ping', () => this.#armDeadTimer());
    ws.on('message', (data, isBinary) => {
      this.#armDeadTimer();
      if (isBinary) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(String(data));
      } catch {
        this.#frameLines.write('not_json', 'warn', {}, 'control message from the platform is not JSON; ignored');
        return;
      }
      const message = parsePlatformMessage(parsed);
      if (!message) {
        const rawType = (parsed as { type?: unknown } | null)?.type;
        const type = typeof rawType === 'string' ? rawType.slice(0, 40) : null;
        // A newer platform may send a type we do not know, as often as it likes.
        this.#frameLines.write(`not_understood:${type ?? ''}`, 'warn', { type }, 'control message not understood; ignored', { type });
        return;
      }
      try {
        this.#onMessage(message);
      } catch (err) {
        // A bad notice must never take the gateway down.
        this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'control message handling failed');
      }
    });
    ws.on('close', (code, reason) => {
      if (this.#ws !== ws) return;
      if (opened) this.counters.disconnects++;
      const why = reason.toString('utf8').slice(0, 120);
      const refused = code === CLOSE_REVOKED ? identityRefusal({ code: null, status: 0, closeReason: why, acceptedAt: this.#acceptedAt }) : null;
      this.#failed(opened ? `closed (${code}${why ? `: ${why}` : ''})` : `could not connect${this.#socketError ? ` (${this.#socketError})` : ''}`, refused);
    });
    ws.on('error', (err: NodeJS.ErrnoException) => {
      if (this.#ws !== ws) return;
      // 'close' follows; remember why for the log.
      this.lastError = err.code ?? err.message.slice(0, 120);
      this.#socketError = this.lastError;
    });
  }

  #onMessage(message: PlatformControlMessage): void {
    switch (message.type) {
      case 'hello':
        if (message.deployment !== this.#options.deploymentId) {
          this.#refuseOtherDeployment(message.deployment);
          return;
        }
        this.deploymentMismatch = null;
        // The backoff starts afresh only once this connection has held (#failed).
        this.#helloAtMs ??= performance.now();
        this.lastError = null;
        this.authenticated = true;
        this.identityRefused = false;
        this.refusal = null;
        this.#acceptedAt = new Date().toISOString();
        this.#loggedRefusal = null;
        if (Number.isInteger(message.heartbeat_ms) && message.heartbeat_ms >= 10) this.#heartbeatMs = Math.min(message.heartbeat_ms, MAX_HEARTBEAT_MS);
        this.#armDeadTimer();
        this.#log.info({ deployment: message.deployment, capped: message.cap_state.capped }, 'control connection to the platform open');
        // Everything waiting goes now, including reports waiting for a re-send (their timers are moot).
        for (const retry of this.#retries.values()) {
          if (retry.timer) clearTimeout(retry.timer);
          retry.timer = null;
        }
        this.#stopFlush();
        this.#flushing = [...this.#pending.keys()];
        this.#flushStep();
        break;
      case 'usage.ack':
        // A second answer to a report sent twice (once more after a reconnect), or a late one: the first settled it.
        if (!this.#pending.has(message.call_control_id)) return;
        if (!message.ok && RETRYABLE.has(message.code)) {
          this.#retryLater(message.call_control_id, message.code, message.message);
          return;
        }
        this.#pending.delete(message.call_control_id);
        this.#forgetRetry(message.call_control_id);
        if (message.ok) {
          this.counters.reportsAcked++;
          if (message.flags.length > 0) this.#log.warn({ callId: message.call_control_id, flags: message.flags }, 'the platform flagged this call\'s usage');
        } else {
          this.counters.reportsRefused++;
          this.#log.warn({ callId: message.call_control_id, code: message.code }, `usage report refused: ${message.message}`);
        }
        return;
      case 'error':
        // A usage report refused for the rate limit (a platform that names it): kept, sent again later.
        if (message.call_control_id !== undefined && RETRYABLE.has(message.code) && this.#pending.has(message.call_control_id)) {
          this.#retryLater(message.call_control_id, message.code, message.message);
          return;
        }
        // An answer to what we sent, or not: a broken platform may send them unasked, without end.
        this.#frameLines.write(`error:${message.code.slice(0, 64)}`, 'warn', { code: message.code }, `control message refused: ${message.message.slice(0, 300)}`, { code: message.code });
        break;
      default:
        break;
    }
    this.#options.onMessage(message);
  }

  /** The next batch of reports waiting since the hello (those acknowledged meanwhile are skipped). */
  #flushStep(): void {
    this.#flushTimer = null;
    let sent = 0;
    while (sent < this.#flushBatch && this.#flushing.length > 0) {
      const callId = this.#flushing.shift()!;
      const duration = this.#pending.get(callId);
      if (duration === undefined || this.#retries.get(callId)?.timer) continue;
      this.#sendUsage(callId, duration);
      sent++;
    }
    if (this.#flushing.length === 0) return;
    this.#flushTimer = setTimeout(() => {
      if (this.#state === 'open' && this.authenticated) this.#flushStep();
    }, this.#flushEveryMs);
    this.#flushTimer.unref();
  }

  #stopFlush(): void {
    if (this.#flushTimer) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    this.#flushing = [];
  }

  /**
   * The platform could not take the report now (its store was away, or its
   * rate limit reached): keep it and send it again later, so the call is not
   * flagged `unreported` for a platform outage or a burst. Re-sending is
   * harmless: the platform keeps the first report.
   */
  #retryLater(callId: string, code: string, why: string): void {
    const retry = this.#retries.get(callId) ?? { refusals: 0, timer: null };
    this.#retries.set(callId, retry);
    retry.refusals++;
    if (retry.timer) clearTimeout(retry.timer);
    const delay = this.reportRetryDelayMs(retry.refusals);
    this.counters.reportsRetried++;
    // One line per report and refusal: a platform outage with a thousand reports waiting is bounded.
    this.#frameLines.write(`retry:${code}`, 'warn', { callId, code, retryInMs: delay, refusals: retry.refusals }, `usage report not recorded by the platform (${why}): sending it again later`, { code });
    retry.timer = setTimeout(() => {
      retry.timer = null;
      const duration = this.#pending.get(callId);
      // Not open now: the next hello sends every waiting report anyway.
      if (duration !== undefined && this.#state === 'open' && this.authenticated) this.#sendUsage(callId, duration);
    }, delay);
    retry.timer.unref();
  }

  #forgetRetry(callId: string): void {
    const retry = this.#retries.get(callId);
    if (!retry) return;
    if (retry.timer) clearTimeout(retry.timer);
    this.#retries.delete(callId);
  }

  #sendUsage(callId: string, duration: number): void {
    const message: GatewayControlMessage = { type: 'usage', call_control_id: callId, duration_ms: duration };
    this.#ws?.send(JSON.stringify(message));
    this.counters.reportsSent++;
  }

  /** No ping or message for two intervals and a half: the connection is dead, start again. */
  #armDeadTimer(): void {
    if (this.#deadTimer) clearTimeout(this.#deadTimer);
    this.#deadTimer = setTimeout(() => {
      this.#log.warn({ heartbeatMs: this.#heartbeatMs }, 'control connection silent: reconnecting');
      this.#ws?.terminate();
    }, Math.round(this.#heartbeatMs * 2.5));
    this.#deadTimer.unref();
  }

  /**
   * Fail closed on a hello naming another deployment: the connection goes, nothing of it reaches
   * the ControlActor, and it is dialled again with the usual backoff (the URL or proxy may be fixed).
   * One error line per mixup (the ids change or a good hello came between); repeats are the usual warning.
   */
  #refuseOtherDeployment(theirs: string): void {
    const ours = this.#options.deploymentId;
    const named = theirs.replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, 80);
    if (this.deploymentMismatch !== named) {
      this.#log.error({ code: ErrorCodes.CONFIG, deployment: ours, platformDeployment: named }, `the platform's hello names deployment ${named}, not this gateway's ${ours}: connection refused (check --platform-url and any proxy in between)`);
    }
    this.deploymentMismatch = named;
    this.#failed(`refused: the platform's hello names deployment ${named}, not ${ours}`, null);
  }

  #failed(reason: string, refusal: IdentityRefusal | null): void {
    const identityRefused = refusal !== null;
    if (this.#state === 'stopped' || this.#state === 'waiting') return;
    if (this.#deadTimer) clearTimeout(this.#deadTimer);
    this.#deadTimer = null;
    this.#stopFlush();
    this.#dropSocket(false);
    if (this.#held()) this.#failures = 0;
    this.#helloAtMs = null;
    this.#failures++;
    this.lastError = reason;
    this.identityRefused = identityRefused;
    this.refusal = refusal;
    const delay = this.retryDelayMs(this.#failures);
    this.#setState('waiting');
    const fields = { code: identityRefused ? ErrorCodes.AUTH : ErrorCodes.PLATFORM, retryInMs: delay, failures: this.#failures };
    // A refused identity is an operator problem (secret rotated, deployment disabled or gone): said
    // loudly once, then quietly while it stays the same (the retries go on for as long as it lasts).
    if (refusal) {
      const said = `${refusal.kind}: ${refusal.message}`;
      if (said !== this.#loggedRefusal) this.#log.error({ ...fields, refusal: refusal.kind }, `control connection ${reason}: ${refusal.message}`);
      else this.#log.debug({ ...fields, refusal: refusal.kind }, `control connection ${reason} (still)`);
      this.#loggedRefusal = said;
    } else {
      this.#loggedRefusal = null;
      this.#log.warn(fields, `control connection ${reason}`);
    }
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#state === 'waiting') this.#connect();
    }, delay);
    this.#retryTimer.unref();
  }
}

/** min(max, base * 2^(n-1)), half of it fixed and half random ("equal jitter"). */
function equalJitter(baseMs: number, maxMs: number, n: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, n - 1)));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
