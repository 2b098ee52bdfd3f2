/**
 * Calls whose hang-up never reached the platform. A call.hangup webhook lost
 * for good (or sent while the platform was down) leaves the call's cap
 * reservation live, and it would reserve a minute at a time until the
 * deployment's cap ended every call (FAQ-14: caps are ours, so are their
 * mistakes). After each top-up this process made, the audit asks the
 * provider whether the call is still up: Telnyx's "Retrieve a call status"
 * (GET /v2/calls/{call_control_id}) answers `is_alive`, and keeps the data
 * for 10 minutes after the call ended
 * (developers.telnyx.com/api-reference/call-information/retrieve-a-call-status),
 * so a check a minute cannot miss it. A clear `is_alive: false` settles the
 * call from the provider's call detail record. A 404 (the provider no longer
 * keeps the call's status: it ended over 10 minutes ago, while this platform
 * was down, say) looks at the call detail record once: a final one settles
 * the call. Anything else (an error, no field, no final record) leaves it
 * reserving: fail closed. A provider that fails or
 * rate-limits (Telnyx answers 429 past its limits) is left alone for a while:
 * every check is paused, and the calls keep reserving meanwhile.
 *
 * A dial reserves before the provider names its call and locks the call
 * after (signallingRoutes.ts); a process killed in between (SIGKILL, power)
 * leaves a live reservation no call carries, and no hang-up will ever settle
 * it: it topped up every unit until the deployment's cap, which then ended
 * its real calls. Once such a reservation is older than `orphanGraceMs`
 * (longer than any dial can take) and the call store knows no call locked
 * with it, it is given back (settled at 0: once, whichever process sees it;
 * the settled flag also stops its top-ups).
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CapEnforcer } from './CapEnforcer.js';
import type { CallRegistry } from './CallRegistry.js';
import type { ProviderClient } from './ProviderClient.js';
import type { ReservationCalls } from './ReservationCalls.js';
import type { Settlement } from './Settlement.js';

export interface LiveCallAuditOptions {
  provider: Pick<ProviderClient, 'getCall'>;
  calls: CallRegistry;
  settlement: Pick<Settlement, 'onUnreportedEnd'>;
  reservations: ReservationCalls;
  /** For dial reservations no call carries: what one holds, and the give-back. */
  caps: Pick<CapEnforcer, 'reservation' | 'withdraw' | 'unitMs'>;
  /**
   * A dial reservation with no call locked with it is given back once it is this old (default
   * 2 min: a dial is three provider attempts of at most 5 s each, then the lock). Its age is
   * told from its units: a live reservation tops up one unit a unit after its admission.
   */
  orphanGraceMs?: number;
  logger: Logger;
  /** Minimum time between two scans of one deployment's records for unknown dials (default 60 s: the platform passes its cap unit). */
  scanEveryMs?: number;
  /** How long checks pause after the provider failed to answer one (default 60 s: the platform passes its cap unit). */
  pauseMs?: number;
  now?: () => number;
}

/** Records read when looking for a dial this process did not place (newest first). */
const SCAN_LIMIT = 1_000;
export const DEFAULT_ORPHAN_GRACE_MS = 120_000;

export class LiveCallAudit {
  readonly #o: LiveCallAuditOptions;
  readonly #lastScan = new Map<string, number>();
  readonly #checking = new Set<string>();
  /** No check before this time (the provider failed or refused one). */
  #pausedUntil = -Infinity;

  constructor(options: LiveCallAuditOptions) {
    this.#o = options;
  }

  /** After a granted top-up: is the reservation's call still up? Never throws. */
  async check(deploymentId: string, reservationId: string): Promise<void> {
    if (this.#clock() < this.#pausedUntil) return;
    const callId = await this.#callOf(deploymentId, reservationId);
    if (!callId) return await this.#giveBackIfOrphan(deploymentId, reservationId);
    await this.checkCall(deploymentId, callId);
  }

  /**
   * Is the call still up at the provider? Settled here when it is not (from its record):
   * 'ended' then; 'alive' when the provider says it is up; 'unknown' otherwise (checks paused,
   * another check of it under way, no final record yet, an error). Never throws.
   */
  async checkCall(deploymentId: string, callId: string): Promise<'ended' | 'alive' | 'unknown'> {
    if (this.#clock() < this.#pausedUntil || this.#checking.has(callId)) return 'unknown';
    this.#checking.add(callId);
    try {
      let alive: boolean | null;
      try {
        alive = (await this.#o.provider.getCall(callId)).is_alive;
      } catch (err) {
        // A 404 is about this call (the provider no longer keeps its status); anything else is about the provider.
        if (isTtmaError(err) && err.status === 404) return (await this.#settleIfRecorded(deploymentId, callId)) ? 'ended' : 'unknown';
        const pauseMs = this.#o.pauseMs ?? 60_000;
        if (this.#clock() >= this.#pausedUntil) {
          this.#o.logger.warn({ deployment: deploymentId, callId, code: isTtmaError(err) ? err.code : undefined, pauseMs }, 'call status not available from the provider: live call checks paused, calls keep reserving');
        }
        this.#pausedUntil = this.#clock() + pauseMs;
        return 'unknown';
      }
      if (alive === true) return 'alive';
      if (alive !== false) return 'unknown';
      this.#o.logger.warn({ audit: true, deployment: deploymentId, callId }, 'the provider says the call ended, but no hang-up event reached the platform: settling from its call record');
      if (await this.#o.settlement.onUnreportedEnd(callId)) {
        this.#o.reservations.forgetCall(callId);
        return 'ended';
      }
      this.#o.logger.warn({ deployment: deploymentId, callId }, 'no final call record yet: the call keeps reserving until there is one');
      return 'unknown';
    } catch (err) {
      this.#o.logger.error({ deployment: deploymentId, callId, code: isTtmaError(err) ? err.code : undefined }, 'live call audit failed');
      return 'unknown';
    } finally {
      this.#checking.delete(callId);
    }
  }

  /** The provider no longer keeps the call's status: its call detail record, looked at once, decides. */
  async #settleIfRecorded(deploymentId: string, callId: string): Promise<boolean> {
    if (!(await this.#o.settlement.onUnreportedEnd(callId, 1))) return false;
    this.#o.logger.warn({ audit: true, deployment: deploymentId, callId }, 'the provider no longer keeps this call\'s status and its call record shows it ended, but no hang-up event reached the platform: settled from the record');
    this.#o.reservations.forgetCall(callId);
    return true;
  }

  #clock(): number {
    return (this.#o.now ?? Date.now)();
  }

  /**
   * A dial reservation no call is known to carry: given back once it is older than the grace and
   * neither the store's reservation entry nor a scan of the records (dials locked before the entry
   * existed) names a call. Never throws; a store that does not answer decides nothing.
   */
  async #giveBackIfOrphan(deploymentId: string, reservationId: string): Promise<void> {
    if (!reservationId.startsWith('dial-') || this.#checking.has(reservationId)) return;
    this.#checking.add(reservationId);
    try {
      const held = await this.#o.caps.reservation(deploymentId, reservationId);
      const graceMs = this.#o.orphanGraceMs ?? DEFAULT_ORPHAN_GRACE_MS;
      // Admitted with one unit, one more each unit after: at least (reserved - 1) units old.
      if (!held || held.settled || (held.reserved - 1) * this.#o.caps.unitMs < graceMs) return;
      const callId = await this.#o.calls.callOfReservation(reservationId);
      if (callId !== null) {
        this.#o.reservations.set(reservationId, callId);
        return;
      }
      // Dials locked before reservation entries were written are found only by the scan: not decided before one ran here.
      if (!this.#lastScan.has(deploymentId)) return;
      this.#o.logger.warn(
        { audit: true, deployment: deploymentId, reservation: reservationId, reserved: held.reserved },
        'a dial reservation no call carries (the process placing the dial stopped before locking its call): given back',
      );
      await this.#o.caps.withdraw(deploymentId, reservationId);
      this.#o.reservations.forgetReservation(reservationId);
    } catch (err) {
      this.#o.logger.error({ deployment: deploymentId, reservation: reservationId, code: isTtmaError(err) ? err.code : undefined }, 'orphan reservation check failed');
    } finally {
      this.#checking.delete(reservationId);
    }
  }

  /** An answered call reserves under its own id; a dial under `dial-…`, known here or found in the records. */
  async #callOf(deploymentId: string, reservationId: string): Promise<string | undefined> {
    const known = this.#o.reservations.callOf(reservationId);
    if (known || !reservationId.startsWith('dial-')) return known ?? reservationId;
    // Placed by another process, or before a restart: the store's reservation entry names its call.
    try {
      const locked = await this.#o.calls.callOfReservation(reservationId);
      if (locked !== null) {
        this.#o.reservations.set(reservationId, locked);
        return locked;
      }
    } catch {
      return undefined;
    }
    // Locked before reservation entries were written: one scan per deployment per interval finds them all.
    const now = this.#clock();
    if (now - (this.#lastScan.get(deploymentId) ?? -Infinity) < (this.#o.scanEveryMs ?? 60_000)) return undefined;
    this.#lastScan.set(deploymentId, now);
    try {
      for (const record of await this.#o.calls.list({ deploymentId, limit: SCAN_LIMIT })) {
        if (record.reservationId?.startsWith('dial-') && record.state !== 'ended') this.#o.reservations.set(record.reservationId, record.callControlId);
      }
    } catch {
      return undefined;
    }
    return this.#o.reservations.callOf(reservationId);
  }
}
