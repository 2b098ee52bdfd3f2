/**
 * One simulated call: its state machine, its webhooks, its media stream(s),
 * what it recorded and its call detail record.
 *
 * Inbound: initiated (parked) -> answer action -> answered -> media for the
 * caller's duration -> stop -> hangup (caller). No answer within the timeout:
 * hangup with cause `timeout`. Outbound: initiated (bridging) -> ring ->
 * answered -> media for the callee's talk time -> hangup (callee).
 * The hangup action, a broken media socket or a failed stream end it early.
 *
 * Timing: the call subscribes to the shared MediaClock while answered; frame k
 * of a stream is planned at t0 + 20 ms * k and sent on the first tick at or
 * after that time.
 */
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';
import {
  PROVIDER_CODE_CALL_ENDED,
  type CallDetailRecord,
  type CallDirection,
  type CallPayload,
  type WebhookEventType,
} from '../wire/telnyx.js';
import { CallRecorder, type Correlate } from './CallRecorder.js';
import { toSummary, type CallReport, type CallSummary, type EndedBy, type HeardTimeline } from './CallReport.js';
import type { SimCodec } from './codecs.js';
import { FRAME_MS, PROVIDER_CODES, SAMPLE_RATE } from './constants.js';
import type { FrameSource } from './FrameSource.js';
import { newCallControlId, newUuid } from './ids.js';
import type { ClockSubscriber, MediaClock } from './MediaClock.js';
import { MediaStreamClient } from './MediaStreamClient.js';
import { Playout } from './Playout.js';
import { ProviderApiError } from './ProviderApiError.js';
import type { Tunnels } from './Tunnels.js';
import type { WebhookSender } from './WebhookSender.js';
import { webhookFacts } from './webhookFacts.js';

export interface SimCallContext {
  clock: MediaClock;
  webhooks: WebhookSender;
  tunnels: Tunnels;
  logger: Logger;
  tunnelHeaders: boolean;
  onStreamFailure: 'hangup' | 'continue';
  tailMs: number;
  recordSamples: number;
  lateSendThresholdMs: number;
  maxPendingMarks: number;
  echoMaxLagSamples: number;
  handshakeTimeoutMs: number;
  /** Echo analysis, off the media thread (EchoAnalyzer). */
  correlate: Correlate;
  /** Called once the call has ended and its report is ready. */
  onEnded(call: SimCall, report: CallReport): void;
  /** Places a transfer's new leg (an outgoing call of its own, ProviderSimulator). */
  placeTransferLeg(from: SimCall, request: TransferRequest): SimCall;
  /** Stores a finished recording; returns its id and a URL it is downloadable from for a while (a pre-signed URL). */
  saveRecording(call: SimCall, recording: SavedRecordingInit): { id: string; url: string };
}

/** What a call tells the simulator about its recording when it ends. */
export interface SavedRecordingInit {
  durationMs: number;
  format: 'mp3' | 'wav';
  startedAt: Date;
  endedAt: Date;
}

export interface StreamRequest {
  url: string;
  token: string | undefined;
  /** Requested stream codec; unset: the call's codec. */
  codec: SimCodec | undefined;
  /** Codec the gateway sends back in; unset: the stream codec. */
  returnCodec: SimCodec | undefined;
  /** stream_bidirectional_sampling_rate, or its documented default (src/sim/returnLeg.ts). */
  returnSampleRate: number;
}

/** A `transfer` command's fields the simulator acts on (developers.telnyx.com/api-reference/call-commands/transfer-call). */
export interface TransferRequest {
  to: string;
  /** Caller id shown to `to`; Telnyx defaults it to the original call's `to`. */
  from: string | undefined;
  /** `target_leg_client_state`: the new leg's client_state on every one of its webhooks. */
  targetLegClientState: string | null;
  /** `timeout_secs` (default 30 s): the new leg gives up ringing with cause `timeout`. */
  noAnswerTimeoutMs: number;
  /** `time_limit_secs`: the new leg hangs up with cause `time_limit` this long after its answer. */
  timeLimitMs: number | undefined;
}

export interface DtmfEvent {
  atMs: number;
  digit: string;
}

export interface SimCallInit {
  direction: CallDirection;
  from: string;
  to: string;
  connectionId: string;
  codec: SimCodec;
  /** The phone party's audio (a SpeechLikeSignal seeded per call, or a bank voice). */
  audio: FrameSource;
  /** How long the phone party talks once media flows (or from answer without media). */
  talkMs: number;
  dtmf: DtmfEvent[];
  clientState: string | null;
  /** Inbound: how long the call waits parked for an answer. */
  answerTimeoutMs?: number;
  /** Outbound: ring time before the callee answers. */
  ringMs?: number;
  /** Outbound: give up ringing after this long (timeout_secs). */
  noAnswerTimeoutMs?: number;
  /** Outbound: end the call this long after answer (time_limit_secs). */
  timeLimitMs?: number;
  /** Outbound: the stream the dial asked for. */
  stream?: StreamRequest;
  /** A transfer's new leg: the call transferred (whose session it shares), bridged to it on answer. */
  transferOf?: SimCall;
}

type CallState = 'parked' | 'ringing' | 'answered' | 'ended';

/**
 * GET /v2/calls/{id} as Telnyx's "Retrieve a call status" answers it: ids,
 * is_alive, duration, client_state and times; no direction, numbers or state
 * (developers.telnyx.com/api-reference/call-information/retrieve-a-call-status).
 */
export interface CallInfo {
  record_type: 'call';
  call_control_id: string;
  call_leg_id: string;
  call_session_id: string;
  is_alive: boolean;
  /** Whole seconds since the call started (to its end once ended). */
  call_duration: number;
  client_state: string | null;
  start_time: string;
  end_time?: string;
}

export class SimCall implements ClockSubscriber {
  readonly id = newCallControlId();
  readonly legId = newUuid();
  readonly sessionId: string;
  readonly direction: CallDirection;
  readonly from: string;
  readonly to: string;
  readonly connectionId: string;
  /** Resolves once the call has ended and its webhooks are delivered (never rejects). */
  readonly done: Promise<CallReport>;

  readonly #ctx: SimCallContext;
  readonly #init: SimCallInit;
  readonly #log: Logger;
  readonly #recorder: CallRecorder;
  readonly #playout: Playout;
  readonly #startedAt = new Date();
  #resolveDone!: (report: CallReport) => void;
  #state: CallState;
  #clientState: string | null;
  #timer: NodeJS.Timeout | null = null;
  #answeredAt: Date | null = null;
  #answeredAtMs: number | null = null;
  #endedAt: Date | null = null;
  #endedAtMs: number | null = null;
  #hangupCause: string | null = null;
  #hangupSource: string | null = null;
  #endedBy: EndedBy | null = null;
  #endReason: string | null = null;
  #timeLimitAt: number | null = null;
  #talkStartAt: number | null = null;
  #talkEndAt: number | null = null;
  #stream: MediaStreamClient | null = null;
  #streamUrl: string | null = null;
  #streamToken: string | undefined = undefined;
  #streamT0 = 0;
  #streamFrames = 0;
  /** Until then the caller's frames are not sent (quietStream). */
  #quietUntil = 0;
  #mediaCodec: SimCodec;
  #dtmfIndex = 0;
  #dtmfSent = 0;
  #dtmfReceived = '';
  #transferredTo: string | null = null;
  /** The other leg of a transfer: the new leg (on the call transferred) or the call transferred (on the new leg). */
  #peer: SimCall | null = null;
  #bridged = false;
  readonly #heard: HeardTimeline = { firstSoundAtMs: null, soundMs: 0, clears: [], lastSoundAtMs: null };
  #lastFrameAtMs: number | null = null;
  #malformed = 0;
  #marksEchoed = 0;
  #clears = 0;
  #streamsOpened = 0;
  #streamsLost = 0;
  #webhooksFailed = 0;
  #recording = false;
  #recordedEver = false;
  #recordingStartedAt: Date | null = null;
  #recordingStartedMs = 0;
  #recordedMs = 0;
  #recordingFormat: 'mp3' | 'wav' = 'mp3';
  #report: CallReport | null = null;

  constructor(ctx: SimCallContext, init: SimCallInit) {
    this.#ctx = ctx;
    this.#init = init;
    this.direction = init.direction;
    this.from = init.from;
    this.to = init.to;
    this.connectionId = init.connectionId;
    this.#clientState = init.clientState;
    this.sessionId = init.transferOf?.sessionId ?? newUuid();
    this.#mediaCodec = init.codec;
    this.#state = init.direction === 'incoming' ? 'parked' : 'ringing';
    this.#log = ctx.logger.child({ callId: this.id, direction: init.direction });
    this.#recorder = new CallRecorder(ctx.recordSamples, ctx.lateSendThresholdMs);
    this.#playout = new Playout(ctx.maxPendingMarks);
    this.done = new Promise<CallReport>((resolve) => (this.#resolveDone = resolve));
  }

  get state(): CallState {
    return this.#state;
  }

  get isAlive(): boolean {
    return this.#state !== 'ended';
  }

  /** Test only: the stream auth token of the latest stream request (for replay tests). Never logged. */
  get testOnlyStreamToken(): string | undefined {
    return this.#streamToken;
  }

  /** Sends `call.initiated` and starts the answer timeout (inbound) or the ring (outbound). */
  begin(): void {
    this.#emit('call.initiated');
    if (this.direction === 'incoming') {
      const timeout = this.#init.answerTimeoutMs ?? 10_000;
      this.#timer = setTimeout(
        () => this.#end('timeout', 'timeout', 'caller', `not answered within ${timeout} ms`),
        timeout,
      );
      return;
    }
    const ringMs = this.#init.ringMs ?? 0;
    const giveUp = this.#init.noAnswerTimeoutMs;
    if (giveUp !== undefined && giveUp < ringMs) {
      this.#timer = setTimeout(() => this.#end('timeout', 'timeout', 'callee', `callee did not answer within ${giveUp} ms`), giveUp);
    } else {
      this.#timer = setTimeout(() => this.#calleeAnswers(), ringMs);
    }
  }

  // ---- Call Control actions (throw ProviderApiError on a refusal) ----

  answer(stream: StreamRequest | undefined, clientState: string | undefined): void {
    this.#assertAlive();
    if (this.#state !== 'parked') {
      throw invalidState(`answer is only valid for a parked incoming call; this call is ${this.#state}`);
    }
    this.#clearTimer();
    if (clientState !== undefined) this.#clientState = clientState;
    this.#becomeAnswered(stream);
  }

  hangup(clientState: string | undefined): void {
    this.#assertAlive();
    if (clientState !== undefined) this.#clientState = clientState;
    const cause = this.#state === 'ringing' ? 'originator_cancel' : 'normal_clearing';
    // The API side is the callee of an inbound call and the caller of an outbound one.
    const source = this.direction === 'incoming' ? 'callee' : 'caller';
    this.#end('gateway', cause, source, 'hangup action');
  }

  startStreaming(stream: StreamRequest, clientState: string | undefined): void {
    this.#assertAnswered('streaming_start');
    // Telnyx does not say what a second streaming_start does while its socket
    // is dead but not yet noticed; the simulator takes it as a replacement.
    if (this.#stream?.state === 'stalled') this.#loseStream(this.#stream);
    if (this.#stream) throw invalidState('a media stream is already active on this call; stop it first');
    if (clientState !== undefined) this.#clientState = clientState;
    this.#openStream(stream);
  }

  stopStreaming(clientState: string | undefined): void {
    this.#assertAnswered('streaming_stop');
    const stream = this.#stream;
    if (!stream) throw invalidState('no media stream is active on this call');
    if (clientState !== undefined) this.#clientState = clientState;
    this.#closeStream(stream);
  }

  /** `send_dtmf`: the digits play to the phone party (recorded for the report). */
  sendDtmf(digits: string, clientState: string | undefined): void {
    this.#assertAnswered('send_dtmf');
    if (clientState !== undefined) this.#clientState = clientState;
    this.#dtmfReceived += digits;
  }

  /**
   * `transfer`: Telnyx dials `to` as a new outgoing leg (its own
   * call_control_id, `call.initiated`, then `call.answered` or `call.hangup`)
   * and bridges it to this call on answer (`call.bridged`). This call stays up
   * meanwhile, and stays up if the new leg is not answered ("The original call
   * will remain active", developers.telnyx.com/api-reference/call-commands/transfer-call).
   * One transfer at a time: the docs are silent on a second one while the first
   * leg is live; the simulator refuses it.
   */
  transfer(request: TransferRequest, clientState: string | undefined): SimCall {
    this.#assertAnswered('transfer');
    if (this.#peer !== null) throw invalidState('a transfer of this call is already in progress');
    const leg = this.#ctx.placeTransferLeg(this, request);
    if (clientState !== undefined) this.#clientState = clientState;
    this.#transferredTo = request.to;
    this.#peer = leg;
    leg.#peer = this;
    return leg;
  }

  /** The transfer's new leg answered: both legs are bridged. */
  #bridge(): void {
    const original = this.#init.transferOf;
    if (!original || original.#state !== 'answered' || original.#peer !== this) return;
    this.#bridged = original.#bridged = true;
    // Each leg gets its own call.bridged (Telnyx: "call.bridged to Leg B" among the expected webhooks).
    this.#emit('call.bridged');
    original.#emit('call.bridged');
    // Assumed (the docs are silent): the phone party now talks to the new leg, so the media
    // fork of the call transferred ends and its own talk timer no longer ends the call.
    const stream = original.#stream;
    if (stream) original.#closeStream(stream);
    original.#talkEndAt = null;
  }

  /**
   * The other leg ended. Bridged: this one ends too (assumed, as a bridge of two legs does
   * on the phone network). Not yet bridged: a call transferred that ends cancels its ringing
   * leg; a leg that ends unanswered leaves the call transferred up (documented).
   */
  #peerEnded(peer: SimCall): void {
    if (this.#peer !== peer) return;
    this.#peer = null;
    if (this.#bridged) {
      const party: EndedBy = this.#init.transferOf ? 'caller' : 'callee';
      this.#end(party, 'normal_clearing', party, 'the bridged leg hung up');
    } else if (!this.#init.transferOf) {
      return;
    } else {
      this.#end('caller', 'originator_cancel', 'caller', 'the call transferred ended before the transfer was answered');
    }
  }

  /** Whether this call is bridged to another leg by a transfer. */
  get bridged(): boolean {
    return this.#bridged;
  }

  recordStart(clientState: string | undefined, format: 'mp3' | 'wav' = 'mp3'): void {
    this.#assertAnswered('record_start');
    if (clientState !== undefined) this.#clientState = clientState;
    if (this.#recording) return;
    this.#recording = true;
    this.#recordingFormat = format;
    this.#recordingStartedMs = performance.now();
    this.#recordingStartedAt ??= new Date();
    this.#recordedEver = true;
  }

  recordStop(clientState: string | undefined): void {
    this.#assertAnswered('record_stop');
    if (!this.#recording) throw invalidState('the call is not being recorded');
    if (clientState !== undefined) this.#clientState = clientState;
    this.#recording = false;
    this.#recordedMs += performance.now() - this.#recordingStartedMs;
  }

  /** Whether the call is being recorded now (record_start accepted, no record_stop since). */
  get recordingNow(): boolean {
    return this.#recording;
  }

  /** Whether record_start was ever accepted on this call. */
  get recordedEver(): boolean {
    return this.#recordedEver;
  }

  /** Ends a live call because the simulator is stopping. */
  shutdown(): void {
    this.#end('error', 'normal_clearing', 'unknown', 'simulator stopped');
  }

  // ---- Views ----

  info(): CallInfo {
    const endMs = this.#endedAt?.getTime() ?? Date.now();
    return {
      record_type: 'call',
      call_control_id: this.id,
      call_leg_id: this.legId,
      call_session_id: this.sessionId,
      is_alive: this.isAlive,
      call_duration: Math.max(0, Math.floor((endMs - this.#startedAt.getTime()) / 1000)),
      client_state: this.#clientState,
      start_time: this.#startedAt.toISOString(),
      ...(this.#endedAt ? { end_time: this.#endedAt.toISOString() } : {}),
    };
  }

  cdr(): CallDetailRecord {
    const durationMs =
      this.#answeredAtMs !== null && this.#endedAtMs !== null ? Math.max(0, Math.round(this.#endedAtMs - this.#answeredAtMs)) : 0;
    return {
      call_control_id: this.id,
      call_session_id: this.sessionId,
      connection_id: this.connectionId,
      direction: this.direction,
      from: this.from,
      to: this.to,
      started_at: this.#startedAt.toISOString(),
      answered_at: this.#answeredAt?.toISOString() ?? null,
      ended_at: this.#endedAt?.toISOString() ?? null,
      duration_secs: Math.ceil(durationMs / 1000),
      duration_ms: durationMs,
      hangup_cause: this.#hangupCause,
      hangup_source: this.#hangupSource,
    };
  }

  /** Live counters, or the final summary once ended (no raw audio). */
  summary(): CallSummary {
    if (this.#report) return toSummary(this.#report);
    return {
      callId: this.id,
      direction: this.direction,
      codec: this.#mediaCodec,
      endedBy: this.#endedBy,
      endReason: this.#endReason,
      framesSent: this.#recorder.framesSent,
      framesReturned: this.#recorder.framesReturned,
      malformedFrames: this.#malformed,
      lateSends: this.#recorder.lateSends,
      echo: null,
      roundTripMs: null,
      sendLagMs: null,
      marksEchoed: this.#marksEchoed,
      clearsReceived: this.#clears,
      streamsOpened: this.#streamsOpened,
      streamsLost: this.#streamsLost,
      dtmfSent: this.#dtmfSent,
      dtmfReceived: this.#dtmfReceived,
      transferredTo: this.#transferredTo,
      heard: { ...this.#heard, clears: [...this.#heard.clears] },
      webhooksFailed: this.#webhooksFailed,
      cdr: this.cdr(),
    };
  }

  // ---- Clock ----

  onTick(now: number): void {
    if (this.#state !== 'answered') return;
    if (this.#timeLimitAt !== null && now >= this.#timeLimitAt) {
      this.#end('timeout', 'time_limit', 'unknown', 'time_limit_secs reached');
      return;
    }
    const stream = this.#stream;
    const streaming = stream !== null && stream.isOpen;
    if (streaming && this.#talkEndAt !== null) {
      for (;;) {
        const planned = this.#streamT0 + FRAME_MS * this.#streamFrames;
        if (planned > now || planned >= this.#talkEndAt) break;
        if (planned < this.#quietUntil) this.#streamFrames++;
        else this.#sendFrame(stream, planned, now);
      }
      for (const name of this.#playout.due(now)) this.#echoMark(stream, name);
    }
    if (this.#talkStartAt !== null) {
      const dtmf = this.#init.dtmf;
      for (let next = dtmf[this.#dtmfIndex]; next && this.#talkStartAt + next.atMs <= now; next = dtmf[this.#dtmfIndex]) {
        this.#dtmfIndex++;
        this.#dtmfSent++;
        if (streaming) stream.sendDtmf(next.digit);
        this.#emit('call.dtmf.received', { digit: next.digit });
      }
    }
    if (this.#talkEndAt !== null && now >= this.#talkEndAt + (streaming ? this.#ctx.tailMs : 0)) {
      this.#phoneSideHangsUp(`after talking ${Math.round(this.#talkEndAt - (this.#talkStartAt ?? this.#talkEndAt))} ms`);
    }
  }

  /**
   * The phone's side (an inbound call's caller, an outbound call's callee)
   * hangs up now, before its talk is over, as a person may: the same
   * `call.hangup` as at the talk's end. A test that needs calls to live
   * until a moment it cannot foresee (its calls placed under load) ends them
   * so. False unless the call is answered.
   */
  hangUpPhoneSide(): boolean {
    if (this.#state !== 'answered') return false;
    this.#phoneSideHangsUp('early');
    return true;
  }

  #phoneSideHangsUp(when: string): void {
    const party: EndedBy = this.direction === 'incoming' ? 'caller' : 'callee';
    this.#end(party, 'normal_clearing', party, `the ${party} hung up ${when}`);
  }

  // ---- Internals ----

  #calleeAnswers(): void {
    this.#timer = null;
    if (this.#state !== 'ringing') return;
    this.#becomeAnswered(this.#init.stream);
    if (this.#init.transferOf) this.#bridge();
    if (this.#init.timeLimitMs !== undefined && this.#answeredAtMs !== null) {
      this.#timeLimitAt = this.#answeredAtMs + this.#init.timeLimitMs;
    }
  }

  #becomeAnswered(stream: StreamRequest | undefined): void {
    this.#state = 'answered';
    this.#answeredAt = new Date();
    this.#answeredAtMs = performance.now();
    this.#emit('call.answered');
    this.#ctx.clock.add(this);
    if (stream) {
      this.#openStream(stream);
    } else {
      this.#talkStartAt = this.#answeredAtMs;
      this.#talkEndAt = this.#answeredAtMs + this.#init.talkMs;
    }
  }

  #openStream(request: StreamRequest): void {
    this.#streamToken = request.token;
    const resolved = this.#ctx.tunnels.resolveStreamUrl(request.url);
    const codec = request.codec ?? this.#init.codec;
    if ('error' in resolved) {
      this.#streamFailed(request.url, resolved.error);
      return;
    }
    const stream: MediaStreamClient = new MediaStreamClient({
      target: resolved.target,
      tunnelHost: resolved.tunnelHost,
      tunnelHeaders: this.#ctx.tunnelHeaders,
      token: request.token,
      codec,
      returnCodec: request.returnCodec ?? codec,
      returnSampleRate: request.returnSampleRate,
      logger: this.#log,
      handshakeTimeoutMs: this.#ctx.handshakeTimeoutMs,
      handlers: {
        onOpen: () => this.#onStreamOpen(stream),
        onConnectFailed: (reason) => {
          if (this.#stream !== stream) return;
          this.#stream = null;
          this.#streamFailed(request.url, reason);
        },
        onPeerClosed: (code, reason) => this.#onStreamPeerClosed(stream, code, reason),
        onMedia: (pcm, arrivalMs) => {
          if (this.#stream !== stream || this.#state !== 'answered') return;
          this.#recorder.recordReturned(arrivalMs, pcm);
          this.#hear(pcm, arrivalMs);
          this.#playout.enqueueAudio(arrivalMs, pcm.length);
        },
        onMark: (name, arrivalMs) => {
          if (this.#stream !== stream) return;
          for (const due of this.#playout.mark(arrivalMs, name)) this.#echoMark(stream, due);
        },
        onClear: (arrivalMs) => {
          if (this.#stream !== stream) return;
          this.#clears++;
          this.#heard.clears.push({ atMs: arrivalMs, soundMsBefore: this.#heard.soundMs, lastFrameBeforeAtMs: this.#lastFrameAtMs });
          for (const due of this.#playout.clear(arrivalMs)) this.#echoMark(stream, due);
        },
        onMalformed: (why) => {
          this.#malformed++;
          if (this.#malformed <= 5) this.#log.warn({ why }, 'malformed frame from the gateway');
        },
      },
    });
    this.#stream = stream;
    this.#streamUrl = request.url;
    this.#mediaCodec = codec;
    stream.connect();
  }

  #onStreamOpen(stream: MediaStreamClient): void {
    if (this.#stream !== stream || this.#state !== 'answered') {
      stream.stopAndClose(this.id);
      return;
    }
    stream.sendStart({
      callControlId: this.id,
      callSessionId: this.sessionId,
      from: this.from,
      to: this.to,
      clientState: this.#clientState,
    });
    this.#streamT0 = this.#ctx.clock.add(this);
    this.#streamFrames = 0;
    if (this.#streamsOpened > 0) this.#recorder.newStream();
    this.#streamsOpened++;
    if (this.#talkStartAt === null) {
      this.#talkStartAt = this.#streamT0;
      this.#talkEndAt = this.#streamT0 + this.#init.talkMs;
    }
    this.#emit('streaming.started', { stream_url: this.#streamUrl ?? undefined, stream_id: stream.streamId });
    this.#log.debug({ streamId: stream.streamId }, 'media stream open');
  }

  /**
   * The gateway (or the path to it) closed the stream. As with Telnyx, the
   * stream is a fork of the call, not the call: the call goes on without
   * media until someone hangs up, and `streaming_start` may open a new stream.
   */
  #onStreamPeerClosed(stream: MediaStreamClient, code: number, reason: string): void {
    if (this.#stream !== stream) return;
    this.#stream = null;
    this.#streamsLost++;
    this.#emit('streaming.stopped', { stream_url: this.#streamUrl ?? undefined, stream_id: stream.streamId });
    this.#log.debug({ code, reason, streamId: stream.streamId }, 'media stream closed by the far end; the call goes on');
  }

  /**
   * The network path to the gateway breaks (a tunnel reconnect, say): the
   * socket is dropped without a close frame, as a lost connection looks to
   * the far end, and the call goes on without media. False when no stream is open.
   */
  dropStream(): boolean {
    const stream = this.#stream;
    if (!stream || !stream.isOpen) return false;
    this.#loseStream(stream);
    return true;
  }

  /**
   * The path to the gateway goes silent both ways and stays open (a
   * half-open connection): no media, no pong, no close seen from either end.
   * The stream counts as lost when a new one replaces it or the call ends.
   * False when no stream is open.
   */
  stallStream(): boolean {
    const stream = this.#stream;
    if (!stream || !stream.isOpen) return false;
    stream.stall();
    return true;
  }

  /** How long the far party has talked so far (its whole talk once over), ms; 0 before its stream opened. */
  get talkedMs(): number {
    if (this.#talkStartAt === null || this.#talkEndAt === null) return 0;
    return Math.max(0, Math.round(Math.min(this.#talkEndAt, performance.now()) - this.#talkStartAt));
  }

  /**
   * The far party stops talking now and hangs up as at the end of their talk
   * time (after the tail): for a test whose call must last until something
   * else is done, however long that takes on a loaded machine. False when the
   * call is not talking (not answered, or its talk time is already over).
   */
  endTalkNow(): boolean {
    if (this.#state !== 'answered' || this.#talkEndAt === null) return false;
    const now = performance.now();
    if (this.#talkEndAt <= now) return false;
    this.#talkEndAt = now;
    return true;
  }

  /**
   * The caller's side sends no media for `ms` (as a provider may while a
   * call is on hold), over a stream that stays healthy: pings are answered.
   * False when no stream is open.
   */
  quietStream(ms: number): boolean {
    if (!this.#stream?.isOpen) return false;
    this.#quietUntil = performance.now() + ms;
    return true;
  }

  #loseStream(stream: MediaStreamClient): void {
    this.#stream = null;
    this.#streamsLost++;
    stream.terminate();
    this.#emit('streaming.stopped', { stream_url: this.#streamUrl ?? undefined, stream_id: stream.streamId });
  }

  #streamFailed(url: string, reason: string): void {
    this.#log.warn({ reason }, 'media stream failed');
    this.#emit('streaming.failed', { stream_url: url, failure_reason: reason });
    if (this.#ctx.onStreamFailure === 'hangup') this.#end('stream_failed', 'unspecified', 'unknown', `streaming failed: ${reason}`);
  }

  /** Our side stops the stream: `stop`, close 1000, `streaming.stopped`. */
  #closeStream(stream: MediaStreamClient): void {
    if (stream.state === 'stalled') return this.#loseStream(stream);
    this.#stream = null;
    const wasOpen = stream.isOpen;
    stream.stopAndClose(this.id);
    if (wasOpen) this.#emit('streaming.stopped', { stream_url: this.#streamUrl ?? undefined, stream_id: stream.streamId });
  }

  #sendFrame(stream: MediaStreamClient, planned: number, now: number): void {
    const frame = this.#init.audio.next(stream.codec);
    this.#recorder.recordSent(planned, now, frame.pcm);
    stream.sendMedia(frame.payload, FRAME_MS * this.#streamFrames);
    this.#streamFrames++;
  }

  #hear(pcm: Int16Array, arrivalMs: number): void {
    this.#lastFrameAtMs = arrivalMs;
    let energy = 0;
    for (let i = 0; i < pcm.length; i++) energy += pcm[i]! * pcm[i]!;
    // -45 dBFS RMS: above G.711's idle noise, below any speech or tone.
    if (energy / pcm.length < SOUND_THRESHOLD_SQ) return;
    if (this.#heard.firstSoundAtMs === null) this.#heard.firstSoundAtMs = arrivalMs;
    this.#heard.lastSoundAtMs = arrivalMs;
    this.#heard.soundMs += (pcm.length * 1000) / SAMPLE_RATE;
  }

  #echoMark(stream: MediaStreamClient, name: string): void {
    stream.sendMark(name);
    this.#marksEchoed++;
  }

  #end(endedBy: EndedBy, cause: string, source: string, reason: string): void {
    if (this.#state === 'ended') return;
    this.#state = 'ended';
    this.#endedAt = new Date();
    this.#endedAtMs = performance.now();
    this.#endedBy = endedBy;
    this.#endReason = reason;
    this.#hangupCause = cause;
    this.#hangupSource = source;
    this.#clearTimer();
    this.#ctx.clock.remove(this);
    const stream = this.#stream;
    if (stream) this.#closeStream(stream);
    this.#emit('call.hangup', { hangup_cause: cause, hangup_source: source, end_time: this.#endedAt.toISOString() });
    if (this.#recordedEver) {
      if (this.#recording) this.#recordedMs += this.#endedAtMs - this.#recordingStartedMs;
      this.#recording = false;
      const saved = this.#ctx.saveRecording(this, {
        durationMs: this.#recordedMs,
        format: this.#recordingFormat,
        startedAt: this.#recordingStartedAt ?? this.#endedAt,
        endedAt: this.#endedAt,
      });
      const urls = { [this.#recordingFormat]: saved.url };
      this.#emit('call.recording.saved', {
        recording_id: saved.id,
        recording_started_at: this.#recordingStartedAt?.toISOString(),
        recording_ended_at: this.#endedAt.toISOString(),
        channels: 'single',
        format: this.#recordingFormat,
        recording_urls: urls,
        public_recording_urls: urls,
      });
    }
    this.#log.info({ endedBy, cause, reason, framesSent: this.#recorder.framesSent }, 'call ended');
    const peer = this.#peer;
    if (peer) peer.#peerEnded(this);
    void this.#finish();
  }

  async #finish(): Promise<void> {
    await this.#ctx.webhooks.drain(this.id);
    const analysis = await this.#recorder.analyse(this.#ctx.echoMaxLagSamples, this.#ctx.correlate);
    const report: CallReport = {
      callId: this.id,
      direction: this.direction,
      codec: this.#mediaCodec,
      endedBy: this.#endedBy ?? 'error',
      endReason: this.#endReason ?? 'unknown',
      framesSent: this.#recorder.framesSent,
      framesReturned: this.#recorder.framesReturned,
      malformedFrames: this.#malformed,
      lateSends: this.#recorder.lateSends,
      echo: analysis.echo,
      roundTripMs: analysis.roundTripMs,
      sendLagMs: analysis.sendLagMs,
      marksEchoed: this.#marksEchoed,
      clearsReceived: this.#clears,
      streamsOpened: this.#streamsOpened,
      streamsLost: this.#streamsLost,
      dtmfSent: this.#dtmfSent,
      dtmfReceived: this.#dtmfReceived,
      transferredTo: this.#transferredTo,
      heard: { ...this.#heard, clears: [...this.#heard.clears] },
      webhooksFailed: this.#webhooksFailed,
      cdr: this.cdr(),
      sentPcm: analysis.sentPcm,
      returnedPcm: analysis.returnedPcm,
      roundTripSamplesMs: analysis.roundTripSamplesMs,
    };
    this.#report = report;
    this.#ctx.onEnded(this, report);
    this.#resolveDone(report);
  }

  #emit(event: WebhookEventType, extra: Partial<CallPayload> = {}): void {
    const payload: CallPayload = {
      call_control_id: this.id,
      call_leg_id: this.legId,
      call_session_id: this.sessionId,
      connection_id: this.connectionId,
      client_state: this.#clientState,
      ...webhookFacts(event, { direction: this.direction, from: this.from, to: this.to, state: this.#wireState(), startTime: this.#startedAt.toISOString() }),
    };
    for (const [key, value] of Object.entries(extra)) if (value !== undefined) payload[key] = value;
    void this.#ctx.webhooks.send(this.id, event, payload).then((sent) => {
      this.#webhooksFailed += sent.outcomes.filter((o) => !o.ok).length;
    });
  }

  #wireState(): string {
    switch (this.#state) {
      case 'parked':
        return 'parked';
      case 'ringing':
        return 'bridging';
      case 'answered':
        return 'answered';
      case 'ended':
        return 'hangup';
    }
  }

  #assertAlive(): void {
    if (this.#state === 'ended') {
      throw new ProviderApiError(422, PROVIDER_CODE_CALL_ENDED, 'Call has already ended', 'This call is no longer active and can not receive commands.');
    }
  }

  #assertAnswered(action: string): void {
    this.#assertAlive();
    if (this.#state !== 'answered') throw invalidState(`${action} needs an answered call; this call is ${this.#state}`);
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

const SOUND_THRESHOLD_SQ = (32768 * 10 ** (-45 / 20)) ** 2;

function invalidState(detail: string): ProviderApiError {
  return new ProviderApiError(422, PROVIDER_CODES.INVALID_CALL_STATE, 'Invalid call state', detail);
}
