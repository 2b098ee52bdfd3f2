/**
 * `error` messages to a `ws` agent about what it sent (a refused mark, an
 * unknown type, a bad field), bounded per call: an agent in a loop that sends
 * a bad message a thousand times a second must not get a thousand answers back
 * (they would compete with the caller's audio on its socket). The first
 * `perSecond` of each second are sent; the rest are counted, and one message
 * at the end of the second says how many were not sent.
 */
import { ErrorCodes } from '../errors.js';
import { WindowedBurst } from '../WindowedBurst.js';
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
// One budget for all of a call's errors: a single key.
const ALL = 'error';

export class AgentErrorBudget {
  readonly #send: (message: AgentErrorMessage) => void;
  readonly #burst: WindowedBurst<undefined>;

  constructor(send: (message: AgentErrorMessage) => void, perSecond = AGENT_ERRORS_PER_SECOND, now: () => number = Date.now) {
    this.#send = send;
    this.#burst = new WindowedBurst<undefined>({
      burst: perSecond,
      windowMs: WINDOW_MS,
      now,
      // The summary goes down the same socket, so it is one of the next second's errors.
      summaryUsesBurst: true,
      summarize: ({ held }) => this.#send({ type: 'error', code: ErrorCodes.RATE_LIMITED, message: `${held} more errors in the last second were not sent one by one`, suppressed: held }),
    });
  }

  error(code: string, message: string, id?: RequestId): void {
    if (this.#burst.admit(ALL, undefined)) this.#send({ type: 'error', code, message, ...(id === undefined ? {} : { id }) });
  }

  close(): void {
    this.#burst.stop();
  }
}
