/**
 * A model of the phone playing back what the gateway sends, just enough for
 * marks and clear (DESIGN.md 3a): audio plays back to back from when it
 * arrives, at real time; a mark comes back when everything queued before it
 * has played; `clear` drops what has not played yet and returns pending marks.
 */
import { SAMPLE_RATE } from './constants.js';

interface PendingMark {
  name: string;
  dueAt: number;
}

export class Playout {
  readonly #maxPending: number;
  readonly #pending: PendingMark[] = [];
  #playEndAt = Number.NEGATIVE_INFINITY;
  #clearedMs = 0;

  constructor(maxPending: number) {
    this.#maxPending = maxPending;
  }

  /** Milliseconds of audio dropped by `clear` so far. */
  get clearedMs(): number {
    return this.#clearedMs;
  }

  get pendingMarks(): number {
    return this.#pending.length;
  }

  enqueueAudio(nowMs: number, samples: number): void {
    const start = Math.max(nowMs, this.#playEndAt);
    this.#playEndAt = start + (samples * 1000) / SAMPLE_RATE;
  }

  /** Returns the names to echo now: this mark if nothing is queued, else nothing (or the oldest, on overflow). */
  mark(nowMs: number, name: string): string[] {
    if (this.#playEndAt <= nowMs && this.#pending.length === 0) return [name];
    this.#pending.push({ name, dueAt: Math.max(nowMs, this.#playEndAt) });
    if (this.#pending.length > this.#maxPending) {
      const oldest = this.#pending.shift();
      return oldest ? [oldest.name] : [];
    }
    return [];
  }

  /** Marks whose audio has played by `nowMs`, in order. */
  due(nowMs: number): string[] {
    const out: string[] = [];
    while (this.#pending.length > 0 && (this.#pending[0]?.dueAt ?? Infinity) <= nowMs) {
      const mark = this.#pending.shift();
      if (mark) out.push(mark.name);
    }
    return out;
  }

  /** Drops un-played audio; every pending mark comes back at once. */
  clear(nowMs: number): string[] {
    if (this.#playEndAt > nowMs) this.#clearedMs += this.#playEndAt - nowMs;
    this.#playEndAt = nowMs;
    return this.#pending.splice(0).map((m) => m.name);
  }
}
