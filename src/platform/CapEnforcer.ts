/**
 * Minute caps on live calls (FAQ-14), independent of the gateway.
 *
 * A call reserves one unit when it is admitted (answer or dial) and one more
 * each unit while live, from one shared timer (not a timer per call). When a
 * top-up is refused because a cap is reached, `onCapReached` ends the
 * deployment's live calls through the provider. When the store is
 * unreachable, new calls are refused (admit throws
 * TTMA_ERR_STORE_UNAVAILABLE) but live calls continue: their top-ups are
 * retried each tick and the enforcer reports itself degraded meanwhile.
 * Settlement happens once per call, from the provider's figure.
 */
import { ErrorCodes, TtmaError, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import { periodOf, type CapLimits, type CapStore, type ReserveResult, type SettleResult } from './store/CapStore.js';

export interface CapEnforcerOptions {
  store: CapStore;
  logger: Logger;
  /** One accounting unit in ms (default 60 000: a minute). Tests shorten it. */
  unitMs?: number;
  now?: () => number;
  /** A top-up was refused for a cap: end this deployment's live calls. */
  onCapReached(deploymentId: string, reason: 'day' | 'month'): void;
}

interface LiveReservation {
  deploymentId: string;
  reservationId: string;
  limits: CapLimits;
  admittedAtMs: number;
  units: number;
  topping: boolean;
}

export interface StoreState {
  kind: CapStore['kind'];
  degraded: boolean;
  /** Why, when degraded. */
  reason: string | null;
  since: string | null;
}

export const DEFAULT_UNIT_MS = 60_000;

export class CapEnforcer {
  readonly #store: CapStore;
  readonly #log: Logger;
  readonly #unitMs: number;
  readonly #now: () => number;
  readonly #onCapReached: CapEnforcerOptions['onCapReached'];
  /** By reservation id. */
  readonly #live = new Map<string, LiveReservation>();
  readonly #timer: NodeJS.Timeout;
  #degraded: { reason: string; since: string } | null = null;

  constructor(options: CapEnforcerOptions) {
    this.#store = options.store;
    this.#log = options.logger;
    this.#unitMs = options.unitMs ?? DEFAULT_UNIT_MS;
    if (!Number.isInteger(this.#unitMs) || this.#unitMs < 10) throw new TtmaError(ErrorCodes.CONFIG, 'cap unit must be at least 10 ms');
    this.#now = options.now ?? Date.now;
    this.#onCapReached = options.onCapReached;
    // Tick four times a unit (at most once a second): a top-up is at most a quarter unit late.
    this.#timer = setInterval(() => this.#tick(), Math.min(1_000, Math.max(5, Math.floor(this.#unitMs / 4))));
    this.#timer.unref();
  }

  get unitMs(): number {
    return this.#unitMs;
  }

  get storeKind(): CapStore['kind'] {
    return this.#store.kind;
  }

  get liveReservations(): number {
    return this.#live.size;
  }

  state(): StoreState {
    return {
      kind: this.#store.kind,
      degraded: this.#degraded !== null,
      reason: this.#degraded?.reason ?? null,
      since: this.#degraded?.since ?? null,
    };
  }

  /** Checks the store now (for the readiness route); updates the degraded state. */
  async probe(): Promise<StoreState> {
    try {
      await this.#store.ping();
      this.#healthy();
    } catch (err) {
      this.#markDegraded(err);
    }
    return this.state();
  }

  /**
   * Reserves the first unit of a new call or refuses it: TTMA_ERR_CAP_REACHED
   * (403) at a cap, TTMA_ERR_STORE_UNAVAILABLE (503) without a store.
   */
  async admit(deploymentId: string, reservationId: string, limits: CapLimits): Promise<void> {
    const now = this.#now();
    let result: ReserveResult;
    try {
      result = await this.#store.reserve(deploymentId, reservationId, 1, limits, periodOf(now));
    } catch (err) {
      this.#markDegraded(err);
      throw new TtmaError(
        ErrorCodes.STORE_UNAVAILABLE,
        'the platform cannot check minute caps right now (store unreachable): new calls are refused, retry later',
        503,
      );
    }
    this.#healthy();
    if (!result.ok) throw capError(result, limits);
    this.#live.set(reservationId, { deploymentId, reservationId, limits, admittedAtMs: now, units: 1, topping: false });
  }

  /** Stops top-ups for the call (hang-up seen); settlement follows separately. */
  release(reservationId: string): void {
    this.#live.delete(reservationId);
  }

  /** Live reservation ids of a deployment. */
  liveOf(deploymentId: string): string[] {
    return [...this.#live.values()].filter((r) => r.deploymentId === deploymentId).map((r) => r.reservationId);
  }

  /** Settles at the provider's figure (units), exactly once per reservation. */
  async settle(deploymentId: string, reservationId: string, billedUnits: number): Promise<SettleResult> {
    this.#live.delete(reservationId);
    return this.#store.settle(deploymentId, reservationId, billedUnits, periodOf(this.#now()));
  }

  /** Billed units for a duration: every started unit counts (as providers bill minutes). */
  unitsFor(durationMs: number): number {
    return durationMs <= 0 ? 0 : Math.ceil(durationMs / this.#unitMs);
  }

  async usage(deploymentId: string): Promise<{ day: number; month: number }> {
    return this.#store.usage(deploymentId, periodOf(this.#now()));
  }

  close(): void {
    clearInterval(this.#timer);
    this.#live.clear();
  }

  #tick(): void {
    const now = this.#now();
    for (const live of this.#live.values()) {
      if (live.topping || now < live.admittedAtMs + live.units * this.#unitMs) continue;
      live.topping = true;
      void this.#topUp(live, now).finally(() => {
        live.topping = false;
      });
    }
  }

  async #topUp(live: LiveReservation, now: number): Promise<void> {
    let result: ReserveResult;
    try {
      result = await this.#store.reserve(live.deploymentId, live.reservationId, 1, live.limits, periodOf(now));
    } catch (err) {
      // Live calls continue while the store is away; the top-up is retried next tick.
      this.#markDegraded(err);
      return;
    }
    this.#healthy();
    if (!this.#live.has(live.reservationId)) return;
    if (result.ok) {
      live.units += 1;
      return;
    }
    this.#live.delete(live.reservationId);
    if (result.reason === 'settled') return;
    this.#log.warn(
      { deployment: live.deploymentId, reservation: live.reservationId, cap: result.reason, dayUsed: result.dayUsed, monthUsed: result.monthUsed },
      `${result.reason === 'day' ? 'daily' : 'monthly'} minute cap reached during a call: ending the deployment's live calls`,
    );
    this.#onCapReached(live.deploymentId, result.reason);
  }

  #markDegraded(err: unknown): void {
    if (this.#degraded) return;
    const reason = isTtmaError(err) ? err.message : 'store error';
    this.#degraded = { reason, since: new Date(this.#now()).toISOString() };
    this.#log.error({ code: ErrorCodes.STORE_UNAVAILABLE, reason }, 'store unreachable: refusing new calls, live calls continue (degraded)');
  }

  #healthy(): void {
    if (!this.#degraded) return;
    this.#log.info({ since: this.#degraded.since }, 'store reachable again: no longer degraded');
    this.#degraded = null;
  }
}

export function capError(result: Extract<ReserveResult, { ok: false }>, limits: CapLimits): TtmaError {
  if (result.reason === 'settled') {
    return new TtmaError(ErrorCodes.CALL_NOT_OWNED, 'this call has already ended and been settled', 409);
  }
  const which = result.reason === 'day' ? 'daily' : 'monthly';
  const cap = result.reason === 'day' ? limits.day : limits.month;
  const used = result.reason === 'day' ? result.dayUsed : result.monthUsed;
  const until = result.reason === 'day' ? '00:00 UTC' : 'the first of next month (UTC)';
  return new TtmaError(
    ErrorCodes.CAP_REACHED,
    `${which} minute cap reached (${used} of ${cap} minutes used): new calls are refused until ${until} or the operator raises the cap`,
    403,
  );
}
