/**
 * Minute caps (FAQ-14): what a store must do, whatever holds the counters.
 *
 * Accounting is in whole units (a minute in production). A call reserves one
 * unit at answer (or dial) and one more each unit while it is live; each
 * reservation checks the day and the month counters and increments both, or
 * neither, atomically. At hang-up the call settles exactly once: the
 * provider's billed units replace what was reserved (unused reservation is
 * given back, a shortfall is charged), and the call can reserve no more.
 *
 * Which calls are live, and when each next tops up, lives in the store too
 * (admitted with `reserve(..., live)`, moved on by `topUp`, dropped by
 * `release` or `settle`), so a platform restart or a second platform process
 * keeps topping up the calls another admitted, and `topUp` is atomic: of two
 * processes ticking at once, one reserves the unit and the other is told
 * `not_due`.
 *
 * Two implementations keep this contract: MemoryCapStore (in-process, the
 * default for `ttma demo` and single-box use) and RedisCapStore (ioredis, one
 * Lua script per reservation, keys hash-tagged per deployment so a script
 * touches one Redis Cluster slot). test/platform/capStore.test.ts runs one
 * behavioural suite against both.
 */
import type { EvictionRisk } from './redisEviction.js';
import type { PersistenceState } from './redisPersistence.js';

export interface CapLimits {
  /** Units per UTC day. */
  day: number;
  /** Units per UTC calendar month. */
  month: number;
}

/** The UTC day (`2025-01-31`) and month (`2025-01`) a reservation counts in. */
export interface CapPeriod {
  day: string;
  month: string;
}

export type ReserveResult =
  | { ok: true; dayUsed: number; monthUsed: number; callReserved: number }
  /**
   * `day`/`month`: that cap would be exceeded; `settled`: the call already ended. `admitted`: a
   * live admission of a call that already reserved (a call is admitted once: a second answer
   * would otherwise start a second reservation, and its failure drop the first).
   */
  | { ok: false; reason: 'day' | 'month' | 'settled'; dayUsed: number; monthUsed: number }
  | { ok: false; reason: 'admitted'; dayUsed: number; monthUsed: number };

export interface SettleResult {
  /** True the one time the call is settled; repeats change nothing. */
  first: boolean;
  billed: number;
  reserved: number;
}

export interface CallReservation {
  reserved: number;
  settled: boolean;
  billed: number | null;
}

export type StoreKind = 'memory' | 'redis';

/** A top-up that was not this caller's to make: not live (released, settled elsewhere) or not due yet. */
export type TopUpResult = Exclude<ReserveResult, { reason: 'admitted' }> | { ok: false; reason: 'not_due' };


export interface CapStore {
  readonly kind: StoreKind;
  /**
   * Atomically reserve `units` for the call, or nothing when a cap would be exceeded.
   * `live`: the call is admitted and live: it tops up at `nextAtMs` against these limits.
   */
  reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod, live?: { nextAtMs: number }): Promise<ReserveResult>;
  /**
   * If the live call's next unit is due at `nowMs`: reserve it against `limits` (the deployment's
   * caps now, which then replace the kept ones) or else the limits kept at admission, and move its
   * due time one unit on. At a cap nothing is reserved and the call stays live, due again one unit
   * after `nowMs`: it is released once its hang-up is done, so a process that dies while ending it
   * leaves it for the next look (any process's). Settled: no longer live.
   */
  topUp(deploymentId: string, callId: string, nowMs: number, unitMs: number, period: CapPeriod, limits?: CapLimits): Promise<TopUpResult>;
  /** Live calls of the deployment whose next unit is due at `nowMs`. */
  due(deploymentId: string, nowMs: number): Promise<string[]>;
  /** Live calls of the deployment. */
  live(deploymentId: string): Promise<string[]>;
  /** Deployments that have had live calls (the top-up timer's work list). */
  liveDeployments(): Promise<string[]>;
  /** The call is no longer live (no more top-ups); its settlement follows separately. */
  release(deploymentId: string, callId: string): Promise<void>;
  /** A live call is next due at `dueAtMs` (a call being ended at a cap: not looked at meanwhile); one not live stays so. */
  postpone(deploymentId: string, callId: string, dueAtMs: number): Promise<void>;
  /**
   * Settle the call at `billedUnits` (the provider's figure), exactly once; it is no longer live.
   * The difference from what it reserved goes to the periods it reserved in (settleAdjustments);
   * `period` is where a call that never reserved is charged.
   */
  settle(deploymentId: string, callId: string, billedUnits: number, period: CapPeriod): Promise<SettleResult>;
  usage(deploymentId: string, period: CapPeriod): Promise<{ day: number; month: number }>;
  reservation(deploymentId: string, callId: string): Promise<CallReservation | null>;
  /** Resolves when the store answers; rejects (TTMA_ERR_STORE_UNAVAILABLE) when it does not. */
  ping(): Promise<void>;
  /**
   * A networked store only: false once it has lost what it held since this client first
   * asked (Redis restarted without its data, FLUSHALL, a failover to an empty replica), so
   * its counters no longer hold the minutes used; it stays false for this client. Rejects
   * (TTMA_ERR_STORE_UNAVAILABLE) when the store does not answer.
   */
  dataKept?(): Promise<boolean>;
  /** A networked store only: how it may evict keys on its own (redisEviction.ts), null when it never does. */
  evictionRisk?(): Promise<EvictionRisk | null>;
  /** A networked store only: whether it keeps its data across its own restart (redisPersistence.ts). */
  persistence?(): Promise<PersistenceState>;
  /** Waits (bounded) for a networked store's first connection; true when it is up. */
  ready?(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

let cachedPeriod: { fromMs: number; untilMs: number; period: CapPeriod } | null = null;

/** UTC day and month of `nowMs` (the day's strings are reused until the day ends: it runs per reservation). */
export function periodOf(nowMs: number): CapPeriod {
  if (cachedPeriod && nowMs >= cachedPeriod.fromMs && nowMs < cachedPeriod.untilMs) return cachedPeriod.period;
  const date = new Date(nowMs);
  const iso = date.toISOString();
  const fromMs = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate());
  cachedPeriod = { fromMs, untilMs: fromMs + 86_400_000, period: Object.freeze({ day: iso.slice(0, 10), month: iso.slice(0, 7) }) };
  return cachedPeriod.period;
}

/**
 * How a settlement changes one kind of counter (days, or months): `held` is
 * what the call reserved in each period, oldest first (never empty: a call
 * that reserved nothing holds 0 in the period it is charged in). Unused units
 * go back to the earliest periods first: what a call reserves and does not
 * use is its ringing before the answer, at its start. A shortfall is charged
 * to the latest. So a call across midnight or a month's end leaves each
 * period with what it used there. (SETTLE_SCRIPT applies the same rule in
 * Redis.)
 */
export function settleAdjustments(held: ReadonlyArray<readonly [period: string, units: number]>, billedUnits: number): Array<[period: string, change: number]> {
  const reserved = held.reduce((sum, [, units]) => sum + units, 0);
  const delta = billedUnits - reserved;
  if (delta === 0 || held.length === 0) return [];
  if (delta > 0) return [[held[held.length - 1]![0], delta]];
  const changes: Array<[string, number]> = [];
  let refund = -delta;
  for (const [period, units] of held) {
    const take = Math.min(refund, units);
    if (take > 0) changes.push([period, -take]);
    refund -= take;
    if (refund === 0) break;
  }
  return changes;
}

/** Counters outlive their period long enough for the dashboard, then expire. */
export const TTL_SECONDS = {
  day: 3 * 24 * 3600,
  month: 62 * 24 * 3600,
  call: 62 * 24 * 3600,
} as const;
