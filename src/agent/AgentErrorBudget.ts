/**
 * `error` messages to a `ws` agent about what it sent (a refused mark, an
 * unknown type, a bad field), bounded per call: an agent in a loop that sends
 * a bad message a thousand times a second must not get a thousand answers back
 * (they would compete with the caller's audio on its socket). The first
 * `perSecond` of each second are sent; the rest are counted, and one message
 * at the end of the second says how many were not sent.
 */
import { ErrorCodes } from '../errors.js';
import type { RequestId } from './requestId.js';

export interface AgentErrorMessage {
  type: 'error';
  code: string;
  message: string;
  id?: RequestId;
  /** On the summary only: how many errors were not sent. */
  suppressed?: number;
}

export const AGENT_ERRORS_PER_SECOND = 10;
const WINDOW_MS = 1_000;

export class AgentErrorBudget {
  readonly #send: (message: AgentErrorMessage) => void;
  readonly #perSecond: number;
  readonly #now: () => number;
  #windowStart = -Infinity;
  #sent = 0;
  #suppressed = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(send: (message: AgentErrorMessage) => void, perSecond = AGENT_ERRORS_PER_SECOND, now: () => number = Date.now) {
    this.#send = send;
    this.#perSecond = perSecond;
    this.#now = now;
  }

  error(code: string, message: string, id?: RequestId): void {
    const now = this.#now();
    if (now - this.#windowStart >= WINDOW_MS) this.#flush(now);
    if (this.#sent < this.#perSecond) {
      this.#sent++;
      this.#send({ type: 'error', code, message, ...(id === undefined ? {} : { id }) });
      return;
    }
    this.#suppressed++;
    // A flood that stops still gets its summary at the end of its second.
    this.#timer ??= setTimeout(() => {
      this.#timer = null;
      this.#flush(this.#now());
    }, Math.max(0, this.#windowStart + WINDOW_MS - now)).unref();
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #flush(now: number): void {
    const suppressed = this.#suppressed;
    this.#windowStart = now;
    this.#sent = 0;
    this.#suppressed = 0;
    if (suppressed === 0) return;
    this.#sent = 1;
    this.#send({ type: 'error', code: ErrorCodes.RATE_LIMITED, message: `${suppressed} more errors in the last second were not sent one by one`, suppressed });
  }
}
