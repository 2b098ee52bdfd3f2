/**
 * The one interface every agent adapter implements (DESIGN 6). An adapter is
 * the I/O to one agent for one call; it runs on the call's media worker,
 * beside its CallActor (docs/agents.md says why).
 *
 * Life of a call: open() on call.initiated (the agent is warm before the
 * caller hears anything) -> callStarted() when caller media flows ->
 * pushAudio() per caller frame, agent audio of any chunk size and events to
 * the sink -> markPlayed(name) as marks play -> interrupt(heardMs, marks) on
 * barge-in -> close().
 * Audio on this side is PCM16 mono at `sampleRate` (known once open() resolved).
 */
import type { AgentMarks } from './AgentMarks.js';
import type { RequestId } from './requestId.js';

export type AgentEvent =
  /** The agent's own VAD heard the caller start speaking: barge-in. */
  | { type: 'speech.started' }
  | { type: 'speech.stopped' }
  | { type: 'transcript'; role: 'caller' | 'agent'; text: string; final: boolean }
  /** Everything the agent meant to say for this turn has been delivered. */
  | { type: 'turn.done' }
  /** Hang up; with afterPlayout, once what is queued has been played to the caller. */
  | { type: 'hangup.request'; reason: string; afterPlayout: boolean }
  /** `id`: the agent's own request id, echoed in the result (ws protocol). */
  | { type: 'transfer.request'; to: string; id?: RequestId }
  | { type: 'dial.request'; to: string; id?: RequestId }
  | { type: 'dtmf.send'; digits: string; id?: RequestId }
  /** Tell me when the caller has heard everything I sent before this (markPlayed), or that it was dropped (interrupt). */
  | { type: 'mark'; name: string; id?: RequestId }
  | { type: 'error'; message: string }
  /**
   * The agent kept breaking its socket soon after each connection: no more reconnects this call
   * (agentReconnects.ts). A hang-up after playout follows; this is for the log and the metrics.
   */
  | { type: 'reconnect.stopped'; losses: number; why: string };

export interface AgentCall {
  callId: string;
  from: string;
  to: string;
  direction: 'incoming' | 'outgoing';
  /**
   * A call already under way when this session opens: its stream moved to
   * another worker, or a new gateway process took it over. The caller was
   * greeted; the agent does not speak first again.
   */
  resumed?: boolean;
}

export interface AgentSink {
  /** PCM16 at the adapter's sampleRate, any chunk size; the call actor frames it. */
  audio(pcm: Int16Array): void;
  event(event: AgentEvent): void;
}

/** What came of a request the agent made (dial, transfer, DTMF), from the platform. */
export interface AgentActionResult {
  request: 'dial' | 'transfer' | 'dtmf';
  ok: boolean;
  /** Error code on refusal (TTMA_ERR_DESTINATION_REFUSED...), new call id on a dial. */
  detail: string;
  /** The request's `id`, when the agent gave one. */
  id?: RequestId;
}

/**
 * Who notices the caller talking over the agent: the agent (server VAD sends
 * speech.started), the gateway (SpeechDetector on caller audio), or nobody
 * (echo: the caller always talks over their own echo).
 */
export type BargeInSource = 'agent' | 'gateway' | 'off';

export interface AgentAdapter {
  readonly kind: string;
  /** PCM16 rate both ways; final once open() has resolved (ws negotiates it). */
  readonly sampleRate: number;
  /**
   * 'live': the agent's audio follows the caller's clock (echo), sent as soon
   * as it exists. 'buffered': audio made ahead of time (speech synthesis),
   * paced on a fixed grid.
   */
  readonly audioTiming: 'live' | 'buffered';
  readonly bargeIn: BargeInSource;
  readonly marks: AgentMarks;
  open(call: AgentCall, sink: AgentSink): Promise<void>;
  /** Caller media is flowing: the agent may greet. */
  callStarted(): void;
  pushAudio(pcm: Int16Array): void;
  pushDtmf(digit: string): void;
  /**
   * Barge-in: the caller heard `heardMs` of the agent's audio since the last
   * interrupt; drop the rest. `marks` says which of the agent's marks were
   * heard since then and which were dropped with the audio.
   */
  interrupt(heardMs: number, marks: { played: string[]; dropped: string[] }): void;
  /** The caller has heard everything the agent sent before this mark. */
  markPlayed(name: string): void;
  actionResult(result: AgentActionResult): void;
  /** Tell the agent something it sent was refused (a `ws` agent gets an `error` message; others have no such message). */
  refused?(code: string, message: string, id?: RequestId): void;
  close(): void;
}
