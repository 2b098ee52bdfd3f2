/**
 * The gateway's view of its deployment's minute caps, as the platform last
 * said over the control connection (FAQ-14). The platform enforces the caps
 * itself; this only lets the gateway refuse a new call at once, with the
 * platform's own message, instead of answering it and being refused. A cap
 * lifts at the time the platform gave, or when the platform says so; a
 * `cap.reached` without a state caps for a minute until the state follows.
 */
import { ErrorCodes, TtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CapState } from '../wire/controlChannel.js';

/** How long a cap without an end time (a bare cap.reached, an unreadable `until`) holds. */
const PROVISIONAL_CAP_MS = 60_000;

export class CapGate {
  readonly #log: Logger;
  readonly #now: () => number;
  #cap: { cap: 'day' | 'month'; untilMs: number; message: string } | null = null;

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  /** Whether new calls are refused for a minute cap now, and why. */
  state(): CapState {
    if (this.#cap && this.#now() >= this.#cap.untilMs) {
      this.#log.info({ cap: this.#cap.cap }, 'minute cap period over: new calls allowed again');
      this.#cap = null;
    }
    return this.#cap
      ? { capped: true, cap: this.#cap.cap, until: new Date(this.#cap.untilMs).toISOString(), message: this.#cap.message }
      : { capped: false };
  }

  /** The platform's `hello` or `cap.state`. */
  set(state: CapState): void {
    const was = this.#cap !== null;
    if (state.capped) {
      const untilMs = Date.parse(state.until);
      this.#cap = { cap: state.cap, untilMs: Number.isNaN(untilMs) ? this.#now() + PROVISIONAL_CAP_MS : untilMs, message: state.message };
      if (!was) this.#log.warn({ cap: state.cap, until: state.until, code: ErrorCodes.CAP_REACHED }, `new calls refused: ${state.message}`);
    } else {
      this.#cap = null;
      if (was) this.#log.info('the platform lifted the minute cap: new calls allowed again');
    }
  }

  /** A live call was ended at a cap: new calls are refused at least until the state that follows says otherwise. */
  reached(cap: 'day' | 'month', message: string): void {
    if (!this.#cap) this.#cap = { cap, untilMs: this.#now() + PROVISIONAL_CAP_MS, message };
  }

  /** The refusal for a new call now, or null. */
  refusal(): TtmaError | null {
    const state = this.state();
    return state.capped ? new TtmaError(ErrorCodes.CAP_REACHED, state.message, 403) : null;
  }
}
