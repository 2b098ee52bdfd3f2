/**
 * Outgoing calls no deployment owns, ended through the provider (fail closed).
 *
 * A dial reserves, asks the provider, then locks the call it names
 * (signallingRoutes.ts). A platform process killed between the provider's
 * answer and the lock (SIGKILL, power, OOM) leaves a real call at the
 * provider that nothing owns: LiveCallAudit gives its reservation back, but
 * the call itself rang or talked on, unbilled and outside every cap. Its
 * webhooks still come (to any process): each verified event of an outgoing
 * call whose record is not locked is watched here, and a call still unlocked
 * after the grace is hung up, once, with Telnyx's "Hang up call"
 * (POST /v2/calls/{call_control_id}/actions/hangup,
 * developers.telnyx.com/api-reference/call-commands/hangup-call).
 *
 * The grace: the provider's webhooks can come before the dial's own answer,
 * so a live dial's call is unlocked for a while. The process dialling gives
 * up on the provider after `ProviderClient.commandDeadlineMs` (every attempt
 * to its timeout, and the waits between), then locks with one store command
 * or, if that fails, hangs the call up itself. A webhook is only sent once
 * the provider has the dial, so from its arrival, that deadline plus the
 * lock's margin is past the end of any dial still in flight, on this process
 * or another on the same store (all are assumed to run with the same
 * provider settings).
 *
 * Once: the claim is a key in the webhook replay store (Redis `SET NX` when
 * the platform runs on Redis, shared by every process), held for its window
 * (10 minutes); a hang-up that did not go through gives the claim back, so a
 * later event of the call tries again.
 *
 * Not told apart: a dial this platform lost and a call someone else placed on
 * the connection. Marking dials through client_state was not done: the
 * gateway receives the provider's signed webhooks as they were signed
 * (ControlHub relays the body byte for byte), so a wrapped client_state could
 * not be unwrapped for it (docs/decisions.md, twenty-fifth session).
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRegistry } from './CallRegistry.js';
import type { ProviderClient } from './ProviderClient.js';
import type { ReplayStore } from './store/ReplayStore.js';

/** What became of an unowned call this process claimed (the `outcome` label of `ttma_unowned_dials_total`). */
export const UNOWNED_DIAL_OUTCOMES = ['hung_up', 'already_ended', 'failed'] as const;
export type UnownedDialOutcome = (typeof UNOWNED_DIAL_OUTCOMES)[number];

/** After the dial's own deadline: the lock is one store command (500 ms timeout on Redis), with room for a busy event loop. */
export const LOCK_MARGIN_MS = 2_000;
/** Calls watched at once; past it a new one is not watched (logged): a flood of unlocked outgoing calls is not a dial's. */
const DEFAULT_MAX_WATCHED = 10_000;

export interface UnownedDialsOptions {
  calls: Pick<CallRegistry, 'get'>;
  provider: Pick<ProviderClient, 'hangup'>;
  /** Who hangs a call up, once across processes (the webhook replay store). */
  claims: Pick<ReplayStore, 'checkAndRemember' | 'forget'>;
  /** How long an outgoing call may stay unlocked after one of its events (commandDeadlineMs + LOCK_MARGIN_MS). */
  graceMs: number;
  now: () => number;
  log: Logger;
  maxWatched?: number;
  /** Counted per outcome (PlatformMetrics). */
  onOutcome?: (outcome: UnownedDialOutcome) => void;
}

export class UnownedDials {
  readonly #o: UnownedDialsOptions;
  readonly #watched = new Map<string, NodeJS.Timeout>();
  readonly #checks = new Set<Promise<void>>();
  #closed = false;

  constructor(options: UnownedDialsOptions) {
    this.#o = options;
  }

  get graceMs(): number {
    return this.#o.graceMs;
  }

  /** A verified event of an outgoing call whose record is not locked: looked at again once the grace is over. */
  watch(callId: string): void {
    if (this.#closed || this.#watched.has(callId)) return;
    if (this.#watched.size >= (this.#o.maxWatched ?? DEFAULT_MAX_WATCHED)) {
      this.#o.log.warn({ callId, watched: this.#watched.size }, 'too many unlocked outgoing calls watched at once: this one is not (its next event tries again)');
      return;
    }
    const timer = setTimeout(() => {
      this.#watched.delete(callId);
      const check = this.#check(callId).catch((err: unknown) => {
        this.#o.log.error({ callId, code: isTtmaError(err) ? err.code : undefined }, 'unowned dial check failed');
      });
      this.#checks.add(check);
      void check.finally(() => this.#checks.delete(check));
    }, this.#o.graceMs);
    timer.unref();
    this.#watched.set(callId, timer);
  }

  /** Stops the timers; waits for the checks already running. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#watched.values()) clearTimeout(timer);
    this.#watched.clear();
    await Promise.all([...this.#checks]);
  }

  async #check(callId: string): Promise<void> {
    const record = await this.#o.calls.get(callId);
    // Locked (by its dial, here or on a peer), over, or forgotten: nothing to end.
    if (!record || record.locked || record.direction !== 'outgoing' || record.state === 'ended') return;
    const key = `unowned-dial-hangup:${callId}`;
    if (await this.#o.claims.checkAndRemember(key, this.#o.now())) {
      this.#o.log.debug({ callId }, 'an outgoing call no deployment owns is being hung up by another platform process');
      return;
    }
    const unlockedMs = this.#o.now() - Date.parse(record.firstSeenAt);
    let outcome: UnownedDialOutcome;
    try {
      outcome = (await this.#o.provider.hangup(callId)).alreadyEnded ? 'already_ended' : 'hung_up';
    } catch (err) {
      outcome = 'failed';
      this.#o.log.error(
        { audit: true, callId, code: isTtmaError(err) ? err.code : undefined },
        'an outgoing call no deployment owns could not be hung up: its next event tries again',
      );
      await this.#o.claims.forget(key).catch(() => undefined);
    }
    this.#o.onOutcome?.(outcome);
    if (outcome === 'failed') return;
    // `from` is the number dialled from (a deployment's own: whose dial died); the callee's is not logged.
    this.#o.log.warn(
      { audit: true, callId, from: record.from, state: record.state, unlockedMs, graceMs: this.#o.graceMs, alreadyEnded: outcome === 'already_ended' },
      'hung up an outgoing call no deployment owns: still unlocked after the dial deadline (the process dialling it stopped before locking it, or the platform never placed it)',
    );
  }
}
