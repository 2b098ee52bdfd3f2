/**
 * A call's budget for losing its agent socket, across losses (reconnect.ts
 * runs the schedule after one loss). An agent that accepts the connection and
 * then breaks it every time (a message over the size limit, a close right
 * after `ready`, a crash on the first caller audio) would otherwise get a new
 * connection every 0.25 s for the whole call while the caller hears silence.
 *
 * A socket lost within QUICK_LOSS_MS of going live (`ready`, `session.updated`)
 * counts as broken by the agent; a socket that outlived it starts the count
 * again. MAX_QUICK_LOSSES such losses in a row end the reconnecting for the
 * call. Why these numbers: a server restarting once costs one loss, usually of
 * a socket that had been up long; a server that comes back half-started (or a
 * load balancer that still routes to a draining replica) may cost one more
 * quick one; a hosted session's length limit (60 minutes on OpenAI,
 * developers.openai.com/blog/realtime-api; 30 on Azure OpenAI) is never
 * quick. A third quick loss in a row with no socket holding 10 s between is
 * the agent itself. Each quick loss also starts the schedule one step further
 * (0.25 s, then 1 s before the first attempt), so the budget is not spent as
 * a storm.
 */
import { DEFAULT_RECONNECT, type ReconnectSchedule } from './reconnect.js';

/** As long as the schedule waits for a lost socket: one that cannot hold this long is not back. */
export const QUICK_LOSS_MS = 10_000;
export const MAX_QUICK_LOSSES = 3;

export type LossVerdict =
  /** Connect again, starting the schedule at this step. */
  | { reconnect: true; fromStep: number }
  /** Stop: `losses` quick losses in a row; `why` is the sentence for the log and the hang-up. */
  | { reconnect: false; losses: number; why: string };

export class AgentReconnects {
  readonly schedule: ReconnectSchedule;
  readonly #quickMs: number;
  readonly #max: number;
  readonly #now: () => number;
  #liveAt = Number.NEGATIVE_INFINITY;
  #inARow = 0;

  constructor(schedule: ReconnectSchedule = DEFAULT_RECONNECT, now: () => number = () => performance.now()) {
    this.schedule = schedule;
    this.#quickMs = schedule.quickLossMs ?? QUICK_LOSS_MS;
    this.#max = schedule.maxQuickLosses ?? MAX_QUICK_LOSSES;
    this.#now = now;
  }

  /** A socket went live (the first one of the call, or one connected again). */
  live(): void {
    this.#liveAt = this.#now();
  }

  /** A live socket was lost for `reason` (e.g. "a message over 1 MiB (closed with 1009)"). */
  lost(reason: string): LossVerdict {
    const quick = this.#now() - this.#liveAt < this.#quickMs;
    this.#inARow = quick ? this.#inARow + 1 : 0;
    if (this.#inARow >= this.#max) {
      const within = Math.round(this.#quickMs / 100) / 10;
      return { reconnect: false, losses: this.#inARow, why: `the agent lost its socket ${this.#inARow} times in a row, each within ${within} s of connecting; last: ${reason}` };
    }
    return { reconnect: true, fromStep: Math.max(0, this.#inARow - 1) };
  }
}

/** The ws library's errors on a live socket, in the protocol's words (its codes: ws/lib/receiver.js; 1009: RFC 6455 section 7.4.1). */
export function describeSocketError(err: Error & { code?: string }, maxMessageBytes: number): string {
  if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return `a message over ${maxMessageBytes / (1 << 20)} MiB (closed with 1009)`;
  return err.message;
}
