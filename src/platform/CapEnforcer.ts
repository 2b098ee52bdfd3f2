/**
 * Minute caps on live calls (FAQ-14), independent of the gateway.
 *
 * A call reserves one unit when it is admitted (answer or dial) and one more
 * each unit while live, from one shared timer (not a timer per call). Which
 * calls are live and when each is next due is kept in the store (Redis with
 * REDIS_URL), so after a platform restart, or on another platform process,
 * the timer finds and tops up calls admitted elsewhere; the store's top-up is
 * conditional on being due, so two processes never reserve one unit twice. When a
 * top-up is refused because a cap is reached, `onCapReached` ends the
 * deployment's live calls through the provider; the refused call stays live
 * (due again a unit later) until its hang-up is done, so a process killed while
 * ending it leaves it to the next refusal, on any process. When the store is
 * unreachable, new calls are refused (admit throws
 * TTMA_ERR_STORE_UNAVAILABLE) but live calls continue: their top-ups are
 * retried each tick and the enforcer reports itself degraded meanwhile.
 * Settlement happens once per call, from the provider's figure. A call whose
 * hang-up event never arrives would top up for ever, so after each granted
 * top-up `onToppedUp` lets the platform ask the provider whether the call is
 * still up (only the process that made the top-up asks).
 */
import { ErrorCodes, StoreDataLostError, StoreUnavailableError, TtmaError, isTtmaError } from '../errors.js';
import type { Logger } from '../log.js';
import { StoreRetries } from './StoreRetries.js';
import { EXPORT_PATH, IMPORT_PATH } from './deploymentTransfer.js';
import { periodOf, type CallReservation, type CapLimits, type CapStore, type ReserveResult, type SettleResult } from './store/CapStore.js';

export interface CapEnforcerOptions {
  store: CapStore;
  logger: Logger;
  /** One accounting unit in ms (default 60 000: a minute). Tests shorten it. */
  unitMs?: number;
  now?: () => number;
  /** A top-up (of `reservationId`) was refused for a cap: end this deployment's live calls. */
  onCapReached(deploymentId: string, reason: 'day' | 'month', reservationId: string): void;
  /** A live call's top-up was granted by this process (once per unit per call). */
  onToppedUp?(deploymentId: string, reservationId: string): void;
  /**
   * The deployment's caps now, for its live calls' top-ups: an operator who lowers a cap stops
   * live calls at it too, not only new ones. null (or a failure): the caps each call was admitted with.
   */
  limitsOf?(deploymentId: string): Promise<CapLimits | null>;
  /** The store lost its data (once per process): for the metric. */
  onDataLost?(): void;
}

export interface StoreState {
  kind: CapStore['kind'];
  degraded: boolean;
  /** Why, when degraded. */
  reason: string | null;
  /** The store lost its data since this process started (it stays so until the process restarts). */
  dataLost: boolean;
  since: string | null;
}

export const DEFAULT_UNIT_MS = 60_000;

export class CapEnforcer {
  readonly #store: CapStore;
  readonly #log: Logger;
  readonly #unitMs: number;
  readonly #now: () => number;
  readonly #onCapReached: CapEnforcerOptions['onCapReached'];
  readonly #onToppedUp: CapEnforcerOptions['onToppedUp'];
  readonly #limitsOf: CapEnforcerOptions['limitsOf'];
  readonly #onDataLost: CapEnforcerOptions['onDataLost'];
  /** Deployments this process admitted calls for (ticked even if the store's list missed one). */
  readonly #admittedFor = new Set<string>();
  readonly #timer: NodeJS.Timeout;
  /** Give-backs and releases the store did not answer: retried until they land. */
  readonly #retries: StoreRetries;
  #ticking = false;
  #closed = false;
  #degraded: { reason: string; since: string } | null = null;
  /** Set once the store says it lost its data: new calls are refused until this process restarts. */
  #dataLost: { reason: string; since: string } | null = null;

  constructor(options: CapEnforcerOptions) {
    this.#store = options.store;
    this.#log = options.logger;
    this.#unitMs = options.unitMs ?? DEFAULT_UNIT_MS;
    if (!Number.isInteger(this.#unitMs) || this.#unitMs < 10) throw new TtmaError(ErrorCodes.CONFIG, 'cap unit must be at least 10 ms');
    this.#now = options.now ?? Date.now;
    this.#onCapReached = options.onCapReached;
    this.#onToppedUp = options.onToppedUp;
    this.#limitsOf = options.limitsOf;
    this.#onDataLost = options.onDataLost;
    this.#retries = new StoreRetries({ logger: this.#log });
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

  state(): StoreState {
    const why = this.#dataLost ?? this.#degraded;
    return {
      kind: this.#store.kind,
      degraded: why !== null,
      dataLost: this.#dataLost !== null,
      reason: why?.reason ?? null,
      since: why?.since ?? null,
    };
  }

  /** Checks the store now (for the readiness route); updates the degraded state. */
  async probe(): Promise<StoreState> {
    try {
      await this.#store.ping();
      await this.#checkDataKept();
      this.#healthy();
    } catch (err) {
      this.#markDegraded(err);
    }
    return this.state();
  }

  /**
   * Reserves the first unit of a new call or refuses it: TTMA_ERR_CAP_REACHED
   * (403) at a cap, TTMA_ERR_STORE_UNAVAILABLE (503) without a store.
   * `withdrawIfUnanswered`: the reservation id is this admission's alone (a
   * dial's), so when the store does not answer, the reservation, which may
   * still be made when a hung Redis resumes, is given back (`withdraw`):
   * otherwise it would stay live with no call to end it, topping up to the cap.
   */
  async admit(deploymentId: string, reservationId: string, limits: CapLimits, options: { withdrawIfUnanswered?: boolean } = {}): Promise<void> {
    if (this.#dataLost) throw dataLostRefusal();
    const now = this.#now();
    let result: ReserveResult;
    try {
      result = await this.#store.reserve(deploymentId, reservationId, 1, limits, periodOf(now), { nextAtMs: now + this.#unitMs });
    } catch (err) {
      if (err instanceof StoreDataLostError) {
        // Seen by the reservation itself (a FLUSHALL since the timer last looked): refused from now on.
        await this.#checkDataKept().catch(() => undefined);
        throw dataLostRefusal();
      }
      this.#markDegraded(err);
      const unsent = err instanceof StoreUnavailableError && !err.mayHaveApplied;
      if (options.withdrawIfUnanswered && !unsent) void this.withdraw(deploymentId, reservationId);
      throw new TtmaError(
        ErrorCodes.STORE_UNAVAILABLE,
        'the platform cannot check minute caps right now (store unreachable): new calls are refused, retry later',
        503,
      );
    }
    this.#healthy();
    if (!result.ok) throw capError(result, limits);
    this.#admittedFor.add(deploymentId);
  }

  /**
   * Stops top-ups for the call (hang-up seen); settlement follows separately.
   * A store that cannot answer now is logged: settlement removes the call from the live set anyway.
   */
  async release(deploymentId: string, reservationId: string): Promise<void> {
    try {
      await this.#store.release(deploymentId, reservationId);
    } catch (err) {
      this.#markDegraded(err);
      // A dial that could not be locked has no settlement to come: keep trying (removing it twice is harmless).
      this.#log.warn({ deployment: deploymentId, reservation: reservationId, code: ErrorCodes.STORE_UNAVAILABLE }, 'live call not released (store unreachable): retried in the background');
      this.#retries.schedule('live call release', { deployment: deploymentId, reservation: reservationId }, () => this.#store.release(deploymentId, reservationId));
    }
  }

  /**
   * Gives back every unit of a reservation no call will carry (a dial the
   * provider never placed, an admission whose reply was lost) by settling it
   * at 0 units, and stops its top-ups. Retried in the background until the
   * store answers. The settled flag it leaves refuses the reservation should
   * the lost admission run after it (RESERVE_SCRIPT's -3), so the order does
   * not matter. Never throws.
   */
  async withdraw(deploymentId: string, reservationId: string): Promise<void> {
    const giveBack = (): Promise<SettleResult> => this.#store.settle(deploymentId, reservationId, 0, periodOf(this.#now()));
    try {
      await giveBack();
    } catch (err) {
      this.#markDegraded(err);
      this.#log.warn({ deployment: deploymentId, reservation: reservationId, code: ErrorCodes.STORE_UNAVAILABLE }, 'reservation not given back (store unreachable): retried in the background');
      this.#retries.schedule('reservation give-back', { deployment: deploymentId, reservation: reservationId }, giveBack);
    }
  }

  /**
   * A call being ended at a cap: its next top-up (a refusal that ends it again, on whichever
   * process) comes a unit from now, not while this process is ending it. Best effort.
   */
  async postpone(deploymentId: string, reservationId: string): Promise<void> {
    try {
      await this.#store.postpone(deploymentId, reservationId, this.#now() + this.#unitMs);
    } catch (err) {
      this.#markDegraded(err);
    }
  }

  /** What a reservation holds (null: unknown to the store). */
  reservation(deploymentId: string, reservationId: string): Promise<CallReservation | null> {
    return this.#store.reservation(deploymentId, reservationId);
  }

  /** Live reservation ids of a deployment. */
  liveOf(deploymentId: string): Promise<string[]> {
    return this.#store.live(deploymentId);
  }

  /** Settles at the provider's figure (units), exactly once per reservation; no more top-ups. */
  async settle(deploymentId: string, reservationId: string, billedUnits: number): Promise<SettleResult> {
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
    this.#closed = true;
    clearInterval(this.#timer);
    this.#retries.close();
  }

  /** One pass at a time: the store is asked which live calls are due, on every deployment with live calls. */
  #tick(): void {
    if (this.#ticking || this.#closed) return;
    this.#ticking = true;
    void this.#topUpDue(this.#now()).finally(() => {
      this.#ticking = false;
    });
  }

  async #topUpDue(now: number): Promise<void> {
    let deployments: string[];
    try {
      await this.#checkDataKept();
      deployments = [...new Set([...(await this.#store.liveDeployments()), ...this.#admittedFor])];
    } catch (err) {
      // Live calls continue while the store is away; their top-ups are made when it is back.
      this.#markDegraded(err);
      return;
    }
    await Promise.all(deployments.map(async (deploymentId) => {
      try {
        const due = await this.#store.due(deploymentId, now);
        if (due.length === 0) return;
        const limits = await this.#currentLimits(deploymentId);
        // One unit per call per pass: a call several units behind (the store was away) catches up over the next passes.
        // At a cap the deployment's live calls are all being ended: the rest of them are not topped up.
        for (const reservationId of due) if ((await this.#topUp(deploymentId, reservationId, now, limits)) === 'capped') break;
      } catch (err) {
        this.#markDegraded(err);
      }
    }));
  }

  /** The deployment's caps now; undefined when they cannot be read (its calls keep the caps they were admitted with). */
  async #currentLimits(deploymentId: string): Promise<CapLimits | undefined> {
    if (!this.#limitsOf) return undefined;
    try {
      return (await this.#limitsOf(deploymentId)) ?? undefined;
    } catch {
      return undefined;
    }
  }

  async #topUp(deploymentId: string, reservationId: string, now: number, limits: CapLimits | undefined): Promise<'capped' | null> {
    if (this.#closed) return null;
    const result = await this.#store.topUp(deploymentId, reservationId, now, this.#unitMs, periodOf(now), limits);
    this.#healthy();
    if (result.ok) {
      this.#onToppedUp?.(deploymentId, reservationId);
      return null;
    }
    // Not this pass's to make (another process made it, or the call ended meanwhile).
    if (result.reason === 'not_due' || result.reason === 'settled') return null;
    this.#log.warn(
      { deployment: deploymentId, reservation: reservationId, cap: result.reason, dayUsed: result.dayUsed, monthUsed: result.monthUsed },
      `${result.reason === 'day' ? 'daily' : 'monthly'} minute cap reached during a call: ending the deployment's live calls`,
    );
    this.#onCapReached(deploymentId, result.reason, reservationId);
    return 'capped';
  }

  /**
   * A store that lost its data (Redis restarted empty) would grant every deployment its caps
   * afresh: from then on this process refuses new calls. Live calls go on without top-ups (lost
   * with the data) until OwnerlessCalls finds them at the provider and hangs them up. A restart of the process accepts the store as it is (the
   * operator's decision: restore Redis from its backup first if there is one).
   */
  async #checkDataKept(): Promise<void> {
    if (this.#dataLost || !this.#store.dataKept || (await this.#store.dataKept())) return;
    this.#dataLost = { reason: 'the store lost its data (deployments, minutes used, live calls): new calls refused until the platform restarts', since: new Date(this.#now()).toISOString() };
    this.#onDataLost?.();
    // One line that says what to do: the operator's decision, not something the platform can repair.
    this.#log.error(
      { code: ErrorCodes.STORE_DATA_LOST },
      `the store lost its data (Redis flushed, restarted without persistence, or failed over to an empty replica): deployments, minutes used and call records are gone, so new calls are refused and gateways are refused 401; live calls go on until hung up, the platform ending each once 2 minutes old (no cap covers it). ${DATA_LOST_REMEDY}`,
    );
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

/** What the operator does after a loss (docs/platform-storage.md, "Back without its data"). */
export const DATA_LOST_REMEDY =
  `Restore Redis from its backup (RDB or append-only file) if there is one; else import the deployments ("ttma deployments import FILE" of the last "ttma deployments export", or POST ${IMPORT_PATH} each record of GET ${EXPORT_PATH}) or re-create them; then restart every platform process`;

function dataLostRefusal(): TtmaError {
  return new TtmaError(ErrorCodes.STORE_DATA_LOST, 'the platform cannot check minute caps: its store lost the minutes used (the operator must restore it or accept a fresh start by restarting the platform): new calls are refused', 503);
}

export function capError(result: Extract<ReserveResult, { ok: false }>, limits: CapLimits): TtmaError {
  if (result.reason === 'settled') {
    return new TtmaError(ErrorCodes.CALL_NOT_OWNED, 'this call has already ended and been settled', 409);
  }
  if (result.reason === 'admitted') {
    return new TtmaError(ErrorCodes.CONFLICT, 'this call was already answered once (or its answer was refused): a call is answered once', 409);
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
