/**
 * The generic `ws` adapter: binary PCM16 frames at a negotiated rate plus JSON
 * events, for any custom agent (protocol: docs/agent-protocols.md).
 *
 * A socket lost mid-call (closed with any code but 1000, or dropped for not
 * answering pings) is connected again, as an agent server that restarts
 * closes its sockets with 1001 or 1012: after 0.25 s, 1 s, then every 2 s
 * until 10 s after the loss, each time with `hello` saying `resumed` and the
 * same sample rate required. The call hangs up (after playout) when that
 * fails, or at once when the agent closes with 1000, which the protocol
 * makes its way of hanging up. Caller audio meanwhile is not sent anywhere.
 * An agent that breaks every socket soon after connecting is not connected
 * again forever: agentReconnects.ts bounds it per call.
 */
import WebSocket from 'ws';
import { ErrorCodes, TtmaError } from '../errors.js';
import type { AgentActionResult, AgentAdapter, AgentCall, AgentEvent, AgentSink } from './AgentAdapter.js';
import { AgentErrorBudget } from './AgentErrorBudget.js';
import { AgentMarks } from './AgentMarks.js';
import { parseJsonObject } from './agentJson.js';
import { readRequestId, REQUEST_ID_RULE, type RequestId } from './requestId.js';
import { PcmStream, pcmToBytes } from './pcm.js';
import { AgentReconnects, describeSocketError } from './agentReconnects.js';
import { reconnect, type ReconnectSchedule } from './reconnect.js';
import { watchLiveness } from './socketLiveness.js';

export const WS_PROTOCOL_VERSION = 1;
/** Rates the gateway offers, preferred first. */
export const WS_SAMPLE_RATES = [16_000, 24_000, 8_000] as const;
const OPEN_TIMEOUT_MS = 5_000;
const MAX_MESSAGE_BYTES = 1 << 20;
const MAX_TEXT_FIELD = 4096;
/** A hang-up reason goes into the call's end reason and log line: a sentence, not a transcript. */
export const MAX_HANGUP_REASON = 256;
const TRANSCRIPT_ROLES: readonly unknown[] = ['caller', 'agent'];
/** The protocol's "hang up" close; anything else is a lost socket. */
const CLOSE_NORMAL = 1000;
/**
 * A handshake the agent got wrong is closed with 1002 (protocol error, RFC 6455 section 7.4.1)
 * and a reason, so the agent's own logs say why the call went away; the socket is cut if the
 * agent does not finish the close within this long.
 */
const CLOSE_PROTOCOL_ERROR = 1002;
const CLOSE_GRACE_MS = 1_000;
/** RFC 6455 section 5.5: a control frame's payload is at most 125 bytes, 2 of them the code. */
const MAX_CLOSE_REASON_BYTES = 123;
/**
 * Caller audio waiting to be sent beyond this (about 16 s at 16 kHz, once the
 * kernel's buffers are full) is dropped: an agent that keeps talking but has
 * stopped reading passes the liveness check, and must not grow our memory.
 */
export const MAX_CALLER_BACKLOG_BYTES = 512 * 1024;

export interface WsAgentOptions {
  url: string;
  token: string;
  /** How often the agent socket is pinged; one that answers nothing between two pings is dropped (socketLiveness.ts). */
  pingEveryMs?: number;
  /** Tests shorten the reconnect schedule: delays, the deadline from the loss, and the budget of quick losses. */
  reconnect?: ReconnectSchedule;
}

export class WsAgent implements AgentAdapter {
  readonly kind = 'ws';
  readonly audioTiming = 'buffered';
  readonly bargeIn = 'gateway';
  readonly marks = new AgentMarks();
  readonly #options: WsAgentOptions;
  #rate: number = WS_SAMPLE_RATES[0];
  #socket: WebSocket | null = null;
  #sink: AgentSink | null = null;
  #ready = false;
  #closed = false;
  /** Why the socket was dropped by us, when it was (the hang-up's reason). */
  #dropped: string | null = null;
  #call: AgentCall | null = null;
  #started = false;
  /** The agent's audio: "any chunk size" includes an odd number of bytes. */
  readonly #fromAgent = new PcmStream();
  /** Sockets connected again after a loss, over the call. */
  reconnects = 0;
  /** Caller frames dropped because the agent was not reading them (MAX_CALLER_BACKLOG_BYTES), over the call. */
  callerFramesDropped = 0;
  /** Frames dropped in the current stretch of not reading (0: reading). */
  #backlogDrops = 0;
  /** `error` messages to the agent, at most 10 a second (AgentErrorBudget). */
  readonly #errors = new AgentErrorBudget((message) => this.#sendJson(message));
  /** When to connect again, and when to stop across losses. */
  readonly #reconnects: AgentReconnects;

  constructor(options: WsAgentOptions) {
    this.#options = options;
    this.#reconnects = new AgentReconnects(options.reconnect);
  }

  get sampleRate(): number {
    return this.#rate;
  }

  open(call: AgentCall, sink: AgentSink): Promise<void> {
    this.marks.opening();
    this.#sink = sink;
    this.#call = call;
    return this.#connect(false).then(() => this.marks.opened());
  }

  /**
   * One socket, resolved at its `ready`. `again`: a reconnect within this
   * adapter (hello says `resumed`, and the agent must keep the rate it chose
   * first). A call resumed by a new actor says `resumed` too, but may choose
   * any rate: nothing was set up at the old one.
   */
  #connect(again: boolean): Promise<void> {
    const call = this.#call!;
    const headers: Record<string, string> = {};
    if (this.#options.token) headers['authorization'] = `Bearer ${this.#options.token}`;
    const socket = new WebSocket(this.#options.url, { headers, maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: OPEN_TIMEOUT_MS });
    socket.binaryType = 'nodebuffer';
    this.#socket = socket;
    this.#ready = false;
    this.#fromAgent.reset();
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      /** Reached `ready`: only such a socket's loss is a lost call socket (a failed attempt is the reconnect loop's business). */
      let live = false;
      const timer = setTimeout(
        () => fail(new TtmaError(ErrorCodes.AGENT_CONNECT, `ws agent sent no "ready" within ${OPEN_TIMEOUT_MS} ms`), `no "ready" within ${OPEN_TIMEOUT_MS} ms`),
        OPEN_TIMEOUT_MS,
      );
      /** `closeReason`: the agent broke the handshake; tell it why (1002) rather than cut the socket. */
      const fail = (err: Error, closeReason?: string) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(err);
        }
        if (closeReason !== undefined && socket.readyState === WebSocket.OPEN) {
          socket.close(CLOSE_PROTOCOL_ERROR, closeReasonText(closeReason));
          setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
          return;
        }
        socket.terminate();
      };
      socket.on('open', () => {
        this.#sendJson({
          type: 'hello',
          version: WS_PROTOCOL_VERSION,
          call: { id: call.callId, from: call.from, to: call.to, direction: call.direction, ...(again || call.resumed ? { resumed: true } : {}) },
          sample_rates: again ? [this.#rate] : WS_SAMPLE_RATES,
        });
      });
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (this.#socket !== socket) return;
        if (isBinary) {
          if (!this.#ready) return fail(new TtmaError(ErrorCodes.AGENT_PROTOCOL, 'ws agent sent audio before "ready"'), 'audio before "ready"');
          this.marks.agentAudio();
          const pcm = this.#fromAgent.push(data);
          if (pcm.length > 0) this.#sink?.audio(pcm);
          return;
        }
        const msg = parseJsonObject(data.toString('utf8'));
        if (msg === null) return this.#refuse(ErrorCodes.AGENT_PROTOCOL, 'a text message that is not a JSON object: ignored');
        if (!this.#ready) {
          const rate = msg['sample_rate'];
          const offered: readonly unknown[] = again ? [this.#rate] : WS_SAMPLE_RATES;
          if (msg['type'] !== 'ready' || !offered.includes(rate)) {
            const expected = `{"type":"ready","sample_rate":<one of ${offered.join(', ')}>}`;
            // Only these two fields of what came are named (a message's other text may be a transcript).
            const got = JSON.stringify({ type: msg['type'], sample_rate: rate }).slice(0, 120);
            return fail(new TtmaError(ErrorCodes.AGENT_PROTOCOL, `ws agent must answer hello with ${expected}, got ${got}`), `expected ${expected}`);
          }
          this.#rate = rate as number;
          this.#ready = true;
          settled = true;
          live = true;
          clearTimeout(timer);
          watchLiveness(socket, () => (this.#dropped = 'agent stopped answering'), this.#options.pingEveryMs);
          this.#reconnects.live();
          resolve();
          return;
        }
        this.#onEvent(msg);
      });
      socket.on('error', (err: Error & { code?: string }) => {
        // On a live socket this is why it is lost (the close that follows says 1006): name it in the reconnect's log line.
        if (live && this.#socket === socket && this.#dropped === null) this.#dropped = `agent socket failed: ${describeSocketError(err, MAX_MESSAGE_BYTES)}`;
        fail(new TtmaError(ErrorCodes.AGENT_CONNECT, `ws agent: ${err.message}`));
      });
      socket.on('close', (code: number) => {
        if (!settled) return fail(new TtmaError(ErrorCodes.AGENT_CONNECT, 'ws agent closed before "ready"'));
        if (!live || this.#closed || this.#socket !== socket) return;
        this.#ready = false;
        if (code === CLOSE_NORMAL && this.#dropped === null) {
          this.#emit({ type: 'hangup.request', reason: 'agent disconnected', afterPlayout: true });
          return;
        }
        void this.#reconnect(this.#dropped ?? `agent socket lost (close ${code})`);
      });
    });
  }

  /** Connect again after a lost socket, on the schedule; else hang up after playout. */
  async #reconnect(why: string): Promise<void> {
    const schedule = this.#reconnects.schedule;
    const verdict = this.#reconnects.lost(why);
    if (!verdict.reconnect) {
      this.#emit({ type: 'reconnect.stopped', losses: verdict.losses, why: verdict.why });
      this.#emit({ type: 'hangup.request', reason: verdict.why, afterPlayout: true });
      return;
    }
    this.#emit({ type: 'error', message: `${why}: connecting again` });
    const outcome = await reconnect(
      schedule,
      () => {
        this.#dropped = null;
        return this.#connect(true);
      },
      () => this.#closed,
      verdict.fromStep,
    );
    if (this.#closed) {
      if (outcome.ok) this.#socket?.close(CLOSE_NORMAL, 'call ended');
      return;
    }
    if (!outcome.ok) {
      this.#emit({ type: 'hangup.request', reason: `${why}; not back within ${Math.round(schedule.deadlineMs / 1000)} s`, afterPlayout: true });
      return;
    }
    this.reconnects++;
    this.#emit({ type: 'error', message: `ws agent connected again after ${outcome.attempts} attempt(s)` });
    if (this.#started) this.#sendJson({ type: 'start' });
  }

  callStarted(): void {
    this.#started = true;
    this.#sendJson({ type: 'start' });
  }

  pushAudio(pcm: Int16Array): void {
    const socket = this.#socket;
    if (!this.#ready || socket?.readyState !== WebSocket.OPEN) return;
    if (socket.bufferedAmount > MAX_CALLER_BACKLOG_BYTES) {
      this.callerFramesDropped++;
      if (this.#backlogDrops++ === 0) this.#emit({ type: 'error', message: 'ws agent is not reading: caller audio dropped until it does' });
      return;
    }
    if (this.#backlogDrops > 0) {
      this.#emit({ type: 'error', message: `ws agent reading again: ${this.#backlogDrops} caller frames were dropped` });
      this.#backlogDrops = 0;
    }
    socket.send(pcmToBytes(pcm), { binary: true });
  }

  pushDtmf(digit: string): void {
    this.#sendJson({ type: 'dtmf', digit });
  }

  interrupt(heardMs: number, marks: { played: string[]; dropped: string[] }): void {
    this.#sendJson({ type: 'barge_in', heard_ms: Math.round(heardMs), played_marks: marks.played, dropped_marks: marks.dropped });
  }

  markPlayed(name: string): void {
    this.#sendJson({ type: 'mark', name });
  }

  actionResult(result: AgentActionResult): void {
    this.#sendJson({ type: 'result', request: result.request, ok: result.ok, detail: result.detail, ...(result.id === undefined ? {} : { id: result.id }) });
  }

  refused(code: string, message: string, id?: RequestId): void {
    this.#errors.error(code, message, id);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#errors.close();
    this.#sendJson({ type: 'stop' });
    this.#socket?.close(1000, 'call ended');
    this.#sink = null;
  }

  #onEvent(msg: Record<string, unknown>): void {
    const text = (key: string) => (typeof msg[key] === 'string' ? (msg[key] as string).slice(0, MAX_TEXT_FIELD) : '');
    switch (msg['type']) {
      case 'speech_started':
        return this.#emit({ type: 'speech.started' });
      case 'speech_stopped':
        this.marks.callerTurnEnded();
        return this.#emit({ type: 'speech.stopped' });
      case 'transcript': {
        // Before, any role but "caller" counted as the agent's words; a typo must not put the caller's words in the agent's mouth.
        const role = msg['role'];
        if (!TRANSCRIPT_ROLES.includes(role)) return this.#refuse(ErrorCodes.BAD_REQUEST, 'a transcript whose role is not "caller" or "agent": ignored');
        if (typeof msg['text'] !== 'string') return this.#refuse(ErrorCodes.BAD_REQUEST, 'a transcript whose text is not a string: ignored');
        return this.#emit({ type: 'transcript', role: role as 'caller' | 'agent', text: text('text'), final: msg['final'] === true });
      }
      case 'turn_done':
        return this.#emit({ type: 'turn.done' });
      case 'hangup': {
        const reason = msg['reason'];
        const valid = reason === undefined || (typeof reason === 'string' && reason.length <= MAX_HANGUP_REASON);
        // The hang-up itself still happens: the agent meant to end the call; only its reason is not taken.
        if (!valid) this.#refuse(ErrorCodes.BAD_REQUEST, `a hangup whose reason is not a string of at most ${MAX_HANGUP_REASON} characters: hanging up without it`);
        return this.#emit({ type: 'hangup.request', reason: (valid && typeof reason === 'string' && reason) || 'agent hung up', afterPlayout: true });
      }
      case 'transfer':
      case 'dial':
      case 'dtmf': {
        const request = msg['type'];
        const id = readRequestId(msg['id']);
        // A bad id cannot be echoed; the refusal still comes as this request's one result.
        if (id === null) return this.actionResult({ request, ok: false, detail: `${ErrorCodes.BAD_REQUEST}: ${REQUEST_ID_RULE}` });
        const withId = id === undefined ? {} : { id };
        if (request === 'dtmf') return this.#emit({ type: 'dtmf.send', digits: text('digits'), ...withId });
        return this.#emit({ type: request === 'dial' ? 'dial.request' : 'transfer.request', to: text('to'), ...withId });
      }
      case 'mark': {
        const id = readRequestId(msg['id']);
        if (id === null) return this.#refuse(ErrorCodes.BAD_REQUEST, `a mark with a bad id (${REQUEST_ID_RULE}): refused`);
        // Checked by the call actor (name syntax, how many in flight), which owns the marks; it calls refused() with the id.
        return this.#emit({ type: 'mark', name: typeof msg['name'] === 'string' ? msg['name'].slice(0, MAX_TEXT_FIELD) : '', ...(id === undefined ? {} : { id }) });
      }
      default: {
        const type = msg['type'];
        const named = typeof type === 'string' ? JSON.stringify(type.slice(0, 64)) : `(${type === undefined ? 'no type' : `a ${typeof type}`})`;
        return this.#refuse(ErrorCodes.AGENT_PROTOCOL, `an unknown event type ${named}: ignored`, readRequestId(msg['id']) ?? undefined);
      }
    }
  }

  /** Something the agent sent is refused or ignored: tell the agent (bounded) and the gateway's log. */
  #refuse(code: string, message: string, id?: RequestId): void {
    this.#errors.error(code, message, id);
    this.#emit({ type: 'error', message: `ws agent sent ${message}` });
  }

  #emit(event: AgentEvent): void {
    this.#sink?.event(event);
  }

  #sendJson(message: unknown): void {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }
}

/** A close frame's reason, cut to its byte limit (the text is ASCII here, so bytes are characters). */
function closeReasonText(reason: string): string {
  return Buffer.from(reason, 'utf8').subarray(0, MAX_CLOSE_REASON_BYTES).toString('utf8');
}
