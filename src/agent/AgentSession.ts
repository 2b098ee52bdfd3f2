/**
 * The one interface every agent adapter implements (DESIGN 6): open (called
 * on call.initiated, so the agent is warm before the caller hears anything),
 * push caller audio, receive agent audio of any chunk size, interrupt, close.
 * Audio on this side is PCM16 little-endian mono at `sampleRate`.
 */
export type AgentEvent =
  | { type: 'speech.started' }
  | { type: 'speech.stopped' }
  | { type: 'transcript'; role: 'caller' | 'agent'; text: string; final: boolean }
  | { type: 'hangup.request'; reason: string }
  | { type: 'dtmf.send'; digits: string };

export interface AgentSession {
  readonly kind: string;
  readonly sampleRate: number;
  /**
   * 'live': the agent's audio follows the caller's clock (an echo, a relay),
   * so it is sent as soon as it exists and a backlog is worked off quickly.
   * 'buffered': audio made ahead of time (text to speech), paced on a fixed grid.
   */
  readonly audioTiming: 'live' | 'buffered';
  /** Set by the call actor before open(). */
  onAudio: ((pcm: Int16Array) => void) | null;
  onEvent: ((event: AgentEvent) => void) | null;
  open(): Promise<void>;
  pushAudio(pcm: Int16Array): void;
  pushDtmf(digit: string): void;
  interrupt(): void;
  close(): void;
}
