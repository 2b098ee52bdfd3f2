/**
 * The `openclaw` adapter: caller turns are cut by a speech detector, sent to
 * speech-to-text, the text to the OpenClaw gateway's streamed chat
 * completions, and the reply spoken sentence by sentence as it streams
 * (each sentence's text-to-speech starts the moment the sentence is
 * complete; audio is delivered in order). STT and TTS are any
 * OpenAI-compatible servers, so local ones work.
 */
import { SpeechDetector } from '../media/SpeechDetector.js';
import type { AgentActionResult, AgentAdapter, AgentCall, AgentEvent, AgentSink } from './AgentAdapter.js';
import type { AgentConfig } from './agentConfig.js';
import { AgentMarks } from './AgentMarks.js';
import { AGENT_HTTP_DEADLINES, streamChat, synthesize, transcribe, TTS_PCM_RATE, warm, type AgentHttpDeadlines } from './openAiHttp.js';
import { SentenceSplitter } from './SentenceSplitter.js';
import { openClawSessionKey } from './sessionKey.js';

type OpenClawConfig = Extract<AgentConfig, { kind: 'openclaw' }>;

/** Audio kept from before the detector fired, so the first syllable reaches STT. */
const PREROLL_MS = 300;
/** Longest caller turn sent to STT (60 s). */
const MAX_TURN_MS = 60_000;

export class OpenClawAgent implements AgentAdapter {
  readonly kind = 'openclaw';
  readonly sampleRate = TTS_PCM_RATE;
  readonly audioTiming = 'buffered';
  readonly bargeIn = 'gateway';
  readonly marks = new AgentMarks();
  readonly #config: OpenClawConfig;
  readonly #detector: SpeechDetector;
  #sink: AgentSink | null = null;
  #sessionKey = '';
  #resumed = false;
  #closed = false;
  /** Caller audio: a pre-roll ring while quiet, the whole turn while speaking. */
  #turn: Int16Array[] = [];
  #turnSamples = 0;
  #reply: AbortController | null = null;
  #chain: Promise<void> = Promise.resolve();
  /** Aborted by close(): the warm-up's requests end with the call. */
  readonly #life = new AbortController();
  /** Each request's deadline (openAiHttp.ts; tests shorten them). */
  readonly #deadlines: AgentHttpDeadlines;

  constructor(config: OpenClawConfig, options: { deadlines?: Partial<AgentHttpDeadlines> } = {}) {
    this.#config = config;
    this.#deadlines = { ...AGENT_HTTP_DEADLINES, ...options.deadlines };
    this.#detector = new SpeechDetector({
      sampleRate: this.sampleRate,
      thresholdDbfs: config.bargeIn.thresholdDbfs,
      minSpeechMs: config.bargeIn.minSpeechMs,
      hangoverMs: config.turnEndMs,
    });
  }

  async open(call: AgentCall, sink: AgentSink): Promise<void> {
    this.marks.opening();
    this.#sink = sink;
    this.#sessionKey = openClawSessionKey(call, this.#config.session);
    this.#resumed = call.resumed === true;
    // Connections (and fetch itself) warm before pickup: the first turn is not late. Each within
    // 5 s, as the ws and realtime adapters' open; a hung endpoint fails the open, and close() ends it.
    const ms = this.#deadlines.warmMs;
    const signal = this.#life.signal;
    await Promise.all([warm(this.#config.chat, signal, ms), warm(this.#config.stt, signal, ms), warm(this.#config.tts, signal, ms)]);
    this.marks.opened();
  }

  callStarted(): void {
    // A call already under way was greeted by the session before this one.
    if (this.#config.greeting && !this.#resumed) {
      const reply = this.#newReply();
      this.#speak(this.#config.greeting, reply.signal);
      this.#chain = this.#chain.then(() => this.#emit({ type: 'turn.done' }));
    }
  }

  pushAudio(pcm: Int16Array): void {
    if (this.#closed) return;
    const was = this.#detector.speaking;
    const transition = this.#detector.push(pcm);
    this.#turn.push(pcm);
    this.#turnSamples += pcm.length;
    if (!was && transition !== 'started') {
      // Quiet: keep only the pre-roll.
      const keep = (this.sampleRate * PREROLL_MS) / 1000;
      while (this.#turn.length > 1 && this.#turnSamples - (this.#turn[0]?.length ?? 0) >= keep) {
        this.#turnSamples -= this.#turn.shift()?.length ?? 0;
      }
      return;
    }
    if (transition === 'stopped' || this.#turnSamples > (this.sampleRate * MAX_TURN_MS) / 1000) {
      this.marks.callerTurnEnded();
      this.#emit({ type: 'speech.stopped' });
      const audio = concat(this.#turn, this.#turnSamples);
      this.#turn = [];
      this.#turnSamples = 0;
      if (this.#detector.speaking) this.#detector.reset();
      void this.#answer(audio);
    }
  }

  pushDtmf(digit: string): void {
    if (this.#closed) return;
    // A key press becomes a short text turn.
    void this.#answerText(`[caller pressed ${digit}]`);
  }

  /** This protocol has no marks: it never sends any, so none can play. */
  markPlayed(_name: string): void {}

  interrupt(_heardMs: number): void {
    // The reply being spoken is dropped whole: chat completions has no way to
    // say how much was heard, so the next turn starts from the caller's words.
    this.#reply?.abort();
    this.#reply = null;
    this.#chain = Promise.resolve();
  }

  actionResult(_result: AgentActionResult): void {}

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#life.abort();
    this.#reply?.abort();
    this.#sink = null;
  }

  async #answer(audio: Int16Array): Promise<void> {
    const reply = this.#newReply();
    let text: string;
    try {
      text = await transcribe(this.#config.stt, audio, this.sampleRate, reply.signal, this.#deadlines.sttMs);
    } catch (err) {
      if (!reply.signal.aborted) this.#emit({ type: 'error', message: (err as Error).message });
      return;
    }
    if (!text || reply.signal.aborted) return;
    this.#emit({ type: 'transcript', role: 'caller', text, final: true });
    await this.#stream(text, reply);
  }

  async #answerText(text: string): Promise<void> {
    await this.#stream(text, this.#newReply());
  }

  async #stream(text: string, reply: AbortController): Promise<void> {
    const splitter = new SentenceSplitter();
    let whole = '';
    try {
      for await (const delta of streamChat(this.#config.chat, this.#sessionKey, text, reply.signal, this.#deadlines.chatIdleMs)) {
        whole += delta;
        this.#emit({ type: 'transcript', role: 'agent', text: delta, final: false });
        for (const sentence of splitter.push(delta)) this.#speak(sentence, reply.signal);
      }
    } catch (err) {
      if (!reply.signal.aborted) this.#emit({ type: 'error', message: (err as Error).message });
      return;
    }
    const rest = splitter.flush();
    if (rest) this.#speak(rest, reply.signal);
    this.#emit({ type: 'transcript', role: 'agent', text: whole, final: true });
    this.#chain = this.#chain.then(() => {
      if (!reply.signal.aborted) this.#emit({ type: 'turn.done' });
    });
  }

  /** A new caller turn supersedes a reply still being made. */
  #newReply(): AbortController {
    this.#reply?.abort();
    const reply = new AbortController();
    this.#reply = reply;
    this.#chain = Promise.resolve();
    return reply;
  }

  /** Synthesis starts now; its audio is delivered after every earlier sentence's. */
  #speak(sentence: string, signal: AbortSignal): void {
    const slot = { chunks: [] as Int16Array[], live: false };
    const forward = (pcm: Int16Array) => {
      if (signal.aborted) return;
      if (slot.live) this.#deliver(pcm);
      else slot.chunks.push(pcm);
    };
    const done = synthesize(this.#config.tts, sentence, signal, forward, this.#deadlines.ttsIdleMs).catch((err: Error) => {
      if (!signal.aborted) this.#emit({ type: 'error', message: err.message });
    });
    const previous = this.#chain;
    this.#chain = (async () => {
      await previous;
      if (signal.aborted) return;
      for (const chunk of slot.chunks) this.#deliver(chunk);
      slot.chunks = [];
      slot.live = true;
      await done;
    })();
  }

  #deliver(pcm: Int16Array): void {
    this.marks.agentAudio();
    this.#sink?.audio(pcm);
  }

  #emit(event: AgentEvent): void {
    this.#sink?.event(event);
  }
}

function concat(parts: Int16Array[], total: number): Int16Array {
  const out = new Int16Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
