/**
 * The echo agent plays the caller back: for the demo, tests and bench. It
 * returns each chunk at once, so any delay measured end to end is ours.
 */
import type { AgentEvent, AgentSession } from './AgentSession.js';

export const ECHO_SAMPLE_RATE = 16_000;

export class EchoAgent implements AgentSession {
  readonly kind = 'echo';
  readonly sampleRate = ECHO_SAMPLE_RATE;
  readonly audioTiming = 'live';
  onAudio: ((pcm: Int16Array) => void) | null = null;
  onEvent: ((event: AgentEvent) => void) | null = null;
  #open = false;

  async open(): Promise<void> {
    this.#open = true;
  }

  pushAudio(pcm: Int16Array): void {
    if (this.#open) this.onAudio?.(pcm);
  }

  pushDtmf(_digit: string): void {
    // An echo has nothing to say to a key press.
  }

  interrupt(): void {}

  close(): void {
    this.#open = false;
    this.onAudio = null;
    this.onEvent = null;
  }
}

export function createAgentSession(kind: 'echo'): AgentSession {
  switch (kind) {
    case 'echo':
      return new EchoAgent();
  }
}
