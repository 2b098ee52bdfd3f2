/**
 * Per-call latency marks, so the bench can split gateway time from agent
 * time: when the agent was warm, when each caller turn ended, when the
 * agent's first audio for it arrived at the gateway. Times are epoch ms with
 * sub-ms resolution (performance.timeOrigin + now: the same on every thread).
 */
import { performance } from 'node:perf_hooks';

export const nowMs = (): number => performance.timeOrigin + performance.now();

export interface AgentMarksSummary {
  openMs: number | null;
  /** Caller stopped speaking -> first agent audio at the gateway, per turn (agent time). */
  turnLatencyMs: number[];
  firstAudioAt: number | null;
}

export class AgentMarks {
  openStartedAt: number | null = null;
  openedAt: number | null = null;
  firstAudioAt: number | null = null;
  #turnEndAt: number | null = null;
  readonly #turns: number[] = [];

  opening(): void {
    this.openStartedAt = nowMs();
  }

  opened(): void {
    this.openedAt = nowMs();
  }

  /** The caller's turn ended (agent VAD speech.stopped, or ours). */
  callerTurnEnded(): void {
    this.#turnEndAt = nowMs();
  }

  /** An agent audio chunk arrived at the gateway. */
  agentAudio(): void {
    const t = nowMs();
    if (this.firstAudioAt === null) this.firstAudioAt = t;
    if (this.#turnEndAt !== null) {
      if (this.#turns.length < 1000) this.#turns.push(Math.round((t - this.#turnEndAt) * 100) / 100);
      this.#turnEndAt = null;
    }
  }

  summary(): AgentMarksSummary {
    const open = this.openStartedAt !== null && this.openedAt !== null ? Math.round((this.openedAt - this.openStartedAt) * 100) / 100 : null;
    return { openMs: open, turnLatencyMs: [...this.#turns], firstAudioAt: this.firstAudioAt };
  }
}
