/**
 * The echo agent plays the caller back: for the demo, tests and bench. It
 * returns each chunk at once, so any delay measured end to end is ours.
 */
import type { AgentActionResult, AgentAdapter, AgentCall, AgentSink } from './AgentAdapter.js';
import { AgentMarks } from './AgentMarks.js';

export const ECHO_SAMPLE_RATE = 16_000;

export class EchoAgent implements AgentAdapter {
  readonly kind = 'echo';
  readonly sampleRate = ECHO_SAMPLE_RATE;
  readonly audioTiming = 'live';
  /** The caller always talks over their own echo: no barge-in. */
  readonly bargeIn = 'off';
  readonly marks = new AgentMarks();
  #sink: AgentSink | null = null;

  async open(_call: AgentCall, sink: AgentSink): Promise<void> {
    this.marks.opening();
    this.#sink = sink;
    this.marks.opened();
  }

  callStarted(): void {}

  pushAudio(pcm: Int16Array): void {
    this.#sink?.audio(pcm);
  }

  pushDtmf(_digit: string): void {
    // An echo has nothing to say to a key press.
  }

  /** This protocol has no marks: it never sends any, so none can play. */
  markPlayed(_name: string): void {}

  interrupt(_heardMs: number): void {}

  actionResult(_result: AgentActionResult): void {}

  close(): void {
    this.#sink = null;
  }
}
