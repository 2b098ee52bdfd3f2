/**
 * A call that never gets a media socket has no audio path, and only its
 * call.hangup webhook would end it: if that webhook is lost, it would stay
 * live (and hold a maxCalls place) for good. So each call without media has a
 * deadline: from admission (inbound: the answer with the stream goes out
 * then), again from call.answered, and for a dial from placing it (as long as
 * the provider lets a dial ring, plus the same wait). Past it, the call ends
 * and is hung up (`no_media`). A stream that lands clears it; a lost stream's
 * restart has its own deadline (StreamRestarts) and is left to it.
 */
import type { LiveCall } from './LiveCall.js';

/** How long after admission or the answer a call may go without a media socket. */
export const NO_MEDIA_MS = 30_000;
/** The longest a dial rings (the platform's DIAL_TIMEOUT_SECS maximum, Telnyx's `timeout_secs`). */
export const DIAL_RING_MAX_MS = 600_000;

export class NoMediaDeadline {
  readonly #ms: number;
  readonly #timers = new Map<LiveCall, NodeJS.Timeout>();
  readonly #expired: (call: LiveCall) => void;

  /** `expired`: the call is still live and no stream ever landed. */
  constructor(ms: number, expired: (call: LiveCall) => void) {
    this.#ms = ms;
    this.#expired = expired;
  }

  get ms(): number {
    return this.#ms;
  }

  /** (Re)starts the call's deadline, `extraMs` later than the usual wait; nothing once media has been seen. */
  arm(call: LiveCall, extraMs = 0): void {
    if (call.mediaSeen || call.state === 'ending') return;
    this.clear(call);
    const timer = setTimeout(() => {
      this.#timers.delete(call);
      if (call.mediaSeen || call.state === 'ending') return;
      // A lost stream's restart episode is under way: its own deadline decides.
      if (call.orphanTimer) return;
      this.#expired(call);
    }, this.#ms + extraMs);
    timer.unref();
    this.#timers.set(call, timer);
  }

  clear(call: LiveCall): void {
    const timer = this.#timers.get(call);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.#timers.delete(call);
  }
}
