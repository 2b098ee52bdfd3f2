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
 * Crash-safe: a watch lives in the process that took the event, and dies
 * with it (an answered orphan may send no other event for as long as it
 * talks). So every process also runs a periodic pass (`sweepMs`, default a
 * minute, as SettlementSweep's) over the call store's history index by first
 * sight (CallStore.firstSeenBetween: Redis ZRANGEBYSCORE on the index every
 * record is on already, no new key and nothing on a call's path), from where
 * its last pass stopped to now minus the grace, at most `sweepMax` records a
 * pass (the rest next pass); each record outgoing, unlocked and not ended
 * goes through the same check (claim, hang-up) as a watch's. The first pass
 * of a process looks back `sweepLookbackMs`: by default as long as any call
 * can last, so an orphan first seen before every process restarted is still
 * found. Telnyx ends a Call Control leg at its `time_limit_secs` (at most and
 * by default 14 400 s) and an unanswered dial at its `timeout_secs` (at most
 * 600 s) (developers.telnyx.com/api-reference/call-commands/dial): an orphan
 * first seen longer ago has ended by itself. Chosen over keeping the passes'
 * position in the store: no key, no shared state between processes, and a
 * restart reads at most a few hours of records, a page (`sweepMax`) a pass.
 * A record first seen is past the grace from its first event, as a watch counts.
 *
 * Once: the claim is a key in the webhook replay store (Redis `SET NX` when
 * the platform runs on Redis, shared by every process), held for its window
 * (10 minutes); a hang-up that did not go through gives the claim back, and
 * the call is tried again by its next event or this process's next pass (until
 * it is older than the longest call: MAX_CALL_MS).
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
import { DIAL_TIMEOUT_SECS, TIME_LIMIT_SECS } from './signalFields.js';
import type { ReplayStore } from './store/ReplayStore.js';

/** What became of an unowned call this process claimed (the `outcome` label of `ttma_unowned_dials_total`). */
export const UNOWNED_DIAL_OUTCOMES = ['hung_up', 'already_ended', 'failed'] as const;
export type UnownedDialOutcome = (typeof UNOWNED_DIAL_OUTCOMES)[number];

/** After the dial's own deadline: the lock is one store command (500 ms timeout on Redis), with room for a busy event loop. */
export const LOCK_MARGIN_MS = 2_000;
/** Calls watched at once; past it a new one is not watched (logged): a flood of unlocked outgoing calls is not a dial's. */
const DEFAULT_MAX_WATCHED = 10_000;

export interface UnownedDialsOptions {
  calls: Pick<CallRegistry, 'get' | 'store'>;
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
  /** Between two passes over the records (default 60 s). */
  sweepMs?: number;
  /** How far back the first pass of a process reads (default MAX_CALL_MS: the longest a call can last). */
  sweepLookbackMs?: number;
  /** Records read a pass at most (default 1 000). */
  sweepMax?: number;
}

const DEFAULT_SWEEP_MS = 60_000;
/** The longest a call can last at the provider: ringing up to the dial's timeout, then up to its time limit. */
export const MAX_CALL_MS = (DIAL_TIMEOUT_SECS.max + TIME_LIMIT_SECS.max) * 1000;
const DEFAULT_SWEEP_MAX = 1_000;

export class UnownedDials {
  readonly #o: UnownedDialsOptions;
  readonly #watched = new Map<string, NodeJS.Timeout>();
  readonly #checks = new Set<Promise<void>>();
  #closed = false;
  #sweepTimer: NodeJS.Timeout | null = null;
  /** First-sight time (ms) the passes have read up to; null before the first. */
  #sweptToMs: number | null = null;
  /**
   * Calls whose hang-up the provider failed: tried again at each pass. Their next event would try
   * too, but an answered orphan may send none for as long as it talks, and a pass reads a record once.
   */
  readonly #failed = new Set<string>();

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

  /** The periodic passes: the first one `sweepMs` from now (a start's dials in flight elsewhere get their grace). */
  start(): void {
    this.#scheduleSweep();
  }

  /**
   * One pass: the records first seen since the last pass and past the grace, outgoing, unlocked and
   * not ended, each checked as a watch's. Resolves with how many were checked; rejects when the store does not answer.
   */
  async sweep(): Promise<number> {
    const max = this.#o.sweepMax ?? DEFAULT_SWEEP_MAX;
    const toMs = this.#o.now() - this.#o.graceMs;
    const fromMs = this.#sweptToMs ?? toMs - (this.#o.sweepLookbackMs ?? MAX_CALL_MS);
    if (toMs < fromMs) return 0;
    const records = await this.#o.calls.store.firstSeenBetween(fromMs, toMs, max);
    // A full page goes on from its last record next time (read again, inclusive: a check is idempotent).
    const lastMs = Date.parse(records.at(-1)?.firstSeenAt ?? '');
    this.#sweptToMs = records.length < max || !Number.isFinite(lastMs) ? toMs : Math.max(lastMs, fromMs + 1);
    let checked = 0;
    for (const callId of [...this.#failed]) {
      if (this.#closed) break;
      this.#failed.delete(callId);
      checked += 1;
      await this.#check(callId).catch((err: unknown) => {
        this.#o.log.error({ callId, code: isTtmaError(err) ? err.code : undefined }, 'unowned dial check failed');
      });
    }
    for (const record of records) {
      if (this.#closed) break;
      if (record.locked || record.direction !== 'outgoing' || record.state === 'ended' || this.#watched.has(record.callControlId)) continue;
      checked += 1;
      await this.#check(record.callControlId).catch((err: unknown) => {
        this.#o.log.error({ callId: record.callControlId, code: isTtmaError(err) ? err.code : undefined }, 'unowned dial check failed');
      });
    }
    return checked;
  }

  #scheduleSweep(): void {
    if (this.#closed) return;
    this.#sweepTimer = setTimeout(() => {
      const pass = this.sweep().then(
        () => undefined,
        (err: unknown) => this.#o.log.warn({ code: isTtmaError(err) ? err.code : undefined }, 'unowned dials pass failed: tried again at the next'),
      );
      this.#checks.add(pass);
      void pass.finally(() => {
        this.#checks.delete(pass);
        this.#scheduleSweep();
      });
    }, this.#o.sweepMs ?? DEFAULT_SWEEP_MS);
    // A platform stopping is not held up by its next pass.
    this.#sweepTimer.unref();
  }

  /** Stops the timers; waits for the checks already running. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#sweepTimer) clearTimeout(this.#sweepTimer);
    this.#sweepTimer = null;
    for (const timer of this.#watched.values()) clearTimeout(timer);
    this.#watched.clear();
    await Promise.all([...this.#checks]);
  }

  async #check(callId: string): Promise<void> {
    const record = await this.#o.calls.get(callId);
    // Locked (by its dial, here or on a peer), over, or forgotten: nothing to end.
    if (!record || record.locked || record.direction !== 'outgoing' || record.state === 'ended') return;
    // Past the longest call the provider allows, it has ended by itself (a hang-up refused for good is not tried for ever).
    if (this.#o.now() - Date.parse(record.firstSeenAt) > MAX_CALL_MS) return;
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
        'an outgoing call no deployment owns could not be hung up: its next event, or the next pass, tries again',
      );
      await this.#o.claims.forget(key).catch(() => undefined);
      if (this.#failed.size < (this.#o.sweepMax ?? DEFAULT_SWEEP_MAX)) this.#failed.add(callId);
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
