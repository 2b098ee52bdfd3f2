/**
 * What happens after a call ends: stop its top-ups, read the provider's call
 * detail record, settle the cap reservation once at the provider's billed
 * minutes, put the figure on the call record and hand it to the usage
 * cross-check. The gateway's own report never enters billing (FAQ-14).
 *
 * The provider's record is not there when the call ends: Telnyx files it
 * with its detail records (ProviderClient.callDetailRecord), which can take
 * minutes. So the record is looked for over a window of minutes (the
 * attempts and their growing waits), and only when the window is over is the
 * call billed from its webhooks. The call's reservation stays held meanwhile
 * (top-ups stopped: it holds what it reserved, at least what it will be
 * billed; fail closed). What waits is bounded: past `cdrMaxWaiting` calls
 * already waiting, a call gets one look and then its webhooks' figure.
 *
 * A platform that stops (a deploy, a crash) ends its waits, but the ended
 * calls not billed yet stay on the call store's unsettled index, and the
 * next start hands them back here (`resume`, from SettlementSweep): the
 * window then counts from the call's end, not from the resumption, and a
 * call past it gets one look before its webhooks' figure. Exactly once
 * across processes and restarts is the cap store's: its settle applies a
 * reservation's figure the first time only (`first`); a later settler writes
 * the record only when the first one stopped before it did.
 *
 * A call the platform hung up itself (a cap, a disabled deployment) is on
 * that index from its hang-up (CallStore.markHungUp), before any hang-up
 * event: if the event never comes, a resumed settlement finds the call not
 * ended, and only the provider's final record ends it (as onUnreportedEnd).
 */
import { setTimeout as delay } from 'node:timers/promises';
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CapEnforcer } from './CapEnforcer.js';
import type { SettleResult } from './store/CapStore.js';
import type { CallRecord, CallRegistry } from './CallRegistry.js';
import type { CallDetailRecord, ProviderClient } from './ProviderClient.js';
import { occurredAtOf } from './providerEvents.js';
import type { UsageLedger } from './UsageLedger.js';

export interface SettlementOptions {
  provider: ProviderClient;
  caps: CapEnforcer;
  calls: CallRegistry;
  ledger: UsageLedger;
  logger: Logger;
  /** Price per billed minute in millionths of a dollar (default 10 000: $0.01). */
  priceMicroUsdPerMinute?: number;
  /**
   * Looks for the provider's record of an ended call (default 15); before look n
   * the wait is cdrBackoffMs x (n - 1) (default 4 s): the window is
   * cdrBackoffMs x attempts x (attempts - 1) / 2 (7 minutes by default).
   */
  cdrAttempts?: number;
  cdrBackoffMs?: number;
  /** Calls waiting for their record at once, at most (default 10 000); past it a call gets one look. */
  cdrMaxWaiting?: number;
}

export const DEFAULT_PRICE_MICRO_USD_PER_MINUTE = 10_000;
export const DEFAULT_CDR_ATTEMPTS = 15;
export const DEFAULT_CDR_BACKOFF_MS = 4_000;
export const DEFAULT_CDR_MAX_WAITING = 10_000;

/** How long the record is looked for: the sum of the waits between looks. */
export function cdrWindowMs(attempts: number, backoffMs: number): number {
  return (backoffMs * attempts * (attempts - 1)) / 2;
}

/** Settlement stopped (the platform is stopping): nothing is billed; the call stays on the unsettled index for the next start. */
const CLOSED = Symbol('closed');
const STORE_RETRIES = 20;
const MAX_REMEMBERED = 50_000;
const STORE_RETRY_MS = 500;

export class Settlement {
  readonly #o: SettlementOptions;
  readonly #inFlight = new Set<string>();
  readonly #done = new Set<string>();
  /** Cancels every wait for a record when the platform stops. */
  readonly #stop = new AbortController();
  /** Calls whose record is being waited for now (bounded by cdrMaxWaiting). */
  #waiting = 0;

  constructor(options: SettlementOptions) {
    this.#o = options;
  }

  /**
   * Stops the waits for records: calls still waiting stay unsettled here (their reservations
   * held, fail closed) and on the store's unsettled index, which the next start resumes.
   */
  close(): void {
    if (this.#waiting > 0) this.#o.logger.warn({ waiting: this.#waiting }, 'stopping: calls still waiting for their provider record are left unsettled until the next start resumes them');
    this.#stop.abort();
  }

  /** True while this process is settling the call (a resumption of it would only wait twice). */
  settling(callControlId: string): boolean {
    return this.#inFlight.has(callControlId) || this.#done.has(callControlId);
  }

  /** Settles an ended call; safe to call for every duplicate hang-up event. */
  onHangup(callControlId: string): Promise<void> {
    return this.#run(callControlId, null);
  }

  /**
   * Settles an ended call whose settlement an earlier process (or this one, before a restart)
   * did not finish. The look for the record goes on where it would be now: its window counts
   * from the call's end (`sinceMs`, when the store learned it, if the record has no end time).
   */
  resume(callControlId: string, sinceMs: number): Promise<void> {
    return this.#run(callControlId, sinceMs);
  }

  async #run(callControlId: string, resumedSinceMs: number | null): Promise<void> {
    if (this.#inFlight.has(callControlId) || this.#done.has(callControlId)) return;
    // Taken before the first await, so a duplicate hang-up cannot start a second settlement.
    this.#inFlight.add(callControlId);
    try {
      const record = await this.#o.calls.get(callControlId);
      if (!record?.locked || !record.deploymentId) {
        // Nothing to settle: off the index, so no later start looks at it again.
        if (resumedSinceMs !== null) await this.#o.calls.store.dropUnsettled(callControlId);
        return;
      }
      if (record.billing) {
        // Settled already (by another process, or before a restart): a repeat hang-up changes nothing.
        this.#remember(callControlId);
        return;
      }
      const deploymentId = record.deploymentId;
      const reservationId = record.reservationId ?? callControlId;
      await this.#o.caps.release(deploymentId, reservationId);
      const elapsedMs = resumedSinceMs === null ? 0 : Math.max(0, Date.now() - (Date.parse(record.endedAt ?? '') || resumedSinceMs));
      const cdr = await this.#finalRecord(callControlId, undefined, elapsedMs);
      if (cdr === CLOSED) return;
      if (record.state !== 'ended') {
        // Hung up by the platform (CallStore.markHungUp), its hang-up event not here: only the provider's record ends it.
        if (!cdr?.ended_at) {
          this.#o.logger.warn({ deployment: deploymentId, callId: callControlId }, 'a call the platform hung up has no hang-up event and no final call record yet: left unsettled for a later sweep');
          return;
        }
        await this.#recordEnd(callControlId, record, cdr.ended_at, cdr.hangup_cause);
      }
      let durationMs: number;
      let source: 'cdr' | 'webhooks';
      if (cdr && cdr.duration_ms !== null) {
        durationMs = cdr.duration_ms;
        source = 'cdr';
      } else {
        const latest = (await this.#o.calls.get(callControlId)) ?? record;
        durationMs = timelineDurationMs(latest, Date.now());
        source = 'webhooks';
        this.#o.logger.warn({ callId: callControlId }, 'no final call detail record from the provider: billed from its webhooks');
      }
      const price = this.#o.priceMicroUsdPerMinute ?? DEFAULT_PRICE_MICRO_USD_PER_MINUTE;
      const result = await this.#settle(deploymentId, reservationId, this.#o.caps.unitsFor(durationMs));
      // Not written: the call stays on the unsettled index, and a later sweep (or start) settles it.
      if (result === null) return;
      if (!result.first && (await this.#o.calls.get(callControlId))?.billing) {
        // Another settler got there first and wrote its figure: that one stands.
        this.#remember(callControlId);
        return;
      }
      // The figure the reservation was settled at (ours, or the first settler's if it stopped before writing the record).
      const units = result.billed;
      await this.#o.calls.patch(callControlId, {
        billing: { source, durationMs, billedMinutes: units, costMicroUsd: units * price },
      });
      // Billing is done: a ledger that cannot be written now costs the cross-check this call, not the settlement.
      await this.#o.ledger.providerFigure(deploymentId, callControlId, durationMs).catch((err: unknown) =>
        this.#o.logger.error({ deployment: deploymentId, callId: callControlId, err: isTtmaError(err) ? err.code : 'error' }, 'usage cross-check could not record the provider figure'),
      );
      this.#remember(callControlId);
      this.#o.logger.info(
        {
          deployment: deploymentId, callId: callControlId, durationMs, billedMinutes: units, providerBilledSec: cdr?.billed_sec ?? null,
          reserved: result.reserved, source, first: result.first, resumed: resumedSinceMs !== null,
        },
        'call settled from the provider figure',
      );
    } finally {
      this.#inFlight.delete(callControlId);
    }
  }

  /**
   * The provider says the call is over but its call.hangup never reached us.
   * Only the provider's own record may end it here: its end (time and cause)
   * goes on the call's timeline as the provider's call.hangup, then the call
   * settles as usual. Without a final record nothing changes and the call
   * keeps reserving (fail closed); false then. `cdrAttempts`: how many times
   * to read the record (default: the settlement's own, with backoff).
   */
  async onUnreportedEnd(callControlId: string, cdrAttempts?: number): Promise<boolean> {
    if (this.#inFlight.has(callControlId) || this.#done.has(callControlId)) return true;
    const record = await this.#o.calls.get(callControlId);
    if (!record?.locked || !record.deploymentId) return false;
    if (record.state === 'ended') {
      // Its hang-up was recorded but never settled (the process that saw it stopped first).
      await this.onHangup(callControlId);
      return true;
    }
    const cdr = await this.#finalRecord(callControlId, cdrAttempts);
    if (cdr === CLOSED || !cdr?.ended_at) return false;
    await this.#recordEnd(callControlId, record, cdr.ended_at, cdr.hangup_cause);
    await this.onHangup(callControlId);
    return true;
  }

  /** The end the provider's record shows goes on the call's timeline as the provider's call.hangup. */
  async #recordEnd(callControlId: string, record: CallRecord, endedAt: string, cause: string | null | undefined): Promise<void> {
    await this.#o.calls.recordEvent(
      callControlId,
      { direction: record.direction, from: record.from, to: record.to },
      { event_type: 'call.hangup', occurred_at: recordedEndOf(endedAt, record.timeline.at(-1)?.occurred_at), hangup_cause: cause ?? undefined },
    );
  }

  /** Bounded: the store's settled flag is what guarantees once; this only saves round trips. */
  #remember(callControlId: string): void {
    this.#done.add(callControlId);
    if (this.#done.size > MAX_REMEMBERED) this.#done.delete(this.#done.values().next().value as string);
  }

  /**
   * The provider's record once it shows the call ended; null when it never does within the
   * window. `elapsedMs`: how much of the window is already over (a resumed settlement): one
   * look now, then the looks still ahead in the window, at their times.
   */
  async #finalRecord(callControlId: string, attemptsWanted?: number, elapsedMs = 0): Promise<CallDetailRecord | null | typeof CLOSED> {
    const wanted = attemptsWanted ?? this.#o.cdrAttempts ?? DEFAULT_CDR_ATTEMPTS;
    const backoffMs = this.#o.cdrBackoffMs ?? DEFAULT_CDR_BACKOFF_MS;
    const maxWaiting = this.#o.cdrMaxWaiting ?? DEFAULT_CDR_MAX_WAITING;
    let looks = lookTimes(wanted, backoffMs, elapsedMs);
    if (looks.length > 1 && this.#waiting >= maxWaiting) {
      looks = [0];
      this.#o.logger.warn({ callId: callControlId, waiting: this.#waiting }, 'too many calls waiting for their provider record: this one gets one look');
    }
    const waits = looks.length > 1;
    if (waits) this.#waiting++;
    try {
      let at = 0;
      for (const lookAt of looks) {
        if (lookAt > at) {
          try {
            // Unref'd: a wait of minutes never keeps a process alive; close() ends it at once.
            await delay(lookAt - at, undefined, { signal: this.#stop.signal, ref: false });
          } catch {
            return CLOSED;
          }
          at = lookAt;
        }
        if (this.#stop.signal.aborted) return CLOSED;
        try {
          const cdr = await this.#o.provider.callDetailRecord(callControlId);
          if (cdr?.ended_at) return cdr;
        } catch (err) {
          this.#o.logger.warn({ callId: callControlId, err: isTtmaError(err) ? err.message : 'error' }, 'call detail record not available');
        }
      }
      return null;
    } finally {
      if (waits) this.#waiting--;
    }
  }

  /** Settlement must not be lost while the store is away: retried for a while, then left to a later sweep (logged). */
  async #settle(deploymentId: string, reservationId: string, units: number): Promise<SettleResult | null> {
    for (let attempt = 1; attempt <= STORE_RETRIES; attempt++) {
      try {
        return await this.#o.caps.settle(deploymentId, reservationId, units);
      } catch (err) {
        if (attempt === STORE_RETRIES) {
          this.#o.logger.error(
            { deployment: deploymentId, reservation: reservationId, units, err: isTtmaError(err) ? err.code : 'error' },
            'settlement could not be written to the store: the call stays unsettled, a later sweep or start settles it',
          );
          return null;
        }
        await sleep(STORE_RETRY_MS);
      }
    }
    return null;
  }
}

/**
 * When to look for the record, in ms from now, `elapsedMs` into the window: look n of `attempts`
 * is at backoffMs x n(n-1)/2 after the call's end (0, 1, 3, 6... backoffs), so from the start
 * that is the usual schedule; resumed, one look now, then those still ahead.
 */
export function lookTimes(attempts: number, backoffMs: number, elapsedMs = 0): number[] {
  const looks = [0];
  for (let n = 2; n <= attempts; n++) {
    const at = (backoffMs * n * (n - 1)) / 2;
    if (at > elapsedMs) looks.push(at - elapsedMs);
  }
  return looks;
}

/** The record's `finished_at` is to the second (ProviderClient.CallDetailRecord). */
const RECORD_PRECISION_MS = 1_000;

/**
 * The end of a call from its record, for its timeline. The record gives it to
 * the second (truncated): the call ended within that second, and before the
 * platform read that it had. The latest such moment is taken, so that every
 * event the provider reported for the call sorts before its hang-up, even one
 * that reaches the platform after the end was recorded (a stream failing as
 * the call ends, its webhook late or retried).
 */
function recordedEndOf(finishedAt: string, lastOnTimeline: string | undefined): string {
  const now = Date.now();
  const second = Date.parse(occurredAtOf(finishedAt, now) ?? new Date(now).toISOString());
  const end = new Date(Math.max(second, Math.min(second + RECORD_PRECISION_MS - 1, now))).toISOString();
  if (lastOnTimeline === undefined || lastOnTimeline <= end) return end;
  return Date.parse(lastOnTimeline) - second < RECORD_PRECISION_MS ? lastOnTimeline : end;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A call's duration from its webhooks (answer to hang-up), when the provider's record never came:
 * never longer than the platform has known the call (by its own clock, from when it first saw
 * it), whatever times the events carry.
 */
export function timelineDurationMs(record: Pick<CallRecord, 'answeredAt' | 'endedAt' | 'firstSeenAt'>, nowMs: number): number {
  if (!record.answeredAt || !record.endedAt) return 0;
  const fromEvents = Date.parse(record.endedAt) - Date.parse(record.answeredAt);
  const known = nowMs - Date.parse(record.firstSeenAt);
  if (!Number.isFinite(fromEvents) || fromEvents <= 0) return 0;
  return Number.isFinite(known) ? Math.min(fromEvents, Math.max(0, known)) : fromEvents;
}
