/**
 * Calls the platform hung up itself (CapActions: a minute cap reached, a
 * deployment disabled) are settled even when their call.hangup webhook never
 * comes (the provider gives up retrying a webhook after a while; a platform
 * down meanwhile never gets it). At a cap the call's reservation is released
 * once hung up, so no top-up, and no LiveCallAudit check after one, would
 * ever look at it again.
 *
 * Once the provider took the hang-up, the call goes on the call store's
 * unsettled index (CallStore.markHungUp), before the reservation is released:
 * a process killed after that leaves it there, and the next start's
 * SettlementSweep resumes it (Settlement then ends it from the provider's
 * final record). In this process, `checkAfterMs` later, a call whose hang-up
 * event has still not come is checked as the live call audit checks one
 * after a top-up (LiveCallAudit.checkCall: Telnyx's "Retrieve a call status",
 * GET /v2/calls/{call_control_id}, `is_alive`, kept 10 minutes after the call
 * ended, developers.telnyx.com/api-reference/call-information/retrieve-a-call-status;
 * then the call detail record). One the provider still calls alive, or that
 * could not be decided, is looked at again, `attempts` times in all; after
 * that the sweep's periodic pass has it (the index entry stays until billing
 * is written). Exactly once is Settlement's: its in-process guard and the cap
 * store's settled flag, so a late webhook settles nothing again.
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRegistry } from './CallRegistry.js';
import type { LiveCallAudit } from './LiveCallAudit.js';

export interface HungUpCallsOptions {
  calls: Pick<CallRegistry, 'get' | 'store'>;
  audit: Pick<LiveCallAudit, 'checkCall'>;
  logger: Logger;
  /** From the hang-up to the first check, and between checks (default 60 s: time for the webhook and its retries). */
  checkAfterMs?: number;
  /** Checks at most (default 3). */
  attempts?: number;
}

export const DEFAULT_HUNG_UP_CHECK_MS = 60_000;
const DEFAULT_ATTEMPTS = 3;

export class HungUpCalls {
  readonly #o: HungUpCallsOptions;
  readonly #timers = new Set<NodeJS.Timeout>();
  #closed = false;

  constructor(options: HungUpCallsOptions) {
    this.#o = options;
  }

  /**
   * The provider took the platform's hang-up of the call. True once it is marked for settlement;
   * false when the store did not answer: the caller keeps its reservation live then, so a later
   * refused top-up ends and marks it again (released after a failed mark, a call whose hang-up
   * event is lost would be neither live nor marked, and never settled). Never throws.
   */
  async hungUp(deploymentId: string, callId: string): Promise<boolean> {
    let marked = true;
    try {
      await this.#o.calls.store.markHungUp(callId, new Date().toISOString());
    } catch (err) {
      marked = false;
      this.#o.logger.error(
        { deployment: deploymentId, callId, err: isTtmaError(err) ? err.code : 'error' },
        'a call the platform hung up could not be marked for settlement: its reservation is kept, so a later refused top-up ends and marks it again',
      );
    }
    this.#schedule(deploymentId, callId, 1);
    return marked;
  }

  /** Stops the checks not run yet (the platform is stopping): the unsettled index keeps the calls for the next start. */
  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #schedule(deploymentId: string, callId: string, attempt: number): void {
    if (this.#closed) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      void this.#check(deploymentId, callId, attempt);
    }, this.#o.checkAfterMs ?? DEFAULT_HUNG_UP_CHECK_MS);
    // A platform stopping is not held up by a check.
    timer.unref();
    this.#timers.add(timer);
  }

  async #check(deploymentId: string, callId: string, attempt: number): Promise<void> {
    const record = await this.#o.calls.get(callId).catch(() => null);
    // Its hang-up event came (its settlement is under way, here or elsewhere), or it is settled, or gone.
    if (record === undefined || record?.billing || record?.state === 'ended') return;
    const outcome = record === null ? 'unknown' : await this.#o.audit.checkCall(deploymentId, callId);
    if (outcome === 'ended') return;
    if (attempt < (this.#o.attempts ?? DEFAULT_ATTEMPTS)) {
      this.#schedule(deploymentId, callId, attempt + 1);
      return;
    }
    this.#o.logger.warn(
      { deployment: deploymentId, callId, outcome, attempts: attempt },
      'a call the platform hung up is still not known to have ended: left to the settlement sweep',
    );
  }
}
