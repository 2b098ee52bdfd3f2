/**
 * `ttma sim`: a faithful phone provider (Telnyx model) for tests, the demo and
 * benchmarks. Real HTTP (Call Control REST API), real Ed25519-signed webhooks,
 * a real WebSocket media client per call sending a frame every 20 ms on one
 * shared clock, and the provider's own call detail records.
 *
 * Listens on 127.0.0.1 only, and connects only to loopback (directly or through
 * the simulated tunnel map).
 */
import { randomBytes } from 'node:crypto';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCodes, TtmaError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { CallDetailRecord } from '../wire/telnyx.js';
import { toSummary, type CallReport, type CallSummary } from './CallReport.js';
import { isSimCodec, warmUpSimCodecs, type SimCodec } from './codecs.js';
import { DEFAULTS, PROVIDER_CODES, SAMPLE_RATE } from './constants.js';
import { EchoAnalyzer } from './EchoAnalyzer.js';
import { GatedFrameSource, LiveFrameSource, SignalBank, type FrameSource, type TalkWindow } from './FrameSource.js';
import { MediaClock, type MediaClockStats } from './MediaClock.js';
import { mp3Silence } from './Mp3Silence.js';
import { wavSilence } from './WavSilence.js';
import { ProviderApiError } from './ProviderApiError.js';
import { RecordingUrlSigner, type RecordingUrlCheck } from './RecordingUrls.js';
import { MAX_CALL_SECONDS, parseDtmf, type DialParams, type InboundParams } from './requests.js';
import { createRestApi } from './restApi.js';
import { SimCall, type CallInfo, type DtmfEvent, type SavedRecordingInit, type SimCallContext, type TransferRequest } from './SimCall.js';
import { Tunnels } from './Tunnels.js';
import { publicKeyFromSecretKey, WebhookSigner } from './WebhookSigner.js';
import { WebhookSender, type WebhookStats } from './WebhookSender.js';

export interface ProviderSimulatorOptions {
  apiKey: string;
  /** tweetnacl 64-byte Ed25519 secret key (seed then public key). */
  signingSecretKey: Uint8Array;
  /** Each event is POSTed to each URL in order: the platform's first, then the gateway's. */
  webhookUrls: string[];
  /**
   * By URL (as in webhookUrls): each event reaches that URL this much later than the others,
   * which do not wait for it (a provider whose delivery to one receiver lags: the other hears of
   * a call first). Default: none.
   */
  webhookDelayMs?: Record<string, number>;
  /** Public tunnel hostname -> local origin, e.g. `{ 'gw.example.com': 'ws://127.0.0.1:1234' }`. */
  tunnels: Record<string, string>;
  connectionId?: string;
  host?: '127.0.0.1';
  /** 0 (default) picks a free port. */
  port?: number;
  /** How long an inbound call stays parked waiting for the answer action. */
  answerTimeoutMs?: number;
  /** Outbound: ring time before the callee answers. */
  ringMs?: number;
  /** Outbound: how long the callee talks before hanging up. */
  outboundTalkMs?: number;
  /** Silence after the phone party's last frame before it hangs up (in-flight echoes still count). */
  tailMs?: number;
  /** Seconds of audio kept per call and direction for the echo analysis. */
  recordSeconds?: number;
  /**
   * What a media stream that cannot connect does to its call. `hangup`
   * (default): the call ends after `streaming.failed`. `continue`: the call
   * goes on without media, as a forked stream's failure may leave it, and
   * `streaming_start` may try again. Telnyx documents `streaming.failed` but
   * not which of the two follows, so the gateway is tested against both.
   */
  onStreamFailure?: 'hangup' | 'continue';
  /**
   * The API key's request budget: past it, `/v2/` requests are answered 429
   * (code 10011) with `x-ratelimit-limit`, `-remaining` and `-reset` (seconds),
   * as Telnyx documents. Default: no limit.
   */
  apiRateLimit?: { ratePerSec: number; burst: number };
  /**
   * How long a recording URL stays valid: the one in `call.recording.saved`
   * from the call's end (Telnyx: "valid for 10 minutes after the call has
   * ended"), the ones `GET /v2/recordings` hands out from the request.
   * Rounded up to the second. Default 600 000 (10 minutes).
   */
  recordingUrlTtlMs?: number;
  /**
   * How long after a call ends its detail record appears (`GET /v2/detail_records`):
   * Telnyx files records some time after the call, minutes at times, and the
   * platform must wait for them. Default 0 (at once).
   */
  detailRecordDelayMs?: number;
  /** Add the headers a Cloudflare tunnel edge adds (host, cf-ray, cf-connecting-ip...). Default true. */
  tunnelHeaders?: boolean;
  /** Worker threads signing webhooks (tweetnacl takes ~9 ms a signature). Default 1. */
  signerThreads?: number;
  /** Seed of the per-call test signals (each call gets its own unless given one). */
  seed?: number;
  /**
   * `live` (default): a SpeechLikeSignal synthesised per call. `bank`: a few
   * voices rendered once at start (about a second) and shared at distinct
   * offsets: much cheaper, for benchmarks with hundreds of calls.
   */
  audioSource?: 'live' | 'bank';
  /**
   * `tweetnacl` (default): signer independent of the verifiers, ~9 ms a
   * signature on worker threads. `node`: node's crypto, ~0.1 ms, for load runs
   * where tweetnacl would eat a core.
   */
  signWith?: 'tweetnacl' | 'node';
  maxLiveCalls?: number;
  maxEndedCalls?: number;
  webhookTimeoutMs?: number;
  /** Deliveries of one event to one URL, at most (default 3: a failure is retried twice). */
  webhookAttempts?: number;
  /** Waits between those attempts; the last repeats (default 100, then 300 ms). */
  webhookBackoffMs?: readonly number[];
  logger?: Logger;
}

export interface PlaceInboundCallOptions {
  from: string;
  to: string;
  durationMs: number;
  codec?: SimCodec;
  seed?: number;
  dtmf?: DtmfEvent[];
  /** The caller talks only in these windows (ms from media start); default: all the time. */
  talk?: TalkWindow[];
  /** How long this call rings unanswered; default: the simulator's `answerTimeoutMs`. */
  answerTimeoutMs?: number;
}

interface EndedRecord {
  info: CallInfo;
  summary: CallSummary;
  cdr: CallDetailRecord;
  /** Per-frame round trips, kept so a run's percentiles can be pooled across calls. */
  roundTripSamplesMs: Float32Array;
}

/** A saved recording: its bytes and what the recordings API says about it. */
export interface SimRecording {
  /** 32 hex characters. */
  id: string;
  bytes: Buffer;
  /** The format record_start asked for (the key of the saved event's `recording_urls`). */
  format: 'mp3' | 'wav';
  callControlId: string;
  callLegId: string;
  callSessionId: string;
  connectionId: string;
  /** ISO 8601: when it was saved (the call's end). */
  createdAt: string;
  startedAt: string;
  endedAt: string;
  durationMs: number;
}

/** `GET /v2/recordings` filters; absent ones match everything. */
export interface RecordingFilter {
  callLegId?: string;
  callSessionId?: string;
  connectionId?: string;
}

/** A summary with the call's per-frame round trips, for pooling percentiles across calls. */
export type CallSummaryWithSamples = CallSummary & { roundTripSamplesMs: number[] };

const E164_PATTERN = /^\+[1-9]\d{1,14}$/;
/** Recordings kept in memory (each a few hundred KB at most in tests). */
const MAX_RECORDINGS = 1_000;
/** Telnyx: recording URLs "are valid for 10 minutes after the call has ended". */
const DEFAULT_RECORDING_URL_TTL_MS = 600_000;
/** Signal bank size (audioSource 'bank'): 16 voices x 20 s, ~10 MB with the encoded frames. */
const BANK_VOICES = 16;
const BANK_SECONDS = 20;

export class ProviderSimulator {
  readonly #options: ProviderSimulatorOptions;
  readonly #logger: Logger;
  readonly #tunnels: Tunnels;
  readonly #publicKey: Uint8Array;
  readonly #live = new Map<string, SimCall>();
  readonly #ended = new Map<string, EndedRecord>();
  /** Oldest first (insertion order), at most MAX_RECORDINGS. */
  readonly #recordings = new Map<string, SimRecording>();
  readonly #recordingUrls = new RecordingUrlSigner();
  readonly #recordingUrlTtlMs: number;
  readonly #recordedCalls = new Set<string>();
  /** Recordings deleted through the API (tests check a recording made while recording was off is gone). */
  readonly #deletedRecordings: string[] = [];
  /** Calls whose recordings the API refuses to delete (setRecordingDeletesFailing): a provider outage for one call's media. */
  readonly #undeletable = new Set<string>();
  #clock: MediaClock | null = null;
  #signer: WebhookSigner | null = null;
  #analyzer: EchoAnalyzer | null = null;
  #bank: SignalBank | null = null;
  #webhooks: WebhookSender | null = null;
  #server: http.Server | null = null;
  #port = 0;
  #callCount = 0;
  #state: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopping: Promise<void> | null = null;

  constructor(options: ProviderSimulatorOptions) {
    if (typeof options.apiKey !== 'string' || options.apiKey.trim().length < 8 || /\s/.test(options.apiKey)) {
      throw new TtmaError(ErrorCodes.CONFIG, 'simulator apiKey must be at least 8 characters, without spaces');
    }
    if ((options.host ?? '127.0.0.1') !== '127.0.0.1') {
      throw new TtmaError(ErrorCodes.CONFIG, 'the simulator listens on 127.0.0.1 only');
    }
    const port = options.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new TtmaError(ErrorCodes.CONFIG, `simulator port must be an integer from 0 to 65535, got ${port}`);
    }
    if (!(options.signingSecretKey instanceof Uint8Array)) {
      throw new TtmaError(ErrorCodes.CONFIG, 'signingSecretKey must be a Uint8Array (the 64-byte tweetnacl secret key)');
    }
    try {
      this.#publicKey = publicKeyFromSecretKey(options.signingSecretKey);
    } catch (err) {
      throw new TtmaError(ErrorCodes.CONFIG, (err as Error).message);
    }
    const ttl = options.recordingUrlTtlMs ?? DEFAULT_RECORDING_URL_TTL_MS;
    if (typeof ttl !== 'number' || !Number.isFinite(ttl) || ttl <= 0) {
      throw new TtmaError(ErrorCodes.CONFIG, `recordingUrlTtlMs must be a positive number of milliseconds, got ${String(ttl)}`);
    }
    this.#recordingUrlTtlMs = ttl;
    this.#options = options;
    this.#logger = options.logger ?? createLogger('sim');
    this.#tunnels = new Tunnels(options.tunnels);
    // Resolve now so a bad URL fails at construction, not at the first call.
    for (const url of options.webhookUrls) this.#tunnels.resolveWebhookUrl(url);
  }

  /** Base64 of the raw 32-byte Ed25519 public key (what the gateway and platform configure). */
  get publicKeyBase64(): string {
    return Buffer.from(this.#publicKey).toString('base64');
  }

  get port(): number {
    return this.#port;
  }

  /** `http://127.0.0.1:<port>`: where the REST API answers. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get clockStats(): MediaClockStats | null {
    return this.#clock?.stats ?? null;
  }

  get webhookStats(): WebhookStats | null {
    return this.#webhooks?.stats ?? null;
  }

  async start(): Promise<{ port: number }> {
    if (this.#state !== 'new') throw new TtmaError(ErrorCodes.CONFIG, `the simulator can start once; it is ${this.#state}`);
    this.#state = 'starting';
    const o = this.#options;
    this.#clock = new MediaClock({
      slotsPerFrame: DEFAULTS.clockSlotsPerFrame,
      onSubscriberError: (err) => this.#logger.error({ err }, 'call tick failed'),
    });
    this.#signer = new WebhookSigner(o.signingSecretKey, { threads: o.signerThreads ?? 1, mode: o.signWith ?? 'tweetnacl' });
    if (o.audioSource === 'bank') {
      this.#bank = new SignalBank(BANK_VOICES, BANK_SECONDS, o.seed ?? 1, DEFAULTS.echoMaxLagSamples / (SAMPLE_RATE / 1000) + 500);
    }
    warmUpSimCodecs();
    this.#analyzer = new EchoAnalyzer(this.#logger);
    const sender: { timeoutMs?: number; attempts?: number; backoffMs?: readonly number[] } = {};
    if (o.webhookTimeoutMs !== undefined) sender.timeoutMs = o.webhookTimeoutMs;
    if (o.webhookAttempts !== undefined) sender.attempts = o.webhookAttempts;
    if (o.webhookBackoffMs !== undefined) sender.backoffMs = o.webhookBackoffMs;
    this.#webhooks = new WebhookSender({
      destinations: o.webhookUrls.map((url) => ({ url, resolved: this.#tunnels.resolveWebhookUrl(url), delayMs: o.webhookDelayMs?.[url] ?? 0 })),
      signer: this.#signer,
      logger: this.#logger,
      tunnelHeaders: o.tunnelHeaders ?? true,
      ...sender,
    });
    const server = createRestApi({
      apiKey: o.apiKey,
      bodyLimitBytes: DEFAULTS.bodyLimitBytes,
      logger: this.#logger,
      sim: this,
      ...(o.apiRateLimit ? { apiRateLimit: o.apiRateLimit } : {}),
    });
    this.#server = server;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: o.port ?? 0 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      await this.#teardown();
      this.#state = 'stopped';
      const code = (err as NodeJS.ErrnoException).code;
      throw new TtmaError(
        ErrorCodes.CONFIG,
        `simulator cannot listen on 127.0.0.1:${o.port ?? 0} (${code ?? (err as Error).message}); pick another --port`,
        500,
        { cause: err },
      );
    }
    this.#port = (server.address() as AddressInfo).port;
    this.#state = 'running';
    this.#logger.info({ port: this.#port, webhookUrls: o.webhookUrls.length, tunnels: this.#tunnels.hosts }, 'simulator listening');
    return { port: this.#port };
  }

  /** Ends every call (their hangup webhooks are still sent), closes sockets and the server. Idempotent. */
  stop(): Promise<void> {
    if (this.#stopping) return this.#stopping;
    this.#stopping = (async () => {
      const wasRunning = this.#state === 'running';
      this.#state = 'stopping';
      this.#server?.close();
      const live = [...this.#live.values()];
      for (const call of live) call.shutdown();
      if (wasRunning && live.length > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all(live.map((c) => c.done)),
          new Promise<void>((resolve) => (timer = setTimeout(resolve, DEFAULTS.stopGraceMs))),
        ]);
        clearTimeout(timer);
      }
      await this.#teardown();
      this.#state = 'stopped';
      this.#logger.info('simulator stopped');
    })();
    return this.#stopping;
  }

  /** Places a call from the phone network to the platform/gateway (`call.initiated`, direction incoming). */
  placeInboundCall(options: PlaceInboundCallOptions): SimCall {
    if (typeof options.durationMs !== 'number' || !(options.durationMs > 0) || options.durationMs > MAX_CALL_SECONDS * 1000) {
      throw new ProviderApiError(422, PROVIDER_CODES.BAD_REQUEST, 'Invalid parameter', `durationMs: must be above 0 and at most ${MAX_CALL_SECONDS * 1000}`);
    }
    const params: InboundParams = {
      from: checkE164('from', options.from),
      to: checkE164('to', options.to),
      durationMs: options.durationMs,
      codec: options.codec ?? 'PCMU',
      seed: options.seed,
      dtmf: parseDtmf(options.dtmf, options.durationMs),
    };
    if (!isSimCodec(params.codec)) {
      throw new ProviderApiError(422, PROVIDER_CODES.BAD_REQUEST, 'Invalid parameter', 'codec: must be PCMU, PCMA, G722, L16 or OPUS');
    }
    const call = this.#createCall({
      direction: 'incoming',
      from: params.from,
      to: params.to,
      connectionId: this.#connectionId(),
      codec: params.codec,
      audio: options.talk ? new GatedFrameSource(this.#audio(params.seed), options.talk) : this.#audio(params.seed),
      talkMs: params.durationMs,
      dtmf: params.dtmf,
      clientState: null,
      answerTimeoutMs: options.answerTimeoutMs ?? this.#options.answerTimeoutMs ?? DEFAULTS.answerTimeoutMs,
    });
    return call;
  }

  /** Outbound calls' callees talk only in these windows (tests of agent-placed calls). */
  outboundTalk: TalkWindow[] | null = null;

  /** `POST /v2/calls`: the callee answers after the ring time and talks for `outboundTalkMs`. */
  dial(params: DialParams): SimCall {
    const configured = this.#options.connectionId;
    if (configured !== undefined && params.connectionId !== configured) {
      throw new ProviderApiError(422, PROVIDER_CODES.BAD_REQUEST, 'Invalid parameter', 'connection_id: unknown connection');
    }
    const init: ConstructorParameters<typeof SimCall>[1] = {
      direction: 'outgoing',
      from: params.from,
      to: params.to,
      connectionId: params.connectionId,
      codec: params.stream?.codec ?? 'PCMU',
      audio: this.outboundTalk ? new GatedFrameSource(this.#audio(undefined), this.outboundTalk) : this.#audio(undefined),
      talkMs: this.#options.outboundTalkMs ?? DEFAULTS.outboundTalkMs,
      dtmf: [],
      clientState: params.clientState,
      ringMs: this.#options.ringMs ?? DEFAULTS.ringMs,
    };
    if (params.noAnswerTimeoutMs !== undefined) init.noAnswerTimeoutMs = params.noAnswerTimeoutMs;
    if (params.timeLimitMs !== undefined) init.timeLimitMs = params.timeLimitMs;
    if (params.stream !== undefined) init.stream = params.stream;
    return this.#createCall(init);
  }

  /**
   * A transfer's new leg: an outgoing call of its own on the call transferred's connection and
   * session, whose callee rings and talks as a dialled callee does, with `target_leg_client_state`
   * as its client_state (developers.telnyx.com/api-reference/call-commands/transfer-call: "add state
   * to every subsequent webhook for the new leg"). No media stream: the transfer asks for none.
   */
  #placeTransferLeg(from: SimCall, request: TransferRequest): SimCall {
    const init: ConstructorParameters<typeof SimCall>[1] = {
      direction: 'outgoing',
      // Telnyx: `from` "will default to the to number of the original call if omitted".
      from: request.from ?? from.to,
      to: request.to,
      connectionId: from.connectionId,
      codec: 'PCMU',
      audio: this.#audio(undefined),
      talkMs: this.#options.outboundTalkMs ?? DEFAULTS.outboundTalkMs,
      dtmf: [],
      clientState: request.targetLegClientState,
      ringMs: this.#options.ringMs ?? DEFAULTS.ringMs,
      noAnswerTimeoutMs: request.noAnswerTimeoutMs,
      transferOf: from,
    };
    if (request.timeLimitMs !== undefined) init.timeLimitMs = request.timeLimitMs;
    return this.#createCall(init);
  }

  /** A tunnel's connector goes away or comes back (Tunnels.setDown): new media connections to it fail meanwhile. */
  setTunnelDown(host: string, down: boolean): void {
    this.#tunnels.setDown(host, down);
  }

  liveCall(id: string): SimCall | undefined {
    return this.#live.get(id);
  }

  /** The connection's calls not ended (ringing or answered), oldest first: Telnyx's active calls list. */
  activeCalls(connectionId: string): SimCall[] {
    // A call hung up stays in #live until its report is analysed: not active for the provider.
    return [...this.#live.values()].filter((call) => call.connectionId === connectionId && call.isAlive);
  }

  hasEnded(id: string): boolean {
    return this.#ended.has(id);
  }

  callInfo(id: string): CallInfo | undefined {
    return this.#live.get(id)?.info() ?? this.#ended.get(id)?.info;
  }

  callSummary(id: string): CallSummary | undefined {
    return this.#live.get(id)?.summary() ?? this.#ended.get(id)?.summary;
  }

  callSummaries(): CallSummary[] {
    return [...[...this.#ended.values()].map((r) => r.summary), ...[...this.#live.values()].map((c) => c.summary())];
  }

  /** Ended calls' summaries with their per-frame round trips (live calls have none yet). */
  callSummariesWithSamples(): CallSummaryWithSamples[] {
    return [
      ...[...this.#ended.values()].map((r) => ({ ...r.summary, roundTripSamplesMs: Array.from(r.roundTripSamplesMs, (v) => Math.round(v * 1000) / 1000) })),
      ...[...this.#live.values()].map((c) => ({ ...c.summary(), roundTripSamplesMs: [] })),
    ];
  }

  /** The ended calls whose record is filed by `nowMs` (detailRecordDelayMs after their end); src/sim/detailRecords.ts serves them. */
  filedCallRecords(nowMs: number = Date.now()): CallDetailRecord[] {
    const delayMs = this.#options.detailRecordDelayMs ?? 0;
    return [...this.#ended.values()]
      .map((r) => r.cdr)
      .filter((cdr) => cdr.ended_at !== null && Date.parse(cdr.ended_at) + delayMs <= nowMs);
  }

  #createCall(init: ConstructorParameters<typeof SimCall>[1]): SimCall {
    const analyzer = this.#analyzer;
    if (this.#state !== 'running' || !this.#clock || !this.#webhooks || !analyzer) {
      throw new TtmaError(ErrorCodes.CONFIG, `the simulator is ${this.#state}: start() it before placing calls`);
    }
    const maxLive = this.#options.maxLiveCalls ?? DEFAULTS.maxLiveCalls;
    if (this.#live.size >= maxLive) {
      throw new ProviderApiError(429, PROVIDER_CODES.TOO_MANY_REQUESTS, 'Too many requests', `the simulator carries at most ${maxLive} live calls`);
    }
    const ctx: SimCallContext = {
      clock: this.#clock,
      webhooks: this.#webhooks,
      tunnels: this.#tunnels,
      logger: this.#logger,
      tunnelHeaders: this.#options.tunnelHeaders ?? true,
      onStreamFailure: this.#options.onStreamFailure ?? 'hangup',
      tailMs: this.#options.tailMs ?? DEFAULTS.tailMs,
      recordSamples: Math.round((this.#options.recordSeconds ?? DEFAULTS.recordSeconds) * SAMPLE_RATE),
      lateSendThresholdMs: DEFAULTS.lateSendThresholdMs,
      maxPendingMarks: DEFAULTS.maxPendingMarks,
      echoMaxLagSamples: DEFAULTS.echoMaxLagSamples,
      handshakeTimeoutMs: DEFAULTS.handshakeTimeoutMs,
      correlate: (sent, returned, maxLag) => analyzer.analyse(sent, returned, maxLag),
      onEnded: (call, report) => this.#onEnded(call, report),
      placeTransferLeg: (from, request) => this.#placeTransferLeg(from, request),
      saveRecording: (call, recording) => this.#saveRecording(call, recording),
    };
    const call = new SimCall(ctx, init);
    this.#live.set(call.id, call);
    call.begin();
    return call;
  }

  #onEnded(call: SimCall, report: CallReport): void {
    this.#live.delete(call.id);
    this.#ended.set(call.id, {
      info: call.info(),
      summary: toSummary(report),
      cdr: report.cdr,
      roundTripSamplesMs: Float32Array.from(report.roundTripSamplesMs),
    });
    const max = this.#options.maxEndedCalls ?? DEFAULTS.maxEndedCalls;
    while (this.#ended.size > max) {
      const oldest = this.#ended.keys().next().value;
      if (oldest === undefined) break;
      this.#ended.delete(oldest);
    }
  }

  /** A finished recording's bytes by id (served at its signed URL, see recordingUrl). */
  recording(id: string): Buffer | undefined {
    return this.#recordings.get(id)?.bytes;
  }

  /** A finished recording with its call's ids and times, by id. */
  recordingInfo(id: string): SimRecording | undefined {
    return this.#recordings.get(id);
  }

  /** Deletes a recording for good (`DELETE /v2/recordings/{id}`); false when there was none. */
  deleteRecording(id: string): boolean {
    const deleted = this.#recordings.delete(id);
    if (deleted) this.#deletedRecordings.push(id);
    if (this.#deletedRecordings.length > MAX_RECORDINGS) this.#deletedRecordings.shift();
    return deleted;
  }

  /** Whether `DELETE /v2/recordings/{id}` fails (503) for this call's recordings: a provider that cannot delete, for tests. */
  setRecordingDeletesFailing(callControlId: string, failing: boolean): void {
    if (failing) this.#undeletable.add(callControlId);
    else this.#undeletable.delete(callControlId);
  }

  /** True when deleting this recording is to fail (setRecordingDeletesFailing). */
  recordingDeleteFails(recording: SimRecording): boolean {
    return this.#undeletable.has(recording.callControlId);
  }

  /** Ids of the recordings deleted through the API, oldest first. */
  deletedRecordingIds(): string[] {
    return [...this.#deletedRecordings];
  }

  /** The recordings kept (at most 1 000, the oldest forgotten first) that match the filter, newest first. */
  recordings(filter: RecordingFilter = {}): SimRecording[] {
    const out: SimRecording[] = [];
    for (const r of this.#recordings.values()) {
      if (filter.callLegId !== undefined && r.callLegId !== filter.callLegId) continue;
      if (filter.callSessionId !== undefined && r.callSessionId !== filter.callSessionId) continue;
      if (filter.connectionId !== undefined && r.connectionId !== filter.connectionId) continue;
      out.push(r);
    }
    return out.reverse();
  }

  /**
   * A signed download URL for a recording id, valid `ttlMs` from now (default
   * the recordingUrlTtlMs option), rounded up to the second:
   * `<baseUrl>/sim/recordings/<id>.<mp3|wav>?expires=<unix s>&signature=<hex>`, the extension
   * the recording's format (mp3 for an id not kept). Any id is signed; whether it exists is
   * checked when the URL is fetched.
   */
  recordingUrl(id: string, ttlMs: number = this.#recordingUrlTtlMs): string {
    const format = this.#recordings.get(id)?.format ?? 'mp3';
    return `${this.baseUrl}/sim/recordings/${id}.${format}?${this.#recordingUrls.query(id, Date.now() + ttlMs)}`;
  }

  /** Checks a recording URL's `expires` and `signature` query values for this id. */
  checkRecordingUrl(id: string, expires: string | null, signature: string | null): RecordingUrlCheck {
    return this.#recordingUrls.check(id, expires, signature);
  }

  /** Ids of calls record_start was sent for (tests check it is never sent when recording is off). */
  recordedCallIds(): string[] {
    const live = [...this.#live.values()].filter((c) => c.recordedEver).map((c) => c.id);
    return [...new Set([...this.#recordedCalls, ...live])];
  }

  #saveRecording(call: SimCall, recording: SavedRecordingInit): { id: string; url: string } {
    const id = randomBytes(16).toString('hex');
    this.#recordings.set(id, {
      id,
      bytes: recording.format === 'wav' ? wavSilence(recording.durationMs) : mp3Silence(recording.durationMs),
      format: recording.format,
      callControlId: call.id,
      callLegId: call.legId,
      callSessionId: call.sessionId,
      connectionId: call.connectionId,
      createdAt: new Date().toISOString(),
      startedAt: recording.startedAt.toISOString(),
      endedAt: recording.endedAt.toISOString(),
      durationMs: Math.max(0, Math.round(recording.durationMs)),
    });
    this.#recordedCalls.add(call.id);
    while (this.#recordings.size > MAX_RECORDINGS) {
      const oldest = this.#recordings.keys().next().value;
      if (oldest === undefined) break;
      this.#recordings.delete(oldest);
    }
    return { id, url: this.recordingUrl(id) };
  }

  #connectionId(): string {
    return this.#options.connectionId ?? DEFAULTS.connectionId;
  }

  /** An explicit seed always gets its own live signal; otherwise per the audioSource option. */
  #audio(seed: number | undefined): FrameSource {
    const index = this.#callCount++;
    if (seed !== undefined) return new LiveFrameSource(seed);
    if (this.#bank) return this.#bank.source(index);
    return new LiveFrameSource(((this.#options.seed ?? 1) + index * 7919) >>> 0);
  }

  async #teardown(): Promise<void> {
    const server = this.#server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.#webhooks?.close();
    this.#clock?.close();
    await this.#signer?.close();
    await this.#analyzer?.close();
  }
}

function checkE164(field: string, value: unknown): string {
  if (typeof value !== 'string' || !E164_PATTERN.test(value)) {
    throw new ProviderApiError(422, PROVIDER_CODES.NOT_E164, 'Invalid parameter', `${field}: must be a phone number in +E.164 format`);
  }
  return value;
}
