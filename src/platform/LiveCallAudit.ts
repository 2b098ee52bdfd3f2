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
 * call from the provider's call detail record; anything else (an error, a
 * 404, no field) leaves it reserving: fail closed.
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRegistry } from './CallRegistry.js';
import type { ProviderClient } from './ProviderClient.js';
import type { ReservationCalls } from './ReservationCalls.js';
import type { Settlement } from './Settlement.js';

export interface LiveCallAuditOptions {
  provider: Pick<ProviderClient, 'getCall'>;
  calls: CallRegistry;
  settlement: Pick<Settlement, 'onUnreportedEnd'>;
  reservations: ReservationCalls;
  logger: Logger;
  /** Minimum time between two scans of one deployment's records for unknown dials (default 60 s). */
  scanEveryMs?: number;
  now?: () => number;
}

/** Records read when looking for a dial this process did not place (newest first). */
const SCAN_LIMIT = 1_000;

export class LiveCallAudit {
  readonly #o: LiveCallAuditOptions;
  readonly #lastScan = new Map<string, number>();
  readonly #checking = new Set<string>();

  constructor(options: LiveCallAuditOptions) {
    this.#o = options;
  }

  /** After a granted top-up: is the reservation's call still up? Never throws. */
  async check(deploymentId: string, reservationId: string): Promise<void> {
    const callId = await this.#callOf(deploymentId, reservationId);
    if (!callId || this.#checking.has(callId)) return;
    this.#checking.add(callId);
    try {
      let alive: boolean | null;
      try {
        alive = (await this.#o.provider.getCall(callId)).is_alive;
      } catch (err) {
        this.#o.logger.debug({ deployment: deploymentId, callId, code: isTtmaError(err) ? err.code : undefined }, 'call status not available: the call keeps reserving');
        return;
      }
      if (alive !== false) return;
      this.#o.logger.warn({ audit: true, deployment: deploymentId, callId }, 'the provider says the call ended, but no hang-up event reached the platform: settling from its call record');
      if (await this.#o.settlement.onUnreportedEnd(callId)) this.#o.reservations.forgetCall(callId);
      else this.#o.logger.warn({ deployment: deploymentId, callId }, 'no final call record yet: the call keeps reserving until there is one');
    } catch (err) {
      this.#o.logger.error({ deployment: deploymentId, callId, code: isTtmaError(err) ? err.code : undefined }, 'live call audit failed');
    } finally {
      this.#checking.delete(callId);
    }
  }

  /** An answered call reserves under its own id; a dial under `dial-…`, known here or found in the records. */
  async #callOf(deploymentId: string, reservationId: string): Promise<string | undefined> {
    const known = this.#o.reservations.callOf(reservationId);
    if (known || !reservationId.startsWith('dial-')) return known ?? reservationId;
    // Placed by another process, or before a restart: one scan per deployment per interval finds them all.
    const now = (this.#o.now ?? Date.now)();
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
