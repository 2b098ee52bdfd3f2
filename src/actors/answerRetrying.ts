/**
 * An inbound call's answer that the platform refused for the deployment's
 * rate limit (429 TTMA_ERR_RATE_LIMITED) is sent again after the platform's
 * Retry-After, while the caller is still ringing: a refused answer used to
 * end the call at once ("answer failed"), so whatever spent the budget (an
 * agent's flood, a burst of hang-ups) cost a caller their call. A 429 means
 * the request was not acted on (the platform refuses before it forwards, and
 * the provider's own 429 is a refusal too), so sending it again cannot
 * answer twice. Any other failure stays final.
 *
 * The window: ANSWER_RETRY_WINDOW_MS from the call's admission. A parked
 * inbound call is not held for ever by the provider (the simulator gives up
 * after 10 s, `answerTimeoutMs`); an answer past that would fail anyway.
 */
import { performance } from 'node:perf_hooks';
import { PlatformRefusal } from '../control/SignallingClient.js';
import { ErrorCodes, isTtmaError } from '../errors.js';

export const ANSWER_RETRY_WINDOW_MS = 8_000;
/** The wait when the platform named none (its Retry-After is whole seconds, at least 1). */
const DEFAULT_WAIT_MS = 1_000;
/** Spread over this, so answers refused together do not all come back in the same millisecond. */
const JITTER_MS = 250;

export interface AnswerRetrying {
  /** performance.now() past which no attempt starts. */
  deadline: number;
  /** False once the call has ended (its caller hung up meanwhile): no more attempts. */
  live(): boolean;
  /** An attempt was refused for the rate and another follows after `waitMs`. */
  retrying(err: unknown, waitMs: number): void;
}

/** Runs `answer` until it succeeds, fails for another reason, or the window or the call ends; throws the last failure. */
export async function answerRetrying(answer: () => Promise<unknown>, options: AnswerRetrying): Promise<void> {
  for (;;) {
    try {
      await answer();
      return;
    } catch (err) {
      if (!isTtmaError(err, ErrorCodes.RATE_LIMITED) || !options.live()) throw err;
      const advised = err instanceof PlatformRefusal && err.retryAfterMs !== null ? err.retryAfterMs : DEFAULT_WAIT_MS;
      const waitMs = Math.round(advised + Math.random() * JITTER_MS);
      if (performance.now() + waitMs > options.deadline) throw err;
      options.retrying(err, waitMs);
      await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
      if (!options.live()) throw err;
    }
  }
}
