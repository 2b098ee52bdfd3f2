/**
 * The main thread's ControlActor: the call state machine driven by verified
 * webhooks, media token minting, admission, worker placement, and the
 * signalling requests that answer or end calls through the platform.
 * It does no DSP: media bytes are routed to the call's worker untouched.
 */
import type { MediaRefusalReason } from '../front/mediaRefusals.js';
import type { EndCause } from './endCauses.js';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AgentActionResult } from '../agent/AgentAdapter.js';
import type { GatewayConfig } from '../config.js';
import { MediaTokenStore, type TokenVerdict } from '../control/MediaTokenStore.js';
import type { RecordingDownload, SignallingClient } from '../control/SignallingClient.js';
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { WebhookEnvelope } from '../wire/telnyx.js';
import type { LiveCallView, RecordingSetting, RecordingSettingResult, RecordingsDeleted } from '../wire/platformApi.js';
import type { CapState, PlatformControlMessage } from '../wire/controlChannel.js';
import { AddedLatencyMeter, type AddedLatency } from './AddedLatencyMeter.js';
import { AgentRequestBudget, AgentRequestRefused } from './AgentRequestBudget.js';
import { ANSWER_RETRY_WINDOW_MS, answerRetrying } from './answerRetrying.js';
import { DialsInFlight } from './DialsInFlight.js';
import { HANGUP_RETRY_MS, hangUpRetrying } from './hangUpRetrying.js';
import { DIAL_RING_MAX_MS, NO_MEDIA_MS, NoMediaDeadline } from './NoMediaDeadline.js';
import { UNPLACED, noteStartFrame, openLiveCall, type LiveCall, type MediaSocket } from './LiveCall.js';
import { StreamRestarts } from './StreamRestarts.js';
import { occurredAtMsOf, streamIdOf } from './StreamIds.js';
import { CallPlacement } from './CallPlacement.js';
import { CallTakeover } from './CallTakeover.js';
import { agentResultDetail } from './agentResultDetail.js';
import { assertNever, type AgentAction, type CallSummary, type FromWorker } from './messages.js';
import type { Supervisor } from './Supervisor.js';
import { epochNowMs, type WorkerHost } from './WorkerHost.js';
import { CapGate } from '../control/CapGate.js';
import { MinutesTally } from '../control/MinutesTally.js';
import { RecentCalls, type GatewayCallRecord } from '../control/RecentCalls.js';
import { payloadText } from '../wire/payloadText.js';

export type { MediaSocket } from './LiveCall.js';

export type { EndCause } from './endCauses.js';

/** Where the ControlActor sends each call's usage at hang-up (the control connection). */
export type UsageSink = (callId: string, durationMs: number) => void;

/** Ended call ids remembered so late or duplicated events never revive a call. */
const TOMBSTONES = 10_000;
const TOKEN_SWEEP_MS = 5_000;
/** Events about an outbound call that can beat its dial's answer here (call.hangup is kept as a tombstone instead). */
const HELD_WHILE_DIALLING = new Set(['call.answered', 'streaming.started', 'streaming.failed']);
const MAX_SUMMARIES = 1_000;
/** Lost media workers a call outlives; the next one ends it. */
/** Why a call is refused when every media worker is above its measured-load limit (maxWorkerLoad). */
const BUSY = 'gateway busy: every media worker is above its load limit';

/** Same clock on every thread: epoch milliseconds with sub-ms resolution. */
export type { AddedLatency } from './AddedLatencyMeter.js';
export type { GatewayCallRecord } from '../control/RecentCalls.js';

export type MediaAuthorization = { ok: true; slot: number } | { ok: false; reason: MediaRefusalReason };

export class ControlActor {
  readonly #config: GatewayConfig;
  readonly #signalling: SignallingClient;
  readonly #supervisor: Supervisor;
  readonly #log: Logger;
  readonly #tokens: MediaTokenStore;
  readonly #byId = new Map<string, LiveCall>();
  readonly #byMediaId = new Map<string, LiveCall>();
  readonly #dials = new DialsInFlight();
  readonly #restarts: StreamRestarts<EndCause>;
  readonly #bySlot = new Map<number, LiveCall>();
  readonly #tombstones = new Set<string>();
  readonly #summaries: CallSummary[] = [];
  readonly #numbers: Set<string>;
  readonly #sweep: NodeJS.Timeout;
  readonly #usage: UsageSink | null;
  /** Ended and refused calls (live ones are in #byId). */
  readonly #recent = new RecentCalls();
  /** The platform's cap notices: new calls are refused while it says a cap is reached. */
  readonly #caps: CapGate;
  #nextSlot = 1;
  #closing = false;
  /** shutdown() began: it hung up the calls it knew; a dial answered after that is hung up by the dial itself. */
  #shuttingDown = false;
  /** performance.now() after which no hang-up is tried again: the end of the shutdown's grace (Infinity until then). */
  #retryDeadline = Number.POSITIVE_INFINITY;
  /** An earlier process's calls: listed at the platform's first hello, and again when a stream fails for a call this process does not know. */
  readonly #takeover: CallTakeover;
  /** Which worker carries each call, and moving calls off a lost one. */
  readonly #placement: CallPlacement<EndCause>;
  /** Calls that never got a media socket end after a deadline, in case their call.hangup was lost. */
  readonly #noMedia: NoMediaDeadline;
  readonly counters = {
    callsStarted: 0,
    callsEnded: 0,
    callsRefused: 0,
    callsRefusedForCap: 0,
    callsEndedForCap: 0,
    workerCallsLost: 0,
    /** Calls of a lost media worker that carried on with a new actor (and, with worker-owned sockets, a new stream). */
    workerCallsMoved: 0,
    mediaRefused: 0,
    /** New streams asked for (lost sockets and retries); of those, streams that landed and requests refused. */
    streamRestarts: 0,
    streamRestartsLanded: 0,
    streamRestartsFailed: 0,
    /** Live calls taken over from an earlier gateway process (at the platform's first hello), and those refused for lack of room. */
    callsAdopted: 0,
    callsAdoptionRefused: 0,
    /** Inbound calls that rang while no gateway was up, found ringing in the same list and answered. */
    callsRingingAnswered: 0,
    /** Hang-ups through the platform tried again after a failure that may pass; and those that never went through. */
    hangupRetries: 0,
    hangupsFailed: 0,
    /** Answers sent again after the platform's rate limit refused them (answerRetrying.ts). */
    answerRetries: 0,
  };
  readonly #latency = new AddedLatencyMeter();
  /** Agents' transfer, dial and DTMF requests: bounded per call and per gateway (its `refused` feeds metrics). */
  readonly agentRequests = new AgentRequestBudget();
  /** By label, for metrics: calls started by direction, ended by cause, refused by the concurrent-call cap. */
  readonly started: Record<string, number> = {};
  readonly ended: Record<string, number> = {};
  readonly capRefused: Record<string, number> = {};
  /** New streams asked for, by why: `lost` (a socket closed without stop), `not_connected` (again after streaming.failed), `paced` (again after the platform's rate limit). */
  readonly streamRestartsAsked: Record<string, number> = {};
  /** Minutes carried, by UTC day and month (this process only). */
  readonly minutes = new MinutesTally();

  /**
   * Monotonic milliseconds for the media tokens' issue, expiry and sweep: a wall-clock step must
   * neither keep an unused token alive past its 30 s (FAQ-07) nor expire a ringing call's. Tests step it.
   */
  readonly #now: () => number;

  constructor(config: GatewayConfig, signalling: SignallingClient, supervisor: Supervisor, log: Logger, usage: UsageSink | null = null, now: () => number = () => performance.now()) {
    this.#now = now;
    this.#config = config;
    this.#usage = usage;
    this.#signalling = signalling;
    this.#supervisor = supervisor;
    this.#log = log;
    this.#caps = new CapGate(log);
    this.#tokens = new MediaTokenStore(config.mediaTokenTtlMs);
    this.#numbers = new Set(config.numbers);
    this.#sweep = setInterval(() => this.#tokens.sweep(this.#now()), TOKEN_SWEEP_MS);
    this.#sweep.unref();
    this.#noMedia = new NoMediaDeadline(config.callTimers?.noMediaMs ?? NO_MEDIA_MS, (call) => {
      call.log.warn({ waitedMs: this.#noMedia.ms }, 'no media stream ever reached this call (its hang-up may have been lost): ending it');
      void this.#endCall(call.callId, 'no media stream', 'no_media', true);
    });
    this.#restarts = new StreamRestarts<EndCause>({
      signalling,
      tokens: this.#tokens,
      now: this.#now,
      publicHost: config.publicHost,
      codec: config.codec,
      endCall: (callId, reason, cause) => this.#endCall(callId, reason, cause, true),
      closing: () => this.#closing,
      mediaClosedCause: 'media_closed',
      streamingFailedCause: 'streaming_failed',
      counters: this.counters,
      asked: this.streamRestartsAsked,
    });
    this.#placement = new CallPlacement<EndCause>({
      config,
      supervisor,
      restarts: this.#restarts,
      calls: () => this.#byId.values(),
      closing: () => this.#closing,
      endLost: (call, reason) => this.#endLostWorkerCall(call, reason),
      workerFailedCause: 'worker_failed',
      counters: this.counters,
    });
    supervisor.on('worker.lost', (index) => this.#placement.onWorkerLost(index));
    this.#takeover = new CallTakeover({
      liveCalls: () => signalling.liveCalls(),
      knows: (callId) => this.#byId.has(callId) || this.#tombstones.has(callId),
      closing: () => this.#closing,
      adopt: (view) => this.#adoptAnswered(view),
      answer: (view) => this.#answerRinging(view),
      log,
    });
  }

  get liveCalls(): number {
    return this.#byId.size;
  }

  /** Whether an unused media token exists for the call (tests check that none outlives its call, FAQ-07). */
  hasPendingMediaToken(callId: string): boolean {
    return this.#tokens.hasPendingToken(callId);
  }

  /** Recent call summaries from the workers, newest last. */
  get summaries(): readonly CallSummary[] {
    return this.#summaries;
  }

  /** A verified, de-duplicated webhook event. */
  onWebhook(envelope: WebhookEnvelope): void {
    const { event_type: type, payload } = envelope.data;
    const callId = payload?.call_control_id;
    if (typeof callId !== 'string' || callId.length === 0) {
      this.#log.warn({ event: type }, 'webhook without call_control_id ignored');
      return;
    }
    // About a call a dial in flight may be about to name: kept until it does (DialsInFlight).
    if (HELD_WHILE_DIALLING.has(type) && !this.#byId.has(callId) && this.#dials.hold(callId, envelope)) return;
    switch (type) {
      case 'call.initiated':
        // A number that is not a string is none: `to` then matches no served number.
        if (payload.direction === 'incoming') this.#onIncoming(callId, payloadText(payload.from, ''), payloadText(payload.to, ''));
        return;
      case 'call.answered': {
        const call = this.#byId.get(callId);
        if (call && call.answeredAt === null) {
          call.answeredAt = performance.now();
          call.record.answered_at = new Date().toISOString();
        }
        if (call && call.state === 'answering') call.state = 'answered';
        // A dial's token outlasted the ringing; from the answer it has the usual TTL.
        if (call) this.#tokens.answered(callId, this.#now());
        // The stream comes with the answer: from now it has the usual wait to land.
        if (call) this.#noMedia.arm(call);
        return;
      }
      case 'streaming.started': {
        const call = this.#byId.get(callId);
        if (call && call.state !== 'ending') call.state = 'streaming';
        call?.streams.reportedStarted(streamIdOf(payload.stream_id), occurredAtMsOf(envelope.data.occurred_at));
        return;
      }
      case 'streaming.failed': {
        const reason = `streaming failed: ${payloadText(payload.failure_reason, 'unknown')}`;
        const call = this.#byId.get(callId);
        // Not ours: perhaps an earlier process's call, answered after this one listed (CallTakeover).
        if (!call) return this.#takeover.onUnknownStreamFailure(callId);
        // Late or out of order (DESIGN 3a): a failure of a stream already replaced, or of another than
        // the live one, neither ends the call nor asks again (StreamIds).
        const streamId = streamIdOf(payload.stream_id);
        const about = call.streams.failure(streamId, occurredAtMsOf(envelope.data.occurred_at), call.socket !== null);
        if (about === 'other') {
          call.log.info({ streamId, live: call.socket !== null }, 'streaming.failed about another stream than the call\'s: ignored');
          return;
        }
        if (about === 'requested' && this.#restarts.retryLater(call, reason)) return;
        void this.#endCall(callId, reason, 'streaming_failed', true);
        return;
      }
      case 'call.hangup':
        // Remember the id even if we never saw the call, so a late call.initiated cannot start it.
        this.#remember(callId);
        void this.#endCall(callId, `hangup: ${payloadText(payload.hangup_cause, 'unknown')}`, 'hangup', false);
        return;
      default:
        return;
    }
  }

  /**
   * Checked at upgrade, before the socket is accepted (FAQ-07). With
   * worker-owned sockets, `workerIndex` is the worker whose listener holds the
   * upgrade: an unplaced call's actor is opened there, before the verdict.
   */
  authorizeMedia(callId: string, token: string | undefined, workerIndex?: number): MediaAuthorization | Promise<MediaAuthorization> {
    // The media id of a dial whose answer has not reached us: decide once it has (DialsInFlight).
    const dialling = this.#dials.settled(callId);
    if (dialling) return dialling.then(() => this.authorizeMedia(callId, token, workerIndex));
    const verdict: TokenVerdict = this.#tokens.consume(callId, token, this.#now());
    const call = this.#byId.get(callId) ?? this.#byMediaId.get(callId);
    if (!verdict.ok) {
      this.counters.mediaRefused++;
      return { ok: false, reason: verdict.reason };
    }
    if (!call || call.state === 'ending' || call.socket) {
      this.counters.mediaRefused++;
      return { ok: false, reason: 'no_live_call' };
    }
    if (call.workerIndex === UNPLACED || (workerIndex !== undefined && workerIndex !== call.workerIndex)) {
      const host = workerIndex === undefined ? undefined : this.#supervisor.host(workerIndex);
      if (!host || host.exited) {
        this.counters.mediaRefused++;
        return { ok: false, reason: 'no_worker' };
      }
      this.#placement.placeWhereLanded(call, host);
    }
    return { ok: true, slot: call.slot };
  }

  onMediaOpen(slot: number, socket: MediaSocket): void {
    const call = this.#bySlot.get(slot);
    if (!call || call.state === 'ending') {
      socket.close(1008, 'call is not live');
      return;
    }
    call.socket = socket;
    call.streams.opened();
    // The call's first stream: one line with its worker (a later one logs 'media stream restarted').
    if (!call.mediaSeen && call.streamRestarts === 0) call.log.info('media stream connected');
    call.mediaSeen = true;
    this.#noMedia.clear(call);
    call.startFrame = null;
    call.framesSinceOpen = 0;
    this.#restarts.landed(call);
    this.#supervisor.host(call.workerIndex)?.send({ type: 'media.open', slot });
  }

  onMediaMessage(slot: number, data: ArrayBuffer): void {
    const call = this.#bySlot.get(slot);
    if (!call) return;
    noteStartFrame(call, data);
    this.#supervisor.host(call.workerIndex)?.appendMedia(slot, data, epochNowMs());
  }

  /** The front closed this call's socket for abuse (flood, binary garbage): the call ends. */
  onMediaAbuse(slot: number, reason: string): void {
    const call = this.#bySlot.get(slot);
    if (!call) return;
    call.socket = null;
    void this.#endCall(call.callId, reason, 'media_abuse', true);
  }

  onMediaClose(slot: number): void {
    const call = this.#bySlot.get(slot);
    if (!call) return;
    call.socket = null;
    const live = call.state !== 'ending' && !this.#closing;
    // The worker's actor knows whether the provider sent `stop` first (the stream ended with the
    // call) or not (the socket was lost): only then does it answer media.lost and a new stream is asked for.
    const restream = live && this.#restarts.mayRestart(call);
    this.#supervisor.host(call.workerIndex)?.send({ type: 'media.closed', slot, ...(restream ? { restream } : {}) });
    if (!live) return;
    // The provider closes the stream just before it reports the hang-up; if no hang-up follows
    // (and no restarted stream lands), the call has no audio path: end it ourselves.
    this.#restarts.armOrphanTimer(call, 'media stream closed', 'media_closed');
  }

  /** Audio from a worker toward the phone. */
  onWorkerMedia(slot: number, frame: Uint8Array, agentAtMs = 0): void {
    const socket = this.#bySlot.get(slot)?.socket;
    if (!socket) return;
    socket.send(frame);
    if (agentAtMs > 0) this.#latency.toPhone(epochNowMs() - agentAtMs);
  }

  /** Added latency per direction since the last reset (workers report theirs with each pong, once a second). */
  addedLatency(): AddedLatency {
    return this.#latency.summary();
  }

  resetAddedLatency(): void {
    this.#latency.reset();
    for (const host of this.#supervisor.hosts()) host.send({ type: 'latency.reset' });
  }

  onWorkerControl(workerIndex: number, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        return;
      case 'pong':
        this.#latency.merge(workerIndex, message);
        return;
      case 'call.ended':
        this.#summaries.push(message.summary);
        if (this.#summaries.length > MAX_SUMMARIES) this.#summaries.shift();
        this.#log.info({ callId: message.summary.callId, deployment: this.#config.deploymentId, worker: workerIndex, summary: message.summary }, 'call summary');
        return;
      case 'media.close': {
        const call = this.#bySlot.get(message.slot);
        // From the worker the call left (its stream landed on another): about the old actor, not the call.
        if (!call || call.workerIndex !== workerIndex) return;
        call.log.warn({ code: message.code, reason: message.reason }, 'worker closed the media stream');
        call.socket?.close(message.code, message.reason);
        void this.#endCall(call.callId, message.reason, 'media_refused', true);
        return;
      }
      case 'agent.action': {
        const call = this.#bySlot.get(message.slot);
        if (call) void this.#onAgentAction(call, message.action);
        return;
      }
      case 'media.lost': {
        const call = this.#bySlot.get(message.slot);
        if (call && call.workerIndex === workerIndex) void this.#restarts.restart(call, 'lost');
        return;
      }
      case 'media.authorize': {
        const answer = (verdict: MediaAuthorization) => this.#supervisor.host(workerIndex)?.send({ type: 'media.verdict', id: message.id, verdict });
        const verdict = this.authorizeMedia(message.callId, message.token, workerIndex);
        if (verdict instanceof Promise) void verdict.then(answer);
        else answer(verdict);
        return;
      }
      case 'media.opened': {
        const host = this.#supervisor.host(workerIndex);
        const slot = message.slot;
        // The socket lives on the worker; this handle only asks it to close.
        this.onMediaOpen(slot, { send: () => {}, close: (code, reason) => host?.send({ type: 'media.end', slot, code, reason }) });
        return;
      }
      case 'media.socket.closed':
        return this.onMediaClose(message.slot);
      case 'media.started': {
        // From the worker the call left (its stream landed on another): about the old socket.
        const call = this.#bySlot.get(message.slot);
        if (call && call.workerIndex === workerIndex && call.socket) call.streams.landed(message.streamId);
        return;
      }
      case 'media.abuse':
        return this.onMediaAbuse(message.slot, message.reason);
      case 'webhook':
      case 'front.count':
        return; // the front's business (Gateway routes them there)
      case 'log': {
        // The call's own logger when the line is about a live call (call id, deployment, worker).
        const call = message.slot === undefined ? undefined : this.#bySlot.get(message.slot);
        if (call) call.log[message.level]({ ...message.fields }, message.msg);
        else this.#log[message.level]({ worker: workerIndex, slot: message.slot, ...message.fields }, message.msg);
        return;
      }
      default:
        assertNever(message);
    }
  }

  /**
   * Take over the deployment's answered calls that this process does not
   * carry, and answer its inbound calls still ringing (CallTakeover says
   * when): a gateway that crashed, or stopped with `onStop: handover`, left
   * them up at the provider without a media stream. Once per process: later
   * calls return the first one's result (the number taken over).
   */
  adoptLiveCalls(): Promise<number> {
    return this.#takeover.atStart();
  }

  /**
   * An answered call from the platform's list: it gets a new stream, asked
   * for as for a lost socket (StreamRestarts: same deadline, same one-time
   * tokens), and a new actor and agent session without the greeting; its
   * duration counts from the platform's `answered_at`. Beyond maxCalls (or
   * without a worker) it is hung up.
   */
  #adoptAnswered(view: LiveCallView): boolean {
    const callId = view.call_control_id;
    const host = this.#supervisor.pickWorker(this.#placement.unplacedCalls());
    if (!host || this.#byId.size >= this.#config.maxCalls) {
      this.counters.callsAdoptionRefused++;
      this.#remember(callId);
      const log = this.#log.child({ callId, deployment: this.#config.deploymentId });
      log.warn({ live: this.#byId.size }, `live call from an earlier gateway process not taken over: ${host ? 'gateway full' : 'no media worker has room'}; hanging up`);
      void this.#hangUp(callId, 'busy', log);
      return false;
    }
    const answeredAtMs = Date.parse(view.answered_at ?? view.started_at);
    const sinceAnswerMs = Number.isFinite(answeredAtMs) ? Math.max(0, Date.now() - answeredAtMs) : 0;
    const call = openLiveCall({
      callId,
      mediaId: null,
      slot: this.#nextSlot++,
      direction: view.direction,
      from: view.from,
      to: view.to,
      log: this.#log.child({ callId, deployment: this.#config.deploymentId }),
      answeredMsAgo: sinceAnswerMs,
      startedAtIso: view.started_at,
    });
    this.#byId.set(callId, call);
    this.#bySlot.set(call.slot, call);
    this.counters.callsAdopted++;
    this.#placement.admitted(call, host);
    call.log.info({ answeredAt: view.answered_at }, 'live call from an earlier gateway process taken over: asking for a new stream');
    void this.#restarts.restart(call, 'adopted');
    return true;
  }

  /**
   * A ringing inbound call from the list: it arrived while no gateway was up.
   * Answered as if its call.initiated had come now (the same admission and
   * caps). An answer the previous process sent just before it stopped has
   * long landed by now (a restart takes about a second), so its record says
   * answered and it is taken over instead.
   */
  #answerRinging(view: LiveCallView): boolean {
    const callId = view.call_control_id;
    if (view.direction !== 'incoming') return false;
    this.#onIncoming(callId, view.from, view.to);
    if (!this.#byId.has(callId)) return false;
    this.counters.callsRingingAnswered++;
    this.#byId.get(callId)!.log.info({ startedAt: view.started_at }, 'call that rang while no gateway was up: answering it');
    return true;
  }

  /**
   * `onStop: handover`: leave every live call up at the provider for the
   * next gateway process, which takes it over (adoptLiveCalls). Media
   * sockets close with 1001; nothing is hung up and no usage is reported
   * (the process that ends the call reports its whole duration).
   */
  handOver(): void {
    this.#closing = true;
    this.#retryDeadline = performance.now();
    clearInterval(this.#sweep);
    for (const call of [...this.#byId.values()]) {
      this.#release(call, 'handed over to the next gateway process', 'handover');
      call.socket?.close(1001, 'gateway restarting');
      call.socket = null;
      call.log.info('call handed over: it stays up for the next gateway process');
    }
  }

  /** Graceful shutdown: hang up every live call through the platform; hang-ups are tried again only within `graceMs`. */
  async shutdown(graceMs = 5_000): Promise<void> {
    this.#closing = true;
    this.#shuttingDown = true;
    this.#retryDeadline = Math.min(this.#retryDeadline, performance.now() + graceMs);
    clearInterval(this.#sweep);
    const ids = [...this.#byId.keys()];
    // Dials in flight too: one answered now is hung up by #placeDial, before the signalling client closes.
    await Promise.allSettled([...ids.map((id) => this.#endCall(id, 'gateway shutting down', 'shutdown', true)), this.#dials.idle()]);
  }

  snapshot(): Array<{ callId: string; worker: number; state: string; direction: string; from: string; to: string; ageMs: number; startedAtMs: number }> {
    const now = performance.now();
    return [...this.#byId.values()].map((c) => ({
      callId: c.callId,
      worker: c.workerIndex,
      state: c.state,
      direction: c.direction,
      from: c.from,
      to: c.to,
      ageMs: Math.round(now - c.startedAt),
      startedAtMs: c.startedAtMs,
    }));
  }

  /** The most recent calls, newest first: live ones, then ended and refused ones. */
  recentCalls(limit: number): GatewayCallRecord[] {
    return this.#recent.recent([...this.#byId.values()].map((c) => c.record), limit);
  }

  /** The deployment's recent calls as the platform recorded them (the provider's figures), newest first. */
  async platformCalls(limit: number): Promise<Array<Record<string, unknown>>> {
    return (await this.#signalling.listCalls(limit)).calls;
  }

  /** One of this deployment's call recordings, from the platform (`ttma calls --recording`). */
  platformRecording(callId: string): Promise<RecordingDownload> {
    return this.#signalling.openRecording(callId);
  }

  /** This deployment's recording switch at the platform (`ttma recording`): read it, or turn it on or off. */
  platformRecordingSetting(on?: boolean): Promise<RecordingSetting | RecordingSettingResult> {
    return on === undefined ? this.#signalling.recordingSetting() : this.#signalling.switchRecording(on);
  }

  /** Deletes one of this deployment's recordings at the platform and the provider (`ttma calls --delete-recording`). */
  platformDeleteRecording(callId: string): Promise<Record<string, unknown>> {
    return this.#signalling.deleteRecording(callId);
  }

  /** One pass of deleting every recording the platform keeps for this deployment (`ttma recording --delete-existing`). */
  platformDeleteKeptRecordings(from = 0): Promise<RecordingsDeleted> {
    return this.#signalling.deleteKeptRecordings(from);
  }

  /** A one-time sign-in link to this deployment's dashboard on the platform (`ttma dashboard`). */
  platformDashboardLink(): Promise<{ url: string; expires_at: string }> {
    return this.#signalling.dashboardLink();
  }

  /** Whether new calls are refused for a minute cap (as the platform last said), and why. */
  capState(): CapState {
    return this.#caps.state();
  }

  /** A message from the platform over the control connection. */
  onPlatformMessage(message: PlatformControlMessage): void {
    switch (message.type) {
      case 'hello':
        this.#caps.set(message.cap_state);
        void this.adoptLiveCalls();
        return;
      case 'cap.state':
        this.#caps.set(message.cap_state);
        return;
      case 'cap.reached': {
        const call = this.#byId.get(message.call_control_id);
        this.#caps.reached(message.cap, message.message);
        if (!call) {
          this.#log.warn({ callId: message.call_control_id, cap: message.cap }, 'cap notice for a call this gateway does not carry');
          return;
        }
        this.counters.callsEndedForCap++;
        call.log.warn({ cap: message.cap, endingInMs: message.ending_in_ms, code: ErrorCodes.CAP_REACHED }, `the platform is ending this call: ${message.message}`);
        // The platform hangs up through the provider itself; we end the actor and the media now.
        void this.#endCall(call.callId, `minute cap reached (${message.cap})`, 'minute_cap', false);
        return;
      }
      case 'usage.ack':
      case 'error':
        return;
      default:
        // A newer platform may say more than we know: ignore it, never fail on it.
        this.#log.info({ type: (message as { type?: unknown }).type }, 'unknown control message ignored');
    }
  }

  /**
   * Place an outbound call (asked by an agent or an operator): the platform
   * checks caps, allowlists and the dialling policy, then dials through the
   * provider; the answered call streams to us like an inbound one.
   */
  async dial(to: string, fromNumber?: string): Promise<{ callId: string; from: string; to: string }> {
    const unplaced = this.#placement.unplacedCalls();
    const host = this.#supervisor.pickWorker(unplaced);
    if (this.#closing || !host || this.#byId.size >= this.#config.maxCalls) {
      this.counters.callsRefused++;
      const busy = !this.#closing && this.#supervisor.saturated(unplaced);
      if (!this.#closing && (host || busy)) this.#count(this.capRefused, busy ? 'worker_load' : 'concurrent_calls');
      throw new TtmaError(ErrorCodes.OVERLOADED, `${busy ? BUSY : 'gateway full'}: no outbound call placed`, 503);
    }
    const capped = this.#caps.refusal();
    if (capped) {
      this.counters.callsRefusedForCap++;
      throw capped;
    }
    // Our id for the media path until the provider names the call (letters and digits only).
    const mediaId = `o${randomBytes(12).toString('hex')}`;
    const settled = this.#dials.begin(mediaId);
    try {
      return await this.#placeDial(mediaId, host, to, fromNumber);
    } finally {
      settled();
    }
  }

  async #placeDial(mediaId: string, host: WorkerHost, to: string, fromNumber: string | undefined): Promise<{ callId: string; from: string; to: string }> {
    // The stream opens only when the callee answers: the token outlasts the longest ring (the dial asks
    // no timeout_secs, so the provider's maximum bounds it; https://developers.telnyx.com/api/call-control/dial-call).
    const token = this.#tokens.issue(mediaId, this.#now(), DIAL_RING_MAX_MS);
    // The platform checks `from` against the deployment's numbers; we only pick the default.
    const from = fromNumber ?? this.#config.numbers[0] ?? '';
    let result;
    try {
      result = await this.#signalling.dial({
        to,
        from,
        stream_url: `wss://${this.#config.publicHost}/v1/media/${mediaId}`,
        stream_auth_token: token,
        codec: this.#config.codec,
      });
    } catch (err) {
      this.#tokens.revokeCall(mediaId);
      throw err;
    }
    const callId = result.call_control_id;
    if (this.#shuttingDown) {
      // shutdown() listed the calls to hang up while this dial was in flight: nothing else would end this one.
      this.#tokens.revokeCall(mediaId);
      this.#remember(callId);
      await this.#hangUp(callId, 'gateway shutting down', this.#log.child({ callId, deployment: this.#config.deploymentId }));
      throw new TtmaError(ErrorCodes.OVERLOADED, 'the gateway is stopping: the dialled call was hung up', 503);
    }
    if (this.#tombstones.has(callId) || this.#byId.has(callId)) {
      this.#tokens.revokeCall(mediaId);
      throw new TtmaError(ErrorCodes.PLATFORM, 'the dialled call ended before it was set up');
    }
    // One set with the call's later tokens (new streams, under the call id): the first redeemed revokes the rest.
    this.#tokens.fileUnder(mediaId, callId);
    const slot = this.#nextSlot++;
    const log = this.#log.child({ callId, deployment: this.#config.deploymentId });
    const call = openLiveCall({ callId, mediaId, slot, direction: 'outgoing', from, to, log });
    this.#byId.set(callId, call);
    this.#byMediaId.set(mediaId, call);
    this.#bySlot.set(slot, call);
    this.#callStarted('outgoing');
    this.#placement.admitted(call, host);
    this.#noMedia.arm(call, DIAL_RING_MAX_MS);
    call.log.info('outbound call placed; ringing');
    for (const early of this.#dials.take(callId)) this.onWebhook(early);
    return { callId, from, to };
  }

  async #onAgentAction(call: LiveCall, action: AgentAction): Promise<void> {
    // The agent's request id goes back with the answer, so it can match answers that overtake each other.
    const id = action.kind === 'hangup' || action.id === undefined ? {} : { id: action.id };
    const reply = (result: AgentActionResult) => this.#supervisor.host(call.workerIndex)?.send({ type: 'agent.result', slot: call.slot, result: { ...result, ...id } });
    const failed = (request: AgentActionResult['request'], err: unknown) => {
      // The log keeps the whole message; the agent gets the code and the platform's public message (agentResultDetail).
      const logged = isTtmaError(err) ? err.message : String(err);
      const detail = agentResultDetail(err);
      // A flood is logged at its first refusal and every 100th, not once a message.
      if (!(err instanceof AgentRequestRefused) || err.onCall % 100 === 1) call.log.warn({ request, err: logged, ...(err instanceof AgentRequestRefused ? { refusedOnCall: err.onCall } : {}) }, 'agent request refused');
      reply({ request, ok: false, detail });
    };
    if (action.kind === 'hangup') {
      call.log.info({ reason: action.reason }, 'the agent hung up');
      return this.#endCall(call.callId, `agent: ${action.reason}`, 'agent', true);
    }
    // Bounded per call and per gateway, so an agent cannot spend the deployment's signalling budget (AgentRequestBudget).
    const send = <T>(run: () => Promise<T>) => this.agentRequests.run(call, action.kind, run);
    switch (action.kind) {
      case 'transfer':
        try {
          await send(() => this.#signalling.transfer(call.callId, { to: action.to }));
          call.log.info('call transferred by the agent');
          reply({ request: 'transfer', ok: true, detail: '' });
        } catch (err) {
          failed('transfer', err);
        }
        return;
      case 'dial':
        try {
          const placed = await send(() => this.dial(action.to));
          reply({ request: 'dial', ok: true, detail: placed.callId });
        } catch (err) {
          failed('dial', err);
        }
        return;
      case 'dtmf':
        try {
          await send(() => this.#signalling.sendDtmf(call.callId, { digits: action.digits }));
          reply({ request: 'dtmf', ok: true, detail: '' });
        } catch (err) {
          failed('dtmf', err);
        }
        return;
      default:
        assertNever(action);
    }
  }

  #onIncoming(callId: string, from: string, to: string): void {
    if (this.#byId.has(callId) || this.#tombstones.has(callId)) return; // duplicate or late: never a second token
    const log = this.#log.child({ callId, deployment: this.#config.deploymentId });
    if (this.#closing) return;
    if (!this.#numbers.has(to)) {
      log.warn({ to }, 'call to a number this gateway does not serve; ignored');
      return;
    }
    const unplaced = this.#placement.unplacedCalls();
    const host = this.#supervisor.pickWorker(unplaced);
    const capped = this.#caps.refusal();
    if (!host || this.#byId.size >= this.#config.maxCalls || capped) {
      this.counters.callsRefused++;
      if (capped) this.counters.callsRefusedForCap++;
      const busy = !capped && !host && this.#supervisor.saturated(unplaced);
      if ((host || busy) && !capped) this.#count(this.capRefused, busy ? 'worker_load' : 'concurrent_calls');
      this.#remember(callId);
      const reason = capped ? `minute cap: ${capped.message}` : busy ? BUSY : 'gateway full';
      log.warn({ live: this.#byId.size, ...(capped ? { code: ErrorCodes.CAP_REACHED } : {}) }, `admission refused: ${reason}`);
      this.#recent.refused(callId, 'incoming', from, to, reason);
      void this.#hangUp(callId, capped ? 'cap' : 'busy', log);
      return;
    }
    const slot = this.#nextSlot++;
    const call = openLiveCall({ callId, mediaId: null, slot, direction: 'incoming', from, to, log });
    this.#byId.set(callId, call);
    this.#bySlot.set(slot, call);
    this.#callStarted('incoming');
    this.#placement.admitted(call, host);
    this.#noMedia.arm(call);
    const streamUrl = `wss://${this.#config.publicHost}/v1/media/${encodeURIComponent(callId)}`;
    // Refused for the rate limit: sent again after the platform's Retry-After while the caller rings (answerRetrying.ts),
    // each time with a fresh token (it replaces the unused one), so a short token life still covers the stream.
    const answer = () => this.#signalling.answer(callId, { stream_url: streamUrl, stream_auth_token: this.#tokens.issue(callId, this.#now()), codec: this.#config.codec });
    answerRetrying(answer, {
      deadline: performance.now() + ANSWER_RETRY_WINDOW_MS,
      live: () => call.state !== 'ending' && !this.#closing,
      retrying: (err, waitMs) => {
        this.counters.answerRetries++;
        call.log.warn({ err: (err as Error).message, retryInMs: waitMs }, 'answer refused for the rate limit: trying again');
      },
    }).then(
      () => call.log.info('answered; waiting for the media stream'),
      (err: Error) => {
        if (isTtmaError(err, ErrorCodes.CALL_ENDED)) {
          // The caller hung up while the answer was in flight (the platform's 409): an ordinary hang-up, nothing to hang up.
          call.log.info({ code: err.code }, 'caller hung up before the answer landed');
          void this.#endCall(callId, 'hangup: caller hung up before the answer landed', 'hangup', false);
          return;
        }
        call.log.error({ err: err.message }, 'answer failed');
        void this.#endCall(callId, 'answer failed', 'answer_failed', true);
      },
    );
  }

  async #endCall(callId: string, reason: string, cause: EndCause, hangUpProvider: boolean): Promise<void> {
    const call = this.#byId.get(callId);
    this.#tokens.revokeCall(callId); // useless the moment the call ends (FAQ-07)
    if (!call || call.state === 'ending') return;
    this.#release(call, reason, cause);
    const endedAtMs = Date.now();
    this.minutes.add(endedAtMs, endedAtMs - call.startedAtMs);
    call.socket?.close(1000, 'call ended');
    call.socket = null;
    const durationMs = call.answeredAt === null ? 0 : Math.round(performance.now() - call.answeredAt);
    this.#recent.ended(call.record, durationMs, reason);
    // The platform cross-checks this against the provider's record; it never bills from it (FAQ-14).
    this.#usage?.(callId, durationMs);
    call.log.info({ reason, cause, durationMs }, 'call ended');
    if (hangUpProvider) await this.#hangUp(callId, reason, call.log);
  }

  /** Hang up through the platform, trying again while the failure may pass (hangUpRetrying.ts); never throws. */
  async #hangUp(callId: string, reason: string, log: Logger): Promise<void> {
    try {
      await hangUpRetrying(() => this.#signalling.hangup(callId, { reason }), {
        waits: this.#config.callTimers?.hangupRetryMs ?? HANGUP_RETRY_MS,
        deadline: () => this.#retryDeadline,
        retrying: (err, waitMs) => {
          this.counters.hangupRetries++;
          log.warn({ err: (err as Error).message, retryInMs: waitMs }, 'hang-up through the platform failed: trying again');
        },
      });
    } catch (err) {
      this.counters.hangupsFailed++;
      log.error({ err: (err as Error).message }, 'hang-up through the platform failed');
    }
  }

  /** The call leaves this process: its tokens, maps, actor and timers go, and it is counted as ended. */
  #release(call: LiveCall, reason: string, cause: EndCause): void {
    const callId = call.callId;
    this.#tokens.revokeCall(callId);
    call.state = 'ending';
    call.orphanTimer?.();
    this.#noMedia.clear(call);
    this.#remember(callId);
    this.#byId.delete(callId);
    this.#bySlot.delete(call.slot);
    if (call.mediaId) {
      this.#byMediaId.delete(call.mediaId);
      this.#tokens.revokeCall(call.mediaId);
    }
    const host = this.#supervisor.host(call.workerIndex);
    if (host) {
      host.calls = Math.max(0, host.calls - 1);
      host.send({ type: 'call.end', slot: call.slot, reason });
    }
    this.counters.callsEnded++;
    this.#count(this.ended, cause);
  }

  /** A call of a lost worker that cannot move (CallPlacement): its socket closes and it is hung up. */
  #endLostWorkerCall(call: LiveCall, reason: string): void {
    this.counters.workerCallsLost++;
    call.socket?.close(1011, 'media worker failed');
    call.socket = null;
    void this.#endCall(call.callId, reason, 'worker_failed', true);
  }

  #callStarted(direction: 'incoming' | 'outgoing'): void {
    this.counters.callsStarted++;
    this.#count(this.started, direction);
  }

  #count(record: Record<string, number>, label: string): void {
    record[label] = (record[label] ?? 0) + 1;
  }

  #remember(callId: string): void {
    this.#tombstones.add(callId);
    if (this.#tombstones.size > TOMBSTONES) {
      const oldest = this.#tombstones.values().next().value as string;
      this.#tombstones.delete(oldest);
    }
  }
}
