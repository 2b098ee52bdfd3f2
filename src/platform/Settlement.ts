/**
 * What happens after a call ends: stop its top-ups, read the provider's call
 * detail record, settle the cap reservation once at the provider's billed
 * minutes, put the figure on the call record and hand it to the usage
 * cross-check. The gateway's own report never enters billing (FAQ-14).
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CapEnforcer } from './CapEnforcer.js';
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
  /** Attempts to read a final call detail record (default 5), backoff (default 200 ms x attempt). */
  cdrAttempts?: number;
  cdrBackoffMs?: number;
}

export const DEFAULT_PRICE_MICRO_USD_PER_MINUTE = 10_000;
const STORE_RETRIES = 20;
const MAX_REMEMBERED = 50_000;
const STORE_RETRY_MS = 500;

export class Settlement {
  readonly #o: SettlementOptions;
  readonly #inFlight = new Set<string>();
  readonly #done = new Set<string>();

  constructor(options: SettlementOptions) {
    this.#o = options;
  }

  /** Settles an ended call; safe to call for every duplicate hang-up event. */
  async onHangup(callControlId: string): Promise<void> {
    if (this.#inFlight.has(callControlId) || this.#done.has(callControlId)) return;
    // Taken before the first await, so a duplicate hang-up cannot start a second settlement.
    this.#inFlight.add(callControlId);
    try {
      const record = await this.#o.calls.get(callControlId);
      if (!record?.locked || !record.deploymentId) return;
      const deploymentId = record.deploymentId;
      const reservationId = record.reservationId ?? callControlId;
      await this.#o.caps.release(deploymentId, reservationId);
      const cdr = await this.#finalRecord(callControlId);
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
      const units = this.#o.caps.unitsFor(durationMs);
      const price = this.#o.priceMicroUsdPerMinute ?? DEFAULT_PRICE_MICRO_USD_PER_MINUTE;
      const result = await this.#settle(deploymentId, reservationId, units);
      await this.#o.calls.patch(callControlId, {
        billing: { source, durationMs, billedMinutes: units, costMicroUsd: units * price },
      });
      // Billing is done: a ledger that cannot be written now costs the cross-check this call, not the settlement.
      await this.#o.ledger.providerFigure(deploymentId, callControlId, durationMs).catch((err: unknown) =>
        this.#o.logger.error({ deployment: deploymentId, callId: callControlId, err: isTtmaError(err) ? err.code : 'error' }, 'usage cross-check could not record the provider figure'),
      );
      this.#done.add(callControlId);
      // Bounded: the store's settled flag is what guarantees once; this only saves round trips.
      if (this.#done.size > MAX_REMEMBERED) this.#done.delete(this.#done.values().next().value as string);
      this.#o.logger.info(
        { deployment: deploymentId, callId: callControlId, durationMs, billedMinutes: units, reserved: result?.reserved, source, first: result?.first },
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
    if (!cdr?.ended_at) return false;
    await this.#o.calls.recordEvent(
      callControlId,
      { direction: record.direction, from: record.from, to: record.to },
      { event_type: 'call.hangup', occurred_at: occurredAtOf(cdr.ended_at, Date.now()) ?? new Date().toISOString(), hangup_cause: cdr.hangup_cause ?? undefined },
    );
    await this.onHangup(callControlId);
    return true;
  }

  /** The provider's record once it shows the call ended; null when it never does. */
  async #finalRecord(callControlId: string, attemptsWanted?: number): Promise<CallDetailRecord | null> {
    const attempts = attemptsWanted ?? this.#o.cdrAttempts ?? 5;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const cdr = await this.#o.provider.callDetailRecord(callControlId);
        if (cdr?.ended_at) return cdr;
      } catch (err) {
        this.#o.logger.warn({ callId: callControlId, err: isTtmaError(err) ? err.message : 'error' }, 'call detail record not available');
      }
      if (attempt < attempts) await sleep((this.#o.cdrBackoffMs ?? 200) * attempt);
    }
    return null;
  }

  /** Settlement must not be lost while the store is away: retried for a while, then logged for the operator. */
  async #settle(deploymentId: string, reservationId: string, units: number): Promise<{ first: boolean; reserved: number } | null> {
    for (let attempt = 1; attempt <= STORE_RETRIES; attempt++) {
      try {
        return await this.#o.caps.settle(deploymentId, reservationId, units);
      } catch (err) {
        if (attempt === STORE_RETRIES) {
          this.#o.logger.error(
            { deployment: deploymentId, reservation: reservationId, units, err: isTtmaError(err) ? err.code : 'error' },
            'settlement could not be written to the store: apply it by hand',
          );
          return null;
        }
        await sleep(STORE_RETRY_MS);
      }
    }
    return null;
  }
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
