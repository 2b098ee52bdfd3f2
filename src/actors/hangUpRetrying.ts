/**
 * A hang-up through the platform that failed for a reason that may pass (no
 * answer, a reset, a 5xx from the platform or the provider behind it, a rate
 * limit) is tried again after 1, 5 and 30 s: a call left up at the provider
 * keeps the caller on a dead line and costs minutes. Repeating it is safe: the
 * provider answers a hang-up of an ended call with 422/90018, which the
 * platform counts as done. A refusal (the call is not ours, a bad request) is
 * final. Nothing is tried past `deadline` (the gateway's own shutdown).
 */
import { performance } from 'node:perf_hooks';
import { ErrorCodes, isTtmaError } from '../errors.js';

export const HANGUP_RETRY_MS: readonly number[] = [1_000, 5_000, 30_000];

export interface HangUpRetrying {
  /** Waits before each new attempt. */
  waits: readonly number[];
  /** performance.now() past which no attempt starts (Infinity: none). */
  deadline(): number;
  /** An attempt failed and another follows after `waitMs`. */
  retrying(err: unknown, waitMs: number): void;
}

/** Whether a failed request may succeed if sent again. */
export function mayPass(err: unknown): boolean {
  if (!isTtmaError(err)) return true;
  return err.status >= 500 || err.code === ErrorCodes.RATE_LIMITED;
}

/** Runs `hangup` until it succeeds, fails for good, or the waits or the deadline run out; throws the last failure. */
export async function hangUpRetrying(hangup: () => Promise<unknown>, options: HangUpRetrying): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await hangup();
      return;
    } catch (err) {
      const wait = options.waits[attempt];
      if (wait === undefined || !mayPass(err) || performance.now() + wait > options.deadline()) throw err;
      options.retrying(err, wait);
      // Unref'd: a stopping process is not held open by a wait.
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  }
}
