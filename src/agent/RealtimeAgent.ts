/**
 * The `realtime` adapter: the OpenAI-Realtime-compatible WebSocket protocol
 * (hosted or local servers). Server VAD decides turns and barge-in; on
 * barge-in we cancel the response and truncate the agent's item at what the
 * caller actually heard. Tools: consult_agent (asks the OpenClaw agent,
 * with a "one moment" cue if that takes over 1.5 s), end_call (hangs up
 * once the farewell has played), and, when the operator allows them,
 * transfer_call (only to the configured numbers) and send_dtmf. A caller can
 * talk a model into anything, so the tools' arguments are checked here,
 * whatever the model was told, and the platform checks them again.
 *
 * Event names: both the GA (`response.output_audio.delta`) and the beta
 * (`response.audio.delta`) forms are accepted.
 *
 * A session the server ends mid-call (hosted sessions have a length limit:
 * 60 minutes on OpenAI since GA, developers.openai.com/blog/realtime-api;
 * 30 on Azure OpenAI; a local server that restarts) is opened
 * again on the reconnect schedule (reconnect.ts), and what was said so far
 * goes into the new session as text items: the agent's own transcripts, and
 * the caller's when the server transcribes them, the newest 40 within 8,000
 * characters. The model then waits for the caller. A session that ends while
 * the model says goodbye (end_call) is not reopened, and a server that ends
 * every session soon after opening it is not reopened forever
 * (agentReconnects.ts bounds it per call).
 */
import WebSocket from 'ws';
import { ErrorCodes, TtmaError, redactSecrets } from '../errors.js';
import { cueTone } from '../media/cueTone.js';
import { PromptAudio, type PromptPcm } from '../media/PromptAudio.js';
import { pcmuDecode, pcmuEncode } from '../media/g711.js';
import type { AgentActionResult, AgentAdapter, AgentCall, AgentEvent, AgentSink } from './AgentAdapter.js';
import type { AgentConfig } from './agentConfig.js';
import { AgentMarks } from './AgentMarks.js';
import { parseJsonObject } from './agentJson.js';
import { chatOnce } from './openAiHttp.js';
import { base64ToPcm, pcmToBase64 } from './pcm.js';
import { AgentReconnects, describeSocketError } from './agentReconnects.js';
import { reconnect, type ReconnectSchedule } from './reconnect.js';
import { watchLiveness } from './socketLiveness.js';
import { openClawSessionKey } from './sessionKey.js';

type RealtimeConfig = Extract<AgentConfig, { kind: 'realtime' }>;

export const REALTIME_PCM_RATE = 24_000;
const G711_RATE = 8_000;
const OPEN_TIMEOUT_MS = 5_000;
const CONSULT_TIMEOUT_MS = 30_000;
const MAX_MESSAGE_BYTES = 4 << 20;
const MAX_ITEMS = 256;
/** What a reopened session is told of the conversation: the newest turns, within these bounds. */
const HISTORY_TURNS = 40;
const HISTORY_CHARS = 8_000;

/** One stretch of agent audio since the last interrupt: an item's, or our cue (no item id). */
interface Played {
  itemId: string | null;
  startMs: number;
}

export const REALTIME_TOOLS = [
  {
    type: 'function',
    name: 'consult_agent',
    description: "Ask the caller's own OpenClaw agent (it knows their data and can act for them). Use for anything you cannot answer yourself.",
    parameters: { type: 'object', properties: { question: { type: 'string' } }, required: ['question'] },
  },
  {
    type: 'function',
    name: 'end_call',
    description: 'End the call after saying goodbye. Say the farewell first, in the same response.',
    parameters: { type: 'object', properties: { reason: { type: 'string' } } },
  },
] as const;

/** Keys a phone can send: digits, * and #, A to D (RFC 4733 events 0-15). */
const DTMF_DIGITS = /^[0-9*#A-D]{1,32}$/;

/** The operator's optional tools: transfer only to the numbers allowed, key presses when enabled. */
function optionalTools(config: Pick<RealtimeConfig, 'transferTargets' | 'dtmf'>): Record<string, unknown>[] {
  const tools: Record<string, unknown>[] = [];
  if (config.transferTargets.length > 0) {
    tools.push({
      type: 'function',
      name: 'transfer_call',
      description: 'Transfer the caller to a person or team at one of the listed numbers. Tell the caller first, in the same response.',
      parameters: { type: 'object', properties: { to: { type: 'string', enum: [...config.transferTargets] } }, required: ['to'] },
    });
  }
  if (config.dtmf) {
    tools.push({
      type: 'function',
      name: 'send_dtmf',
      description: 'Press keys on the phone keypad toward the other party (for example to answer an automated menu).',
      parameters: { type: 'object', properties: { digits: { type: 'string', description: '0-9, *, #, A-D; up to 32' } }, required: ['digits'] },
    });
  }
  return tools;
}

export class RealtimeAgent implements AgentAdapter {
  readonly kind = 'realtime';
  readonly audioTiming = 'buffered';
  readonly bargeIn = 'agent';
  readonly marks = new AgentMarks();
  readonly sampleRate: number;
  readonly #config: RealtimeConfig;
  /** What a slow consult plays (the operator's hold audio, or the built-in cue), at the agent's rate. */
  readonly holdAudio: Int16Array;
  #socket: WebSocket | null = null;
  #sink: AgentSink | null = null;
  #call: AgentCall | null = null;
  #ready = false;
  #closed = false;
  #activeResponse: string | null = null;
  readonly #cancelled = new Set<string>();
  #played: Played[] = [];
  #deliveredMs = 0;
  #endRequested: string | null = null;
  readonly #consults = new Set<AbortController>();
  /** Tool calls waiting for the platform's answer, oldest first, by request. */
  readonly #awaiting: Record<'transfer' | 'dtmf', string[]> = { transfer: [], dtmf: [] };

  readonly #pingEveryMs: number | undefined;
  /** When to open the session again, and when to stop across losses. */
  readonly #reconnects: AgentReconnects;
  /** Why the socket was dropped by us, when it was (the hang-up's reason). */
  #dropped: string | null = null;
  /** Final transcripts, oldest first: what a reopened session is told (bounded by HISTORY_TURNS). */
  readonly #history: Array<{ role: 'user' | 'assistant'; text: string }> = [];
  /** Sessions opened again after the server ended one, over the call. */
  reconnects = 0;
  /** Which session is current: a tool's answer for an earlier one is dropped. */
  #generation = 0;

  /**
   * `hold`: the operator's hold audio, played instead of the built-in cue during a slow consult.
   * `pingEveryMs`: how often the server is pinged; one that answers nothing between two pings is dropped.
   */
  constructor(config: RealtimeConfig, hold: PromptPcm | null = null, options: { pingEveryMs?: number; reconnect?: ReconnectSchedule } = {}) {
    this.#config = config;
    this.#pingEveryMs = options.pingEveryMs;
    this.#reconnects = new AgentReconnects(options.reconnect);
    this.sampleRate = config.format === 'g711_ulaw' ? G711_RATE : REALTIME_PCM_RATE;
    this.holdAudio = hold === null ? cueTone(this.sampleRate) : PromptAudio.of(hold).pcmAt(this.sampleRate);
  }

  open(call: AgentCall, sink: AgentSink): Promise<void> {
    this.marks.opening();
    this.#sink = sink;
    this.#call = call;
    return this.#connect(false).then(() => this.marks.opened());
  }

  /** One session, resolved at `session.updated`. `again`: reopened mid-call (the conversation so far goes in first). */
  #connect(again: boolean): Promise<void> {
    const sep = this.#config.url.includes('?') ? '&' : '?';
    const target = `${this.#config.url}${sep}model=${encodeURIComponent(this.#config.model)}`;
    const headers: Record<string, string> = {};
    if (this.#config.apiKey) headers['authorization'] = `Bearer ${this.#config.apiKey}`;
    const socket = new WebSocket(target, { headers, maxPayload: MAX_MESSAGE_BYTES, handshakeTimeout: OPEN_TIMEOUT_MS });
    this.#socket = socket;
    this.#ready = false;
    this.#generation++;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      /** Reached session.updated: only such a session's end is one to reopen. */
      let live = false;
      const timer = setTimeout(() => fail(new TtmaError(ErrorCodes.AGENT_CONNECT, `realtime server sent no session.updated within ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
      const fail = (err: Error) => {
        clearTimeout(timer);
        if (!settled) {
          settled = true;
          reject(err);
        }
        socket.terminate();
      };
      socket.on('open', () => this.#send({ type: 'session.update', session: this.#session() }));
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        if (isBinary || this.#socket !== socket) return;
        const msg = parseJsonObject(data.toString('utf8'));
        if (msg === null) return this.#emit({ type: 'error', message: 'realtime server sent a message that is not a JSON object' });
        if (!this.#ready) {
          if (msg['type'] === 'session.updated') {
            this.#ready = true;
            settled = live = true;
            clearTimeout(timer);
            watchLiveness(socket, () => (this.#dropped = 'realtime server stopped answering'), this.#pingEveryMs);
            this.#reconnects.live();
            if (again) this.#tellHistory();
            resolve();
          } else if (msg['type'] === 'error') {
            fail(new TtmaError(ErrorCodes.AGENT_PROTOCOL, `realtime server refused the session: ${errorText(msg, this.#config.apiKey)}`));
          }
          return;
        }
        this.#onServerEvent(msg);
      });
      socket.on('error', (err: Error & { code?: string }) => {
        // On a live session this is why it ended (the close that follows says 1006): name it in the log and the hang-up.
        if (live && this.#socket === socket && this.#dropped === null) this.#dropped = `realtime socket failed: ${describeSocketError(err, MAX_MESSAGE_BYTES)}`;
        fail(new TtmaError(ErrorCodes.AGENT_CONNECT, `realtime server: ${err.message}`));
      });
      socket.on('close', (code: number) => {
        if (!settled) return fail(new TtmaError(ErrorCodes.AGENT_CONNECT, 'realtime server closed before session.updated'));
        if (!live || this.#closed || this.#socket !== socket) return;
        this.#ready = false;
        if (this.#endRequested !== null) {
          // Ended while saying goodbye: what arrived plays, then the call ends.
          this.#emit({ type: 'hangup.request', reason: this.#endRequested, afterPlayout: true });
          return;
        }
        void this.#reopen(this.#dropped ?? `realtime session ended by the server (close ${code})`);
      });
    });
  }

  /** Reopen the session on the schedule; else hang up after playout. */
  async #reopen(why: string): Promise<void> {
    const verdict = this.#reconnects.lost(why);
    if (!verdict.reconnect) {
      for (const c of this.#consults) c.abort();
      this.#emit({ type: 'reconnect.stopped', losses: verdict.losses, why: verdict.why });
      this.#emit({ type: 'hangup.request', reason: verdict.why, afterPlayout: true });
      return;
    }
    this.#emit({ type: 'error', message: `${why}: opening the session again` });
    // The old session's response, items and tool calls mean nothing to the new one.
    this.#activeResponse = null;
    this.#played = [];
    this.#deliveredMs = 0;
    this.#awaiting.transfer.length = 0;
    this.#awaiting.dtmf.length = 0;
    for (const c of this.#consults) c.abort();
    const outcome = await reconnect(
      this.#reconnects.schedule,
      () => {
        this.#dropped = null;
        return this.#connect(true);
      },
      () => this.#closed,
      verdict.fromStep,
    );
    if (this.#closed) {
      if (outcome.ok) this.#socket?.close(1000, 'call ended');
      return;
    }
    if (!outcome.ok) {
      this.#emit({ type: 'hangup.request', reason: `${why}; not back within ${Math.round(this.#reconnects.schedule.deadlineMs / 1000)} s`, afterPlayout: true });
      return;
    }
    this.reconnects++;
    this.#emit({ type: 'error', message: `realtime session opened again after ${outcome.attempts} attempt(s), ${this.#history.length} turns carried over` });
  }

  /** The conversation so far, as text items of the new session (newest turns within HISTORY_CHARS). */
  #tellHistory(): void {
    let chars = 0;
    let from = this.#history.length;
    while (from > 0 && chars + this.#history[from - 1]!.text.length <= HISTORY_CHARS) chars += this.#history[--from]!.text.length;
    for (const turn of this.#history.slice(from)) {
      const content = [{ type: turn.role === 'user' ? 'input_text' : 'output_text', text: turn.text }];
      this.#send({ type: 'conversation.item.create', item: { type: 'message', role: turn.role, content } });
    }
  }

  #remember(role: 'user' | 'assistant', text: string): void {
    const trimmed = text.trim().slice(0, HISTORY_CHARS);
    if (trimmed === '') return;
    this.#history.push({ role, text: trimmed });
    if (this.#history.length > HISTORY_TURNS) this.#history.shift();
  }

  callStarted(): void {
    // The agent speaks first on an answered call; a call already under way (a new session after
    // its stream moved, or a new gateway process) was greeted: the model waits for the caller.
    if (!this.#call?.resumed) this.#send({ type: 'response.create' });
  }

  pushAudio(pcm: Int16Array): void {
    if (!this.#ready) return;
    const audio = this.#config.format === 'g711_ulaw' ? Buffer.from(pcmuEncode(pcm)).toString('base64') : pcmToBase64(pcm);
    this.#send({ type: 'input_audio_buffer.append', audio });
  }

  pushDtmf(digit: string): void {
    // The model hears key presses as a short user message.
    this.#send({ type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: `[caller pressed ${digit}]` }] } });
  }

  /** This protocol has no marks: it never sends any, so none can play. */
  markPlayed(_name: string): void {}

  interrupt(heardMs: number): void {
    if (this.#activeResponse) {
      this.#cancelled.add(this.#activeResponse);
      this.#send({ type: 'response.cancel' });
      this.#activeResponse = null;
    }
    // The item being heard when the caller cut in, truncated at what they heard of it.
    let hit: Played | undefined;
    for (const p of this.#played) if (p.startMs <= heardMs) hit = p;
    if (hit?.itemId) {
      const ends = this.#played.find((p) => p.startMs > hit.startMs)?.startMs ?? this.#deliveredMs;
      const audioEndMs = Math.max(0, Math.round(Math.min(heardMs, ends) - hit.startMs));
      this.#send({ type: 'conversation.item.truncate', item_id: hit.itemId, content_index: 0, audio_end_ms: audioEndMs });
    }
    this.#played = [];
    this.#deliveredMs = 0;
  }

  /** The platform's answer to a transfer or key presses the model asked for: the tool's output. */
  actionResult(result: AgentActionResult): void {
    if (result.request === 'dial') return;
    const toolCallId = this.#awaiting[result.request].shift();
    if (toolCallId === undefined) return;
    this.#toolOutput(toolCallId, result.ok ? { ok: true } : { error: `refused: ${result.detail}` }, true);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#consults) c.abort();
    this.#socket?.close(1000, 'call ended');
    this.#sink = null;
  }

  #session(): Record<string, unknown> {
    const format = this.#config.format === 'g711_ulaw' ? { type: 'audio/pcmu' } : { type: 'audio/pcm', rate: REALTIME_PCM_RATE };
    const tools = [...(this.#config.consult ? REALTIME_TOOLS : REALTIME_TOOLS.filter((t) => t.name !== 'consult_agent')), ...optionalTools(this.#config)];
    return {
      type: 'realtime',
      model: this.#config.model,
      output_modalities: ['audio'],
      instructions: this.#config.instructions,
      audio: {
        input: {
          format,
          turn_detection: { type: 'server_vad', create_response: true, interrupt_response: true },
          // Off unless the operator names a model: a second model runs (and is billed) on the caller's audio.
          transcription: this.#config.transcriptionModel ? { model: this.#config.transcriptionModel } : null,
        },
        output: { format, voice: this.#config.voice },
      },
      tools,
      tool_choice: 'auto',
    };
  }

  #onServerEvent(msg: Record<string, unknown>): void {
    const type = msg['type'];
    switch (type) {
      case 'response.created': {
        const response = msg['response'] as { id?: unknown } | undefined;
        if (typeof response?.id === 'string') this.#activeResponse = response.id;
        return;
      }
      case 'response.output_audio.delta':
      case 'response.audio.delta':
        return this.#onAudioDelta(msg);
      case 'response.output_audio_transcript.delta':
      case 'response.audio_transcript.delta':
        if (typeof msg['delta'] === 'string') this.#emit({ type: 'transcript', role: 'agent', text: msg['delta'], final: false });
        return;
      case 'response.output_audio_transcript.done':
      case 'response.audio_transcript.done':
        if (typeof msg['transcript'] === 'string') {
          this.#remember('assistant', msg['transcript']);
          this.#emit({ type: 'transcript', role: 'agent', text: msg['transcript'], final: true });
        }
        return;
      case 'conversation.item.input_audio_transcription.completed':
        if (typeof msg['transcript'] === 'string') {
          this.#remember('user', msg['transcript']);
          this.#emit({ type: 'transcript', role: 'caller', text: msg['transcript'], final: true });
        }
        return;
      case 'input_audio_buffer.speech_started':
        return this.#emit({ type: 'speech.started' });
      case 'input_audio_buffer.speech_stopped':
        this.marks.callerTurnEnded();
        return this.#emit({ type: 'speech.stopped' });
      case 'response.function_call_arguments.done':
        return this.#onToolCall(msg);
      case 'response.done': {
        const response = msg['response'] as { id?: unknown } | undefined;
        if (response?.id === this.#activeResponse) this.#activeResponse = null;
        if (this.#endRequested !== null) {
          // The farewell's audio has all arrived: hang up once it has played.
          this.#emit({ type: 'hangup.request', reason: this.#endRequested, afterPlayout: true });
          this.#endRequested = null;
        }
        this.#emit({ type: 'turn.done' });
        return;
      }
      case 'error':
        this.#emit({ type: 'error', message: errorText(msg, this.#config.apiKey) });
        return;
      default:
        return;
    }
  }

  #onAudioDelta(msg: Record<string, unknown>): void {
    const responseId = msg['response_id'];
    if (typeof responseId === 'string' && this.#cancelled.has(responseId)) return; // cut off by barge-in
    const delta = msg['delta'];
    if (typeof delta !== 'string') return;
    const itemId = typeof msg['item_id'] === 'string' ? msg['item_id'] : null;
    const pcm = this.#config.format === 'g711_ulaw' ? pcmuDecode(Buffer.from(delta, 'base64')) : base64ToPcm(delta);
    this.#deliver(pcm, itemId);
  }

  #deliver(pcm: Int16Array, itemId: string | null): void {
    const last = this.#played[this.#played.length - 1];
    if (!last || last.itemId !== itemId) {
      this.#played.push({ itemId, startMs: this.#deliveredMs });
      if (this.#played.length > MAX_ITEMS) this.#played.shift();
    }
    this.#deliveredMs += (pcm.length * 1000) / this.sampleRate;
    this.marks.agentAudio();
    this.#sink?.audio(pcm);
  }

  #onToolCall(msg: Record<string, unknown>): void {
    const callId = typeof msg['call_id'] === 'string' ? msg['call_id'] : '';
    // The model writes the arguments: `null` or `[]` are as unreadable as broken JSON.
    const args = (typeof msg['arguments'] === 'string' ? parseJsonObject(msg['arguments']) : null) ?? {};
    switch (msg['name']) {
      case 'end_call':
        this.#endRequested = typeof args['reason'] === 'string' ? args['reason'].slice(0, 200) : 'agent ended the call';
        this.#toolOutput(callId, { ok: true }, false);
        return;
      case 'consult_agent':
        void this.#consult(callId, typeof args['question'] === 'string' ? args['question'] : '');
        return;
      case 'transfer_call': {
        const to = args['to'];
        if (typeof to !== 'string' || !this.#config.transferTargets.includes(to)) {
          this.#toolOutput(callId, { error: 'not a number this call may be transferred to' }, true);
          return;
        }
        this.#awaiting.transfer.push(callId);
        this.#emit({ type: 'transfer.request', to });
        return;
      }
      case 'send_dtmf': {
        const digits = args['digits'];
        if (!this.#config.dtmf || typeof digits !== 'string' || !DTMF_DIGITS.test(digits)) {
          this.#toolOutput(callId, { error: this.#config.dtmf ? 'digits must be 1 to 32 of 0-9 * # A-D' : 'unknown tool' }, true);
          return;
        }
        this.#awaiting.dtmf.push(callId);
        this.#emit({ type: 'dtmf.send', digits });
        return;
      }
      default:
        this.#toolOutput(callId, { error: 'unknown tool' }, true);
    }
  }

  async #consult(toolCallId: string, question: string): Promise<void> {
    const target = this.#config.consult;
    if (!target || !this.#call) return this.#toolOutput(toolCallId, { error: 'no OpenClaw agent configured' }, true);
    const abort = new AbortController();
    const generation = this.#generation;
    this.#consults.add(abort);
    const deadline = setTimeout(() => abort.abort(), CONSULT_TIMEOUT_MS);
    // Dead air while the agent thinks sounds like a dropped call: a cue after 1.5 s.
    const cue = setTimeout(() => this.#deliver(this.holdAudio, null), this.#config.cueAfterMs);
    let output: Record<string, unknown>;
    try {
      output = { answer: await chatOnce(target, openClawSessionKey(this.#call), question, abort.signal) };
    } catch (err) {
      output = { error: `the agent could not be reached (${(err as Error).message})` };
    } finally {
      clearTimeout(cue);
      clearTimeout(deadline);
      this.#consults.delete(abort);
    }
    // A session reopened meanwhile never heard of this tool call.
    if (!this.#closed && generation === this.#generation) this.#toolOutput(toolCallId, output, true);
  }

  #toolOutput(callId: string, output: Record<string, unknown>, respond: boolean): void {
    this.#send({ type: 'conversation.item.create', item: { type: 'function_call_output', call_id: callId, output: JSON.stringify(output) } });
    if (respond) this.#send({ type: 'response.create' });
  }

  #emit(event: AgentEvent): void {
    this.#sink?.event(event);
  }

  #send(message: unknown): void {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }
}

/** The server's error event, quoted without our key (a server may echo the credentials it got). */
function errorText(msg: Record<string, unknown>, apiKey: string | undefined): string {
  const error = msg['error'] as { message?: unknown; code?: unknown } | undefined;
  return redactSecrets(String(error?.message ?? error?.code ?? 'unknown error'), [apiKey]).slice(0, 300);
}
