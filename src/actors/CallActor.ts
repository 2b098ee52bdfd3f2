/**
 * One call's media, on a worker thread. Handles one message at a time and
 * owns its state: nothing outside touches it.
 *
 * Caller -> agent: provider JSON frame -> base64 -> adaptive jitter buffer
 * (holds payloads by `chunk`, reorders, drops duplicates and late frames)
 * -> decode in playout order, concealing losses (PayloadPlayout) -> resample
 * to the agent's rate -> agent. Agent -> caller: resample to the phone rate
 * -> exact 20 ms frames -> encode -> queue -> paced out one frame per 20 ms
 * on the worker's shared monotonic clock (no bursts after stalls).
 *
 * Barge-in: when the caller talks over the agent (the agent's VAD says so,
 * or our SpeechDetector on caller audio), the queue is dropped at once, the
 * provider is told `clear`, and the agent learns how much of its audio was
 * played (frames paced out since the last barge-in).
 */
import type { AgentActionResult, AgentAdapter, AgentCall, AgentEvent } from '../agent/AgentAdapter.js';
import type { BargeInConfig } from '../agent/agentConfig.js';
import { ErrorCodes, isTtmaError } from '../errors.js';
import { createPhoneCodec, type PhoneCodec, type PhoneMediaFormat } from '../media/codecs.js';
import { FRAME_MS, samplesPerFrame } from '../media/constants.js';
import { Framer } from '../media/Framer.js';
import { frameArena } from '../media/FrameArena.js';
import { JitterBuffer } from '../media/JitterBuffer.js';
import { PayloadPlayout } from '../media/PayloadPlayout.js';
import { LivePacer } from '../media/LivePacer.js';
import { PacerSchedule } from '../media/PacerSchedule.js';
import { SpeechDetector } from '../media/SpeechDetector.js';
import { createResampler, type CallResampler } from '../media/createResampler.js';
import type { ProviderMediaFrame } from '../wire/telnyx.js';
import { newMediaFrameScan, scanMediaFrame, type MediaFrameScan } from '../wire/mediaFrameScan.js';
import { LatencyStats } from './LatencyStats.js';
import { OutboundQueue, type QueueWeight } from '../media/OutboundQueue.js';
import type { SharedQueueBudget } from '../media/SharedQueueBudget.js';
import { PromptAudio, type PromptPcm } from '../media/PromptAudio.js';
import { MAX_PENDING_MARKS, PlayoutMarks, isValidMarkName } from './PlayoutMarks.js';
import { Mailbox } from './Mailbox.js';
import { RefusalLog } from '../RefusalLog.js';
import type { RequestId } from '../agent/requestId.js';
import type { AgentAction, CallLiveStats, CallSummary, JitterSummary } from './messages.js';

/** WebSocket close codes we use (RFC 6455 section 7.4.1). */
export const CLOSE_POLICY = 1008;
export const CLOSE_UNSUPPORTED = 1003;

/** Largest media payload we accept: 20 ms of L16 at 48 kHz, with room. */
const MAX_PAYLOAD_BYTES = 4096;
/** Base64 text longer than this cannot fit MAX_PAYLOAD_BYTES. */
const MAX_PAYLOAD_CHARS = (MAX_PAYLOAD_BYTES / 3) * 4;
/**
 * Agent audio queued toward the phone beyond these is dropped oldest-first.
 * A live-timed agent's queue is lag (5 s). A buffered agent sends speech as
 * fast as it makes it, so its queue is speech not yet due: 120 s of it, and at
 * most 2 MiB of frame text (about 2.4 MB of heap: 120 s of PCMU, G.722 or
 * Opus, 47 s of L16 at 16 kHz), which only a call whose agent is that far
 * ahead holds. The greeting counts against neither (OutboundQueue.pushReserved).
 * These add up past a worker's heap, so every call's queue also shares the
 * worker's bound on queued agent audio (agentAudioBudget.ts), past which the
 * calls holding more than their fair share drop their oldest frames.
 */
export const LIVE_OUT_QUEUE_FRAMES = 250;
export const BUFFERED_OUT_QUEUE_FRAMES = 6_000;
export const BUFFERED_OUT_QUEUE_CHARS = 2 * 1024 * 1024;
const FRAME_TEXT: QueueWeight<string> = { max: BUFFERED_OUT_QUEUE_CHARS, of: (frame) => frame.length };
/** A live-timed queue is bounded by frames alone; its text is weighed only for the worker's shared bound. */
const LIVE_FRAME_TEXT: QueueWeight<string> = { max: Number.POSITIVE_INFINITY, of: (frame) => frame.length };
const PACER_LEAD_MS = 1;
/**
 * Arrival times remembered by chunk number, for the latency record of frames the jitter buffer plays later.
 * A frame is played while at most the buffer's capacity of later chunks is held (jitterMaxDelayMs of at
 * most 1 s: 54 frames), so 128 slots never wrap onto a frame still waiting.
 */
const ARRIVAL_RING = 128;
/**
 * Scratch shared by every call on this thread: each frame's payload is decoded into it and copied
 * out (or encoded into it and turned into base64) before anything else runs, and per call they were
 * 4 KiB each of the call's memory (bench/callMemory.ts).
 */
const PAYLOAD_SCRATCH = Buffer.allocUnsafe(MAX_PAYLOAD_BYTES);
const PAYLOAD_OUT = new Uint8Array(MAX_PAYLOAD_BYTES);

/** Per-call media settings, from the gateway config (passed to workers once). */
export interface CallActorSettings {
  /** Bounded media mailbox: frames kept before the oldest is dropped. */
  mailboxFrames: number;
  /** Jitter buffer target delay floor and ceiling (ms). */
  jitterMinDelayMs: number;
  jitterMaxDelayMs: number;
  /** Played to the caller when the call's media starts, before the agent's audio (null: none). */
  greeting: PromptPcm | null;
  /** Played while the agent consults (replaces the built-in cue; null: the cue). */
  hold: PromptPcm | null;
}
/** The mark sent after an agent's farewell; its echo means the caller heard it all. */
export const HANGUP_MARK = 'ttma-hangup';
/** A provider that never echoes marks still gets its hang-up this long after the farewell left. */
const HANGUP_MARK_TIMEOUT_MS = 2_000;
const CLEAR_FRAME = '{"event":"clear"}';
/**
 * The agent counts as audible this long after its last frame left: agents
 * that stream in real time (chunk by chunk) leave the queue empty for a few
 * ms between chunks, and barge-in must not miss them there.
 */
const AUDIBLE_GAP_MS = 200;

export interface CallActorHooks {
  /** Send a text frame to the phone (batched by the worker); `agentAtMs`: when its audio came from the agent. */
  emitMedia(slot: number, text: string, agentAtMs?: number): void;
  /**
   * Caller audio handed to the agent: ms since it reached the front, less the
   * jitter buffer's hold (`holdMs`, reported apart). For the bench's histograms.
   */
  recordInbound?(addedMs: number, holdMs: number): void;
  /** A frame toward the phone left; `paceHoldMs`: how long the live pacer's spacing held it (the rest of its wait is the thread's). */
  recordPaced?(paceHoldMs: number): void;
  /** Ask the main thread to close this call's media socket. */
  requestClose(slot: number, code: number, reason: string): void;
  /** A stream's `start` named it (the provider's `stream_id`), for the main thread. */
  streamStarted?(slot: number, streamId: string): void;
  /** The agent asks for something only the ControlActor can do (hang up, transfer, dial, DTMF). */
  agentAction(slot: number, action: AgentAction): void;
  log(slot: number, level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>): void;
  now(): number;
  /** The agent's reconnects were stopped for a call (agentReconnects.ts): the worker's counter (metrics). */
  agentReconnectsStopped?(): void;
  /** Each frame's added latency (ms) as it is paced out: the worker's histogram (metrics). */
  addedLatency?(ms: number): void;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

export class CallActor {
  readonly slot: number;
  readonly callId: string;
  readonly #call: AgentCall;
  readonly #agent: AgentAdapter;
  readonly #hooks: CallActorHooks;
  readonly #bargeInConfig: BargeInConfig;
  readonly #mailbox: Mailbox<{ frame: Uint8Array; atMs: number; stale: boolean }>;
  readonly #pacer: LivePacer | PacerSchedule;
  readonly #latency = new LatencyStats();
  readonly #startedAtMs: number;
  readonly #scan = newMediaFrameScan();
  readonly #settings: CallActorSettings;
  #agentReady = false;
  /** The frame being handled is stale (see enqueue). */
  #staleInput = false;
  /** Caller frames dropped as stale. */
  #backlogDrops = 0;
  #codec: PhoneCodec | null = null;
  #jitter: JitterBuffer<Uint8Array> | null = null;
  #playout: PayloadPlayout | null = null;
  /** Arrival time by chunk number (ring), NaN when unknown. */
  readonly #arrivals = new Float64Array(ARRIVAL_RING).fill(NaN);
  /** When each chunk went into the jitter buffer (ring), for its hold time. */
  readonly #pushedAt = new Float64Array(ARRIVAL_RING).fill(NaN);
  /** The provider sent `stop`: no more caller audio, so nothing more to conceal. */
  #inputStopped = false;
  /** The stream was lost and a new one asked for: the next `start` resumes this call (streamLost). */
  #awaitingStream = false;
  /** Chunk counter for frames without a readable `chunk` (arrival order). */
  #implicitChunk = 0;
  #toAgent: CallResampler | null = null;
  #toPhone: CallResampler | null = null;
  #framer: Framer | null = null;
  /** Agent audio resampled to the phone's rate, before framing (grows to the largest chunk seen). */
  #toPhoneScratch = new Int16Array(0);
  /** The phone frame being encoded (the framer copies into it). */
  #phoneFrame: Int16Array | null = null;
  /** Encoded payload bytes of one phone frame, turned into base64 at once: exactly a frame for fixed-size codecs (their encoders fill all of it), room for any packet for Opus. */
  #payloadOut = new Uint8Array(0);
  #detector: SpeechDetector | null = null;
  /** Provider frames toward the phone, with the agent's marks; per frame, when the audio behind it reached us (caller frame for echo, agent chunk otherwise). */
  readonly #outQueue: OutboundQueue<string>;
  readonly #playoutMarks: PlayoutMarks;
  #clearedFrames = 0;
  #framesIn = 0;
  #framesOut = 0;
  #malformed = 0;
  #ended = false;
  #endReason = '';
  #endedAtMs = 0;
  /** Arrival time of the caller frame being handled (for the echo's latency record). */
  #currentInMs = 0;
  /** Agent audio paced out to the caller since the last barge-in, ms. */
  #playedMs = 0;
  #bargeIns = 0;
  #lastOutAt = Number.NEGATIVE_INFINITY;
  #pendingHangup: string | null = null;
  /**
   * The agent asked to hang up: its audio from then on is dropped and counted. The hang-up waits for
   * what was sent before it (docs/agent-protocols.md), not for audio that keeps coming after it.
   */
  #hangupAsked = false;
  #samplesAfterHangup = 0;
  #hangupMarkAt: number | null = null;
  /** Added latency since the last liveStats() (the dashboard's "now" figure, without sorting). */
  #recentLatencySum = 0;
  #recentLatencyCount = 0;
  /** The worker's bound on queued agent audio, shared by its calls (null: this queue's own bounds only). */
  readonly #budget: SharedQueueBudget | null;
  /** This call has been told (logged) that it lost audio to that bound: once a call. */
  #budgetDropLogged = false;

  /** The agent's refused and ignored messages, bounded. */
  readonly #agentLog: RefusalLog;

  constructor(
    slot: number,
    call: AgentCall,
    agent: AgentAdapter,
    hooks: CallActorHooks,
    settings: CallActorSettings,
    bargeIn: BargeInConfig,
    budget: SharedQueueBudget | null = null,
  ) {
    this.slot = slot;
    this.callId = call.callId;
    this.#call = call;
    this.#agent = agent;
    // An agent in a loop sending what is refused gets 10 lines a second per call, then a count (RefusalLog).
    this.#agentLog = new RefusalLog(
      { warn: (_fields, msg) => hooks.log(slot, 'warn', msg), error: (_fields, msg) => hooks.log(slot, 'error', msg) },
      { burst: AGENT_LOG_LINES_PER_SECOND, windowMs: 1_000 },
    );
    this.#hooks = hooks;
    this.#bargeInConfig = bargeIn;
    this.#playoutMarks = new PlayoutMarks(
      (providerName) => this.#hooks.emitMedia(this.slot, `{"event":"mark","mark":{"name":${JSON.stringify(providerName)}}}`),
      (name) => this.#agent.markPlayed(name),
    );
    this.#settings = settings;
    this.#budget = budget;
    const shared = budget ?? undefined;
    this.#outQueue =
      agent.audioTiming === 'live'
        ? new OutboundQueue(LIVE_OUT_QUEUE_FRAMES, shared && LIVE_FRAME_TEXT, shared)
        : new OutboundQueue(BUFFERED_OUT_QUEUE_FRAMES, FRAME_TEXT, shared);
    this.#mailbox = new Mailbox(settings.mailboxFrames);
    this.#startedAtMs = hooks.now();
    this.#pacer = agent.audioTiming === 'live' ? new LivePacer(FRAME_MS, PACER_LEAD_MS) : new PacerSchedule(FRAME_MS, PACER_LEAD_MS);
  }

  /** Pre-warm the agent on call.initiated, before the caller hears anything. */
  async openAgent(): Promise<void> {
    await this.#agent.open(this.#call, {
      audio: (pcm) => this.#onAgentAudio(pcm),
      event: (event) => this.#onAgentEvent(event),
    });
    this.#agentReady = true;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Queue one provider frame (a view valid as long as its batch is
   * referenced). `stale`: it reached this thread too long after the front
   * read it (the worker is behind), so caller audio in it is dropped unplayed.
   */
  enqueue(frame: Uint8Array, nowMs: number, stale = false): void {
    if (this.#ended) return;
    this.#mailbox.push({ frame, atMs: nowMs, stale });
  }

  /**
   * Handle one frame at once when nothing waits before it (the usual case when
   * this thread owns the socket): no copy, no queue; `frame` is not kept. False:
   * it must wait (agent warming up, frames queued), so the caller copies it and
   * calls `enqueue`.
   */
  handleNow(frame: Uint8Array, nowMs: number): boolean {
    if (this.#ended) return true;
    if (!this.#agentReady || this.#mailbox.size > 0) return false;
    this.#currentInMs = nowMs;
    this.#staleInput = false;
    this.#handle(frame);
    return true;
  }

  /** Handle queued frames, one at a time; frames wait while the agent warms up. */
  drain(): void {
    if (!this.#agentReady) return;
    for (let item = this.#mailbox.shift(); item && !this.#ended; item = this.#mailbox.shift()) {
      this.#currentInMs = item.atMs;
      this.#staleInput = item.stale;
      this.#handle(item.frame);
    }
  }

  /**
   * Called on every clock tick and after each drain: play what the jitter
   * buffer has due toward the agent, then send at most one due frame to the phone.
   */
  pump(nowMs: number): void {
    if (this.#ended) return;
    if (this.#jitter && this.#agentReady && !this.#inputStopped) this.#playDue(nowMs);
    if (this.#ended) return;
    if (this.#budget !== null && this.#budget.over) this.#shedForBudget();
    if (this.#outQueue.length === 0) return this.#maybeHangUp(nowMs);
    const pacer = this.#pacer;
    const queue = this.#outQueue;
    // A live pacer may owe several frames when this thread ran late; a schedule never more than one.
    const headAgentAt = queue.headAgentAtMs;
    const due = pacer instanceof LivePacer ? pacer.due(nowMs, queue.length, Number.isNaN(headAgentAt) ? nowMs : headAgentAt) : pacer.due(nowMs, queue.length);
    const recordPaced = this.#hooks.recordPaced;
    for (let i = 0; i < due; i++) {
      const inAt = queue.headInAtMs;
      const agentAt = queue.headAgentAtMs;
      const text = queue.shift() as string;
      if (!Number.isNaN(inAt)) {
        const added = nowMs - inAt;
        this.#latency.record(added);
        this.#recentLatencySum += added;
        this.#recentLatencyCount++;
        this.#hooks.addedLatency?.(added);
      }
      if (recordPaced && !Number.isNaN(agentAt) && pacer instanceof LivePacer) {
        // Held by the spacing rule until nextAllowedMs at most; anything past that was the thread running late.
        recordPaced(Math.min(Math.max(0, pacer.nextAllowedMs - agentAt), nowMs - agentAt));
      }
      this.#hooks.emitMedia(this.slot, text, Number.isNaN(agentAt) ? undefined : agentAt);
      this.#playoutMarks.sent(queue.passedMarks());
      pacer.sent(nowMs);
      this.#framesOut++;
      this.#playedMs += FRAME_MS;
      this.#lastOutAt = nowMs;
    }
  }

  /** The platform's answer to something the agent asked for. */
  agentResult(result: AgentActionResult): void {
    if (!this.#ended) this.#agent.actionResult(result);
  }

  end(reason: string, nowMs: number): CallSummary {
    if (!this.#ended) {
      this.#ended = true;
      this.#agent.close();
      this.#agentLog.close();
      if (this.#samplesAfterHangup > 0) {
        const ms = Math.round((this.#samplesAfterHangup * 1000) / this.#agent.sampleRate);
        this.#hooks.log(this.slot, 'info', `agent audio sent after its hangup was dropped: ${ms} ms`);
      }
      this.#mailbox.clear();
      // Its queued audio will never play: give it back to the worker's bound now.
      this.#outQueue.clear();
      this.#endReason = reason;
      this.#endedAtMs = nowMs;
    }
    const marks = this.#agent.marks.summary();
    return {
      callId: this.callId,
      codec: this.#codec?.name ?? null,
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      malformedFrames: this.#malformed,
      mailboxDrops: this.#mailbox.dropped + this.#outQueue.overflowDrops + this.#clearedFrames + this.#backlogDrops,
      pacerLate: this.#pacer.late,
      jitter: this.#jitterSummary(),
      workerLatencyMs: this.#latency.summary(),
      durationMs: Math.round(this.#endedAtMs - this.#startedAtMs),
      endReason: this.#endReason,
      agent: { kind: this.#agent.kind, openMs: marks.openMs, turnLatencyMs: marks.turnLatencyMs, bargeIns: this.#bargeIns },
    };
  }

  /**
   * Counters so far and the last second's figures, for the worker's periodic
   * snapshot (metrics, dashboard). Cheap: no sorting; resets the recent mean.
   */
  liveStats(nowMs: number): CallLiveStats {
    const s = this.#jitter?.stats;
    const latencyMs = this.#recentLatencyCount === 0 ? null : round2(this.#recentLatencySum / this.#recentLatencyCount);
    this.#recentLatencySum = 0;
    this.#recentLatencyCount = 0;
    return {
      callId: this.callId,
      codec: this.#codec?.name ?? null,
      agent: this.#agent.kind,
      durationMs: Math.round(nowMs - this.#startedAtMs),
      framesIn: this.#framesIn,
      framesOut: this.#framesOut,
      lost: s?.lost ?? 0,
      concealed: s?.concealed ?? 0,
      late: s?.late ?? 0,
      malformed: this.#malformed,
      mailboxDrops: this.#mailbox.dropped + this.#outQueue.overflowDrops + this.#clearedFrames + this.#backlogDrops,
      jitterMs: s ? round2(s.jitterMs) : null,
      latencyMs,
    };
  }

  #handle(bytes: Uint8Array): void {
    // Media frames in place (src/wire/mediaFrameScan.ts); everything else, and any form the scan does not read, through JSON.parse.
    if (scanMediaFrame(bytes, this.#scan, PAYLOAD_SCRATCH)) return this.#onScannedMedia(this.#scan);
    let frame: ProviderMediaFrame;
    try {
      frame = JSON.parse(decoder.decode(bytes)) as ProviderMediaFrame;
    } catch {
      this.#malformed++;
      return;
    }
    if (frame === null || typeof frame !== 'object') {
      this.#malformed++;
      return;
    }
    switch (frame.event) {
      case 'connected':
        return;
      case 'mark': {
        const name = frame.mark?.name;
        if (typeof name !== 'string') return;
        if (name === HANGUP_MARK && this.#pendingHangup !== null) this.#hangUpNow();
        else this.#playoutMarks.echoed(name);
        return;
      }
      case 'start':
        return this.#onStart(frame);
      case 'media':
        return this.#onMedia(frame);
      case 'dtmf':
        if (typeof frame.dtmf?.digit === 'string' && /^[0-9*#A-D]$/.test(frame.dtmf.digit)) this.#agent.pushDtmf(frame.dtmf.digit);
        return;
      case 'stop':
        return this.#onStop();
      case 'error':
        return;
      default:
        this.#malformed++;
    }
  }

  #onStart(frame: Extract<ProviderMediaFrame, { event: 'start' }>): void {
    if (frame.start?.call_control_id !== this.callId) {
      // The stream must be the call the token was minted for (FAQ-07).
      this.#hooks.requestClose(this.slot, CLOSE_POLICY, `${ErrorCodes.MEDIA_PROTOCOL}: start frame names another call`);
      return;
    }
    if (typeof frame.stream_id === 'string') this.#hooks.streamStarted?.(this.slot, frame.stream_id);
    if (this.#codec) {
      if (this.#awaitingStream) this.#resumeStream(frame.start.media_format);
      return; // otherwise a repeated start changes nothing
    }
    try {
      this.#codec = createPhoneCodec(frame.start.media_format ?? { encoding: '' });
    } catch (err) {
      const message = isTtmaError(err) ? `${err.code}: ${err.message}` : 'unreadable media_format';
      this.#hooks.requestClose(this.slot, CLOSE_UNSUPPORTED, message);
      return;
    }
    this.#playout = new PayloadPlayout(this.#codec);
    this.#jitter = new JitterBuffer<Uint8Array>({
      samplesPerFrame: samplesPerFrame(this.#codec.sampleRate),
      minDelayMs: this.#settings.jitterMinDelayMs,
      maxDelayMs: this.#settings.jitterMaxDelayMs,
      concealer: this.#playout as never,
      eager: true,
    });
    this.#toAgent = createResampler(this.#codec.sampleRate, this.#agent.sampleRate);
    this.#toPhone = createResampler(this.#agent.sampleRate, this.#codec.sampleRate);
    this.#framer = new Framer(samplesPerFrame(this.#codec.sampleRate));
    this.#phoneFrame = new Int16Array(this.#framer.samplesPerFrame);
    this.#payloadOut = this.#codec.frameBytes ? PAYLOAD_OUT.subarray(0, this.#codec.frameBytes) : PAYLOAD_OUT;
    this.#queueGreeting();
    if (this.#agent.bargeIn === 'gateway') {
      this.#detector = new SpeechDetector({ sampleRate: this.#codec.sampleRate, ...this.#bargeInConfig });
    }
    this.#agent.callStarted();
  }

  /**
   * The media socket was lost without the provider's `stop` (a tunnel
   * reconnect, say) and the gateway asks the provider for a new stream. The
   * call, its agent session and its pacer carry on meanwhile (what is paced
   * out has no socket to go to, as on a broken line). False when there is
   * nothing to resume: no stream yet, or the provider had stopped it.
   */
  streamLost(): boolean {
    if (!this.#codec || this.#inputStopped || this.#ended) return false;
    this.#awaitingStream = true;
    // Marks sent to the lost stream will never be echoed: their audio was paced out, so they count as played.
    this.#playoutMarks.streamLost();
    return true;
  }

  /** The new stream's `start`: the same media format, or the call cannot go on with this codec state. */
  #resumeStream(format: PhoneMediaFormat | undefined): void {
    let next: PhoneCodec;
    try {
      next = createPhoneCodec(format ?? { encoding: '' });
    } catch (err) {
      this.#hooks.requestClose(this.slot, CLOSE_UNSUPPORTED, isTtmaError(err) ? `${err.code}: ${err.message}` : 'unreadable media_format');
      return;
    }
    const current = this.#codec!;
    if (next.name !== current.name || next.sampleRate !== current.sampleRate) {
      this.#hooks.requestClose(this.slot, CLOSE_UNSUPPORTED, `${ErrorCodes.CODEC_UNSUPPORTED}: the new stream is ${next.name} at ${next.sampleRate} Hz, the call ${current.name} at ${current.sampleRate} Hz`);
      return;
    }
    this.#awaitingStream = false;
    // A new stream numbers its chunks from 1 again: forget the old one's order and arrival times.
    this.#jitter!.reset();
    this.#implicitChunk = 0;
    this.#arrivals.fill(NaN);
    this.#pushedAt.fill(NaN);
    this.#playoutMarks.streamLost();
  }

  #onMedia(frame: Extract<ProviderMediaFrame, { event: 'media' }>): void {
    const media = frame.media;
    const payload = media?.payload;
    if (!this.#mediaWanted(typeof payload === 'string', media?.track, typeof payload === 'string' ? payload.length : 0)) return;
    this.#acceptPayload(PAYLOAD_SCRATCH.write(payload as string, 'base64'), readChunk(media!.chunk));
  }

  /** A media frame read in place, its payload already in the scratch. */
  #onScannedMedia(scan: MediaFrameScan): void {
    if (!this.#mediaWanted(true, scan.track === 'absent' ? undefined : scan.track, scan.payloadEnd - scan.payloadStart)) return;
    this.#acceptPayload(scan.payloadBytes, Number.isNaN(scan.chunk) ? undefined : scan.chunk);
  }

  /** Whether a media frame is to be played; the malformed ones are counted. */
  #mediaWanted(hasPayload: boolean, track: unknown, payloadChars: number): boolean {
    if (!this.#codec || !this.#jitter || this.#inputStopped || !hasPayload) {
      // Media after `stop` breaks the protocol: counted, never played.
      this.#malformed++;
      return false;
    }
    if (track !== undefined && track !== 'inbound') return false;
    if (payloadChars > MAX_PAYLOAD_CHARS) {
      this.#malformed++;
      return false;
    }
    if (this.#staleInput) {
      // Decoding and playing audio this late would only make the next frames later too: the jitter buffer sees a gap.
      this.#backlogDrops++;
      return false;
    }
    return true;
  }

  /** The decoded payload (`written` bytes of the scratch) into the jitter buffer. */
  #acceptPayload(written: number, chunkValue: number | undefined): void {
    if (written === 0 || (this.#codec!.frameBytes !== 0 && written !== this.#codec!.frameBytes)) {
      // Frames are 20 ms (DESIGN.md section 5): another size would break the playout clock.
      this.#malformed++;
      return;
    }
    this.#framesIn++;
    const chunk = chunkValue ?? ++this.#implicitChunk;
    this.#arrivals[chunk % ARRIVAL_RING] = this.#currentInMs;
    const pushedAt = this.#hooks.now();
    this.#pushedAt[chunk % ARRIVAL_RING] = pushedAt;
    // A copy: the scratch is reused by the next frame, the buffer keeps this one (from the arena: src/media/FrameArena.ts).
    this.#jitter!.push(chunk, this.#currentInMs, frameArena.copyOf(PAYLOAD_SCRATCH.subarray(0, written)));
    // Release at once: a burst after a stall (many frames in one drain) must not pile up past the buffer's capacity.
    this.#playDue(pushedAt);
  }

  /**
   * The provider stopped the stream: what the jitter buffer holds goes to the
   * agent now (gaps between held frames concealed), and nothing is concealed
   * after the last one (there is no more caller audio to wait for).
   */
  #onStop(): void {
    const jitter = this.#jitter;
    if (!jitter || this.#inputStopped) return;
    this.#inputStopped = true;
    if (!this.#agentReady) return;
    while (jitter.buffered > 0 && !this.#ended) this.#playDue(Number.MAX_SAFE_INTEGER, true);
  }

  /** Frames the jitter buffer has due, decoded (or concealed), to barge-in detection and the agent. */
  #playDue(nowMs: number, once = false): void {
    const jitter = this.#jitter!;
    const toAgent = this.#toAgent!;
    for (let frame = jitter.pop(nowMs); frame && !this.#ended; frame = once ? undefined : jitter.pop(nowMs)) {
      const slot = frame.seq === undefined ? -1 : frame.seq % ARRIVAL_RING;
      const arrival = slot < 0 ? NaN : this.#arrivals[slot]!;
      // The echo's latency is counted from the caller frame's arrival, so jitter-buffer delay is included.
      this.#currentInMs = frame.kind === 'audio' && !Number.isNaN(arrival) ? arrival : nowMs;
      if (this.#detector?.push(frame.pcm) === 'started') this.#bargeIn();
      const pcm = toAgent.process(frame.pcm);
      const record = this.#hooks.recordInbound;
      if (record && frame.kind === 'audio' && !Number.isNaN(arrival)) {
        const t = this.#hooks.now();
        const hold = Math.max(0, Math.min(nowMs, t) - this.#pushedAt[slot]!);
        record(t - arrival - hold, hold);
      }
      this.#agent.pushAudio(pcm);
    }
  }

  #jitterSummary(): JitterSummary | null {
    if (!this.#jitter || !this.#playout) return null;
    const s = this.#jitter.stats;
    return {
      jitterMs: round2(s.jitterMs),
      targetDelayMs: s.targetDelayMs,
      delayMs: round2(s.delayMs),
      late: s.late,
      lost: s.lost,
      concealed: s.concealed,
      duplicates: s.duplicates,
      fecRecovered: this.#playout.stats.fecRecovered,
      resets: s.resets,
    };
  }

  #onAgentAudio(pcm: Int16Array): void {
    if (this.#ended || !this.#toPhone || !this.#framer || !this.#codec) return;
    if (this.#hangupAsked) {
      if (this.#samplesAfterHangup === 0) this.#refuseAgent(ErrorCodes.BAD_REQUEST, 'audio after hangup: dropped (the hang-up plays what came before it)', undefined);
      this.#samplesAfterHangup += pcm.length;
      return;
    }
    // Resampled into a scratch the framer copies from, and framed into one reused frame: no allocation per frame.
    const needed = this.#toPhone.outputLength(pcm.length);
    if (this.#toPhoneScratch.length < needed) this.#toPhoneScratch = new Int16Array(needed);
    const agentAt = this.#hooks.now();
    this.#framer.push(this.#toPhone.process(pcm, this.#toPhoneScratch.subarray(0, needed)));
    this.#queueFramed(this.#agent.audioTiming === 'live' ? this.#currentInMs : agentAt, agentAt);
    // Audio arriving between clock ticks goes out now if a frame is due (first audio is not held for a tick).
    if (this.#agent.audioTiming === 'buffered') this.pump(this.#hooks.now());
  }

  /** `inAt`: when the audio behind it reached us; `agentAt`: when it came from the agent. */
  #queueFrame(frame: Int16Array, inAt: number, agentAt: number): void {
    // A full queue drops its oldest frame (counted in overflowDrops): marks behind it pass.
    this.#playoutMarks.sent(this.#outQueue.push(this.#encodeFrame(frame), inAt, agentAt));
    if (!this.#budgetDropLogged && this.#outQueue.budgetDrops > 0) this.#logBudgetDrop();
  }

  /** The worker's queued agent audio is past its bound: this call drops what it holds past its fair share. */
  #shedForBudget(): void {
    this.#playoutMarks.sent(this.#outQueue.shed());
    if (!this.#budgetDropLogged && this.#outQueue.budgetDrops > 0) this.#logBudgetDrop();
  }

  #logBudgetDrop(): void {
    this.#budgetDropLogged = true;
    const budget = this.#budget!;
    const mib = (bytes: number) => (bytes / 1048576).toFixed(1);
    this.#hooks.log(
      this.slot,
      'warn',
      `agent audio dropped, oldest first: this worker's calls reached their bound of ${mib(budget.maxBytes)} MiB of queued agent audio ` +
        `(${budget.holders} calls hold ${mib(budget.heldBytes)} MiB) and this call held more than its fair share (${mib(this.#outQueue.chargedBytes)} MiB left); ` +
        'logged once a call, counted in ttma_agent_audio_budget_drops_total',
    );
  }

  #encodeFrame(frame: Int16Array): string {
    // The payload bytes are turned into a string at once, so one buffer serves every frame (stateless codecs fill it; Opus returns its own).
    const encoded = this.#codec!.encode(frame, this.#payloadOut);
    const payload = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('base64');
    return `{"event":"media","media":{"payload":"${payload}"}}`;
  }

  /** The end of a turn: a last partial frame goes out padded with silence rather than waiting for more audio. */
  #flushTail(): void {
    const framer = this.#framer;
    if (!framer || framer.buffered === 0) return;
    framer.push(new Int16Array(framer.samplesPerFrame - framer.buffered));
    const now = this.#hooks.now();
    this.#queueFramed(now, now);
  }

  /**
   * The greeting goes first, ahead of anything the agent says, encoded by this
   * call's own encoder (the frames at this rate are shared by every call on
   * the worker). It is the agent's audio as far as barge-in is concerned: the
   * caller can talk over it. Its frames carry no arrival time, so the latency
   * record (gateway time per frame) does not count the greeting's length. They
   * are outside the queue's bounds: however long, neither the greeting nor the
   * agent's first words behind it are cut for room.
   */
  #queueGreeting(): void {
    const greeting = this.#settings.greeting;
    if (greeting === null) return;
    for (const frame of PromptAudio.of(greeting).framesAt(this.#codec!.sampleRate)) this.#outQueue.pushReserved(this.#encodeFrame(frame));
  }

  /** Every whole frame the framer holds, encoded into the queue; marks inside a frame follow it. */
  #queueFramed(inAt: number, agentAt: number): void {
    const framer = this.#framer!;
    const frame = this.#phoneFrame!;
    while (framer.shiftInto(frame)) {
      this.#queueFrame(frame, inAt, agentAt);
      this.#playoutMarks.framed(frame.length, this.#outQueue);
    }
  }

  /** The agent's mark: after all audio it sent so far. */
  #onAgentMark(name: string, id: RequestId | undefined): void {
    if (!isValidMarkName(name)) return this.#refuseAgent(ErrorCodes.BAD_REQUEST, 'mark refused: a name is 1 to 64 printable ASCII characters', id);
    if (this.#playoutMarks.inFlight + this.#outQueue.pendingMarks >= MAX_PENDING_MARKS) {
      return this.#refuseAgent(ErrorCodes.RATE_LIMITED, `mark refused: ${MAX_PENDING_MARKS} marks already in flight`, id);
    }
    this.#playoutMarks.add(name, this.#framer?.buffered ?? 0, this.#outQueue);
  }

  /** The agent is told (a ws agent's `error` message) and the log says so, both bounded. */
  #refuseAgent(code: string, message: string, id: RequestId | undefined): void {
    this.#agent.refused?.(code, message, id);
    this.#agentLog.write('agent', 'warn', {}, `agent ${message} (${code})`);
  }

  #onAgentEvent(event: AgentEvent): void {
    if (this.#ended) return;
    switch (event.type) {
      case 'speech.started':
        return this.#bargeIn();
      case 'speech.stopped':
      case 'transcript':
        return;
      case 'turn.done':
        return this.#flushTail();
      case 'hangup.request':
        this.#hangupAsked = true;
        this.#flushTail();
        if (!event.afterPlayout) return this.#hooks.agentAction(this.slot, { kind: 'hangup', reason: event.reason });
        this.#pendingHangup = event.reason;
        return this.#maybeHangUp(this.#hooks.now());
      case 'transfer.request':
        return this.#hooks.agentAction(this.slot, { kind: 'transfer', to: event.to, ...withId(event.id) });
      case 'dial.request':
        return this.#hooks.agentAction(this.slot, { kind: 'dial', to: event.to, ...withId(event.id) });
      case 'dtmf.send':
        return this.#hooks.agentAction(this.slot, { kind: 'dtmf', digits: event.digits, ...withId(event.id) });
      case 'mark':
        return this.#onAgentMark(event.name, event.id);
      case 'error':
        return this.#agentLog.write('agent', 'warn', {}, `agent: ${event.message}`);
      case 'reconnect.stopped':
        // Once a call, outside the agent's bounded lines: the one line that says why the call is about to end.
        this.#hooks.agentReconnectsStopped?.();
        return this.#hooks.log(
          this.slot,
          'warn',
          `stopped connecting to the agent again: ${event.why}; hanging up after playout (counted in ttma_agent_reconnects_stopped_total)`,
          { agentLosses: event.losses },
        );
    }
  }

  /** Drop everything not yet played, tell the provider and the agent; only while the agent is audible. */
  #bargeIn(): void {
    const framer = this.#framer;
    const audible =
      this.#outQueue.length > 0 || (framer !== null && framer.buffered > 0) || this.#hooks.now() - this.#lastOutAt < AUDIBLE_GAP_MS;
    if (!audible || this.#pendingHangup !== null) return;
    const cleared = this.#outQueue.clear();
    this.#clearedFrames += cleared.frames;
    framer?.clear();
    this.#hooks.emitMedia(this.slot, CLEAR_FRAME);
    this.#bargeIns++;
    const heard = this.#playedMs;
    this.#playedMs = 0;
    this.#agent.interrupt(heard, this.#playoutMarks.cleared(cleared.marks));
  }

  /** After the farewell's last frame left: a mark, whose echo says it has played; then hang up. */
  #maybeHangUp(nowMs: number): void {
    if (this.#pendingHangup === null || this.#outQueue.length > 0) return;
    if (this.#hangupMarkAt === null) {
      this.#hangupMarkAt = nowMs;
      this.#hooks.emitMedia(this.slot, `{"event":"mark","mark":{"name":"${HANGUP_MARK}"}}`);
    } else if (nowMs - this.#hangupMarkAt > HANGUP_MARK_TIMEOUT_MS) {
      this.#hangUpNow();
    }
  }

  #hangUpNow(): void {
    const reason = this.#pendingHangup ?? 'agent hung up';
    this.#pendingHangup = null;
    this.#hangupMarkAt = Number.POSITIVE_INFINITY;
    this.#hooks.agentAction(this.slot, { kind: 'hangup', reason });
  }
}

/** Telnyx's `chunk` counter: a string (or number) of digits; undefined when absent or unreadable. */
function readChunk(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > 15 || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

const AGENT_LOG_LINES_PER_SECOND = 10;

/** An absent id stays absent (no `id: undefined` key through the worker's messages). */
function withId(id: RequestId | undefined): { id?: RequestId } {
  return id === undefined ? {} : { id };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
