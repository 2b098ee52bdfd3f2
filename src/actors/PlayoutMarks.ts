/**
 * The agent's marks on their way to the caller. A mark follows the agent's
 * audio through three places: the framer (inside a partial 20 ms frame), the
 * outbound queue (OutboundQueue, between frames), and the provider (sent as
 * a provider `mark`, whose echo means the caller heard everything before it).
 * On barge-in every mark is accounted for: played (echoed, or at the provider
 * with its audio already paced out: the provider returns pending marks on
 * `clear` anyway, and those echoes are then ignored) or dropped (its audio was
 * still queued here).
 */
import type { OutboundQueue } from '../media/OutboundQueue.js';

/** Provider mark names of agent marks start with this; our own (the hang-up mark) do not. */
export const AGENT_MARK_PREFIX = 'agent:';
/** Marks an agent may have in flight; more are refused (a runaway agent must not grow our memory). */
export const MAX_PENDING_MARKS = 256;
const MAX_MARK_NAME = 64;
/** Played marks kept for the next barge-in report (the agent also got each as it played). */
const MAX_PLAYED_REPORT = 256;

/** 1 to 64 printable ASCII characters. */
export function isValidMarkName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.length <= MAX_MARK_NAME && /^[\x20-\x7e]+$/.test(name);
}

export interface MarksAtClear {
  /** Heard since the previous barge-in, oldest first. */
  played: string[];
  /** Not heard: their audio was dropped. */
  dropped: string[];
}

export class PlayoutMarks {
  readonly #toProvider: (providerName: string) => void;
  readonly #toAgent: (name: string) => void;
  /** Marks inside the framer: after this many more samples leave it. */
  #inFramer: { name: string; samplesLeft: number }[] = [];
  #atProvider: string[] = [];
  #played: string[] = [];
  readonly #echoesToIgnore = new Map<string, number>();

  /** `toProvider` sends a provider mark frame; `toAgent` tells the agent a mark played. */
  constructor(toProvider: (providerName: string) => void, toAgent: (name: string) => void) {
    this.#toProvider = toProvider;
    this.#toAgent = toAgent;
  }

  /** Marks not yet played or dropped, here and at the provider (the queue's own are counted by the caller). */
  get inFlight(): number {
    return this.#inFramer.length + this.#atProvider.length;
  }

  /** A mark after all audio so far: `framerBuffered` samples of it are still in the framer. */
  add(name: string, framerBuffered: number, queue: OutboundQueue<string>): void {
    if (framerBuffered > 0 || this.#inFramer.length > 0) {
      this.#inFramer.push({ name, samplesLeft: framerBuffered });
      return;
    }
    this.sent(queue.mark(name));
  }

  /** A frame of `samples` left the framer into `queue`: marks inside it follow it there. */
  framed(samples: number, queue: OutboundQueue<string>): void {
    const marks = this.#inFramer;
    if (marks.length === 0) return;
    // In order of position, so the ones this frame completes are a prefix.
    let n = 0;
    for (const m of marks) {
      m.samplesLeft -= samples;
      if (m.samplesLeft <= 0 && n < marks.length && marks[n] === m) n++;
    }
    for (const m of marks.splice(0, n)) this.sent(queue.mark(m.name));
  }

  /** The queue passed these marks (their audio is all sent): on to the provider. */
  sent(names: readonly string[]): void {
    for (const name of names) {
      this.#atProvider.push(name);
      this.#toProvider(AGENT_MARK_PREFIX + name);
    }
  }

  /** The provider echoed `providerName`. False when it is not an agent mark. */
  echoed(providerName: string): boolean {
    if (!providerName.startsWith(AGENT_MARK_PREFIX)) return false;
    const name = providerName.slice(AGENT_MARK_PREFIX.length);
    const ignore = this.#echoesToIgnore.get(name) ?? 0;
    if (ignore > 0) {
      if (ignore === 1) this.#echoesToIgnore.delete(name);
      else this.#echoesToIgnore.set(name, ignore - 1);
      return true;
    }
    const at = this.#atProvider.indexOf(name);
    // An echo of a mark we never sent (or twice) is the provider's confusion, not the agent's business.
    if (at < 0) return true;
    this.#atProvider.splice(at, 1);
    this.#remember(name);
    this.#toAgent(name);
    return true;
  }

  /**
   * The stream the marks at the provider went to is gone: they will never be
   * echoed (the new stream's provider side never saw them). Their audio was
   * all paced out, so each counts as played, as the heard point does. Nothing
   * is set aside to ignore: a later mark may reuse a name and must be heard.
   */
  streamLost(): void {
    for (const name of this.#atProvider.splice(0)) {
      this.#remember(name);
      this.#toAgent(name);
    }
  }

  /** Barge-in: `queueDropped` are the queue's marks (from OutboundQueue.clear), older than the framer's. */
  cleared(queueDropped: readonly string[]): MarksAtClear {
    const dropped = [...queueDropped, ...this.#inFramer.map((m) => m.name)];
    this.#inFramer = [];
    for (const name of this.#atProvider) {
      this.#echoesToIgnore.set(name, (this.#echoesToIgnore.get(name) ?? 0) + 1);
      this.#remember(name);
    }
    this.#atProvider = [];
    const played = this.#played;
    this.#played = [];
    return { played, dropped };
  }

  #remember(name: string): void {
    if (this.#played.length >= MAX_PLAYED_REPORT) this.#played.shift();
    this.#played.push(name);
  }
}
