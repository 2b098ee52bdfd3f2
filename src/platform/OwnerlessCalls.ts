/**
 * Live calls at the provider that no existing deployment owns, ended through the provider (fail
 * closed, FAQ-14).
 *
 * A call is capped and billed through its record and its deployment's live reservation. When the
 * platform's store loses them (Redis flushed, restarted empty, failed over to an empty replica; an
 * embedded store restarted without its state file), a call already answered goes on at the
 * provider with neither: no top-up ever comes due, so no cap ends it, and its gateway can no
 * longer hang it up (its identity went with the data: 401). Only its caller could end it, and
 * Telnyx's own limit for a leg is four hours. Unowned dials (UnownedDials.ts) cover outgoing calls
 * whose record the store still holds; this covers the rest, from the provider's side: every
 * `sweepMs` the connection's active calls are listed (Telnyx's "List all active calls for given
 * connection"), and a call older than `graceMs` whose record is missing, or names no deployment,
 * or names one the store no longer has, is hung up ("Hang up call",
 * developers.telnyx.com/api-reference/call-commands/hangup-call), once across processes (a claim in
 * the webhook replay store, as UnownedDials's, given back when the hang-up fails).
 *
 * Left alone: a call younger than the grace (its first webhook, which writes its record, may still
 * be on its way: Telnyx retries deliveries), an unlocked record (a dial in flight; UnownedDials
 * decides), and the whole pass when the store or the provider does not answer (an outage is not a
 * loss: live calls continue through one, as the caps do).
 */
import { isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import type { CallRegistry } from './CallRegistry.js';
import type { ProviderClient } from './ProviderClient.js';
import type { ReplayStore } from './store/ReplayStore.js';
import { RINGING_LISTED_WITHIN_MS } from '../wire/platformApi.js';

export interface OwnerlessCallsOptions {
  connectionId: string;
  provider: Pick<ProviderClient, 'activeCalls' | 'hangup'>;
  calls: Pick<CallRegistry, 'get'>;
  /** What the store holds of a reservation (null: nothing: never made, or lost). */
  reservation(deploymentId: string, reservationId: string): Promise<unknown>;
  /** Whether the store has this deployment now (disabled or not). */
  hasDeployment(id: string): Promise<boolean>;
  claims: Pick<ReplayStore, 'checkAndRemember' | 'forget'>;
  now: () => number;
  log: Logger;
  /** A call this young is left alone (default 120 s: longer than the provider's webhook retries take to land a first event). */
  graceMs?: number;
  /** Between two passes (default 60 s: a cap unit). */
  sweepMs?: number;
  /**
   * A call its deployment's record names but with no reservation is hung up once this old (default
   * 180 s: past RINGING_LISTED_WITHIN_MS, after which no gateway answers a ringing call, plus a pass).
   */
  unreservedAfterMs?: number;
}

export const DEFAULT_OWNERLESS_GRACE_MS = 120_000;
const DEFAULT_UNRESERVED_AFTER_MS = RINGING_LISTED_WITHIN_MS + 60_000;
const DEFAULT_SWEEP_MS = 60_000;

export class OwnerlessCalls {
  readonly #o: OwnerlessCallsOptions;
  #timer: NodeJS.Timeout | null = null;
  #pass: Promise<unknown> | null = null;
  #closed = false;

  constructor(options: OwnerlessCallsOptions) {
    this.#o = options;
  }

  start(): void {
    this.#schedule();
  }

  /** One pass; resolves with the calls hung up. Rejects (nothing hung up after that point) when the provider or the store does not answer. */
  async sweep(): Promise<string[]> {
    const grace = this.#o.graceMs ?? DEFAULT_OWNERLESS_GRACE_MS;
    const active = await this.#o.provider.activeCalls(this.#o.connectionId);
    const hungUp: string[] = [];
    for (const call of active) {
      if (this.#closed) break;
      // No age given: not known to be past the grace.
      if (call.durationSec === null || call.durationSec * 1000 < grace) continue;
      const why = await this.#ownerless(call.callControlId, call.durationSec * 1000);
      if (why === null) continue;
      if (await this.#hangUp(call.callControlId, call.durationSec, why)) hungUp.push(call.callControlId);
    }
    return hungUp;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#pass?.catch(() => undefined);
  }

  /** Why no deployment owns the call, or null when one does (or a dial in flight may). A store error throws. */
  async #ownerless(callId: string, ageMs: number): Promise<string | null> {
    const record = await this.#o.calls.get(callId);
    if (!record) return 'the platform has no record of it (its store lost its data, or never saw the call)';
    if (!record.locked) return null;
    if (record.deploymentId === null) return 'no deployment owns its number';
    if (!(await this.#o.hasDeployment(record.deploymentId))) return `its deployment ${record.deploymentId} is gone from the store`;
    // Every answer, dial and transfer reserves before the provider is asked. A record re-made by a
    // later webhook after the deployment was imported has none: nothing would cap it. A call still
    // ringing has none either, but past the ringing window no gateway answers it.
    if (ageMs < (this.#o.unreservedAfterMs ?? DEFAULT_UNRESERVED_AFTER_MS)) return null;
    if ((await this.#o.reservation(record.deploymentId, record.reservationId ?? callId)) !== null) return null;
    return `deployment ${record.deploymentId} holds no minutes reserved for it (its store lost them)`;
  }

  async #hangUp(callId: string, durationSec: number, why: string): Promise<boolean> {
    const key = `ownerless-call-hangup:${callId}`;
    if (await this.#o.claims.checkAndRemember(key, this.#o.now())) return false;
    try {
      const { alreadyEnded } = await this.#o.provider.hangup(callId);
      this.#o.log.warn(
        { audit: true, callId, durationSec, alreadyEnded },
        `hung up a live call no deployment owns (${why}): no cap, no billing and no gateway could end it`,
      );
      return true;
    } catch (err) {
      await this.#o.claims.forget(key).catch(() => undefined);
      this.#o.log.error({ audit: true, callId, code: isTtmaError(err) ? err.code : undefined }, 'a live call no deployment owns could not be hung up: the next pass tries again');
      return false;
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#pass = this.sweep().then(
        () => undefined,
        (err: unknown) => this.#o.log.warn({ code: isTtmaError(err) ? err.code : undefined }, 'ownerless calls pass failed (provider or store not answering): tried again at the next'),
      );
      void this.#pass.finally(() => this.#schedule());
    }, this.#o.sweepMs ?? DEFAULT_SWEEP_MS);
    // A platform stopping is not held up by its next pass.
    this.#timer.unref();
  }
}
