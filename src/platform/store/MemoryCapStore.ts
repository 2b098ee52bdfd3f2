/**
 * The embedded cap store: the CapStore contract in one process's memory.
 * Each method changes its state without awaiting, so on node's one thread
 * it is as atomic as the Redis script; then it waits for the state journal
 * (StateJournal.ts) to have the change on disk before it answers, so a
 * restart neither forgets minutes used nor hands out a reservation twice.
 *
 * What Redis expires (TTL_SECONDS) is dropped here when the first reservation
 * of a new day arrives, measured from that day (the periods callers pass, not
 * this process's clock): day counters 3 days after their day, month counters
 * 62 days after their month ended, settled or abandoned calls 62 days after
 * their last reservation. Live calls are kept. Without this the store grew by
 * one entry per call for ever, and so did its journal.
 */
import { TTL_SECONDS, settleAdjustments, type CallReservation, type CapLimits, type CapPeriod, type CapStore, type ReserveResult, type SettleResult, type TopUpResult } from './CapStore.js';
import { StateJournal, type JournalTable } from './StateJournal.js';

interface LiveEntry {
  deploymentId: string;
  callId: string;
  dueAtMs: number;
}

interface CallEntry {
  reserved: number;
  settled: boolean;
  billed: number | null;
  /** Where the call last reserved (its expiry counts from it). */
  period: CapPeriod | null;
  /** Units reserved in each UTC day and month: its settlement adjusts these counters (absent in entries journaled before). */
  byDay?: Record<string, number>;
  byMonth?: Record<string, number>;
  /** The caps a live call tops up against (kept at admission). */
  limits: CapLimits | null;
}

export class MemoryCapStore implements CapStore {
  readonly kind = 'memory' as const;
  readonly #journal: StateJournal;
  readonly #counters: JournalTable<number>;
  readonly #calls: JournalTable<CallEntry>;
  /** `${deploymentId}|${callId}` -> when the live call's next unit is due (ms); #live indexes it by deployment. */
  readonly #liveDue: JournalTable<LiveEntry>;
  /** Per deployment: live call -> when its next unit is due (ms). */
  readonly #live = new Map<string, Map<string, number>>();
  /** The latest day a reservation named: expiry is measured from it. */
  #latestDay = '';

  constructor(journal: StateJournal = StateJournal.inMemory()) {
    this.#journal = journal;
    this.#counters = journal.table<number>('caps.counters');
    this.#calls = journal.table<CallEntry>('caps.calls');
    this.#liveDue = journal.table<LiveEntry>('caps.live');
    for (const entry of this.#liveDue.values()) this.#liveOf(entry.deploymentId).set(entry.callId, entry.dueAtMs);
  }

  async reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod, live?: { nextAtMs: number }): Promise<ReserveResult> {
    const result = this.#reserve(deploymentId, callId, units, limits, period, live !== undefined);
    if (result.ok && live) {
      const entry = this.#call(deploymentId, callId)!;
      entry.limits = { ...limits };
      this.#calls.set(`${deploymentId}|${callId}`, entry);
      this.#setLive(deploymentId, callId, live.nextAtMs);
    }
    await this.#journal.flush();
    return result;
  }

  async topUp(deploymentId: string, callId: string, nowMs: number, unitMs: number, period: CapPeriod, current?: CapLimits): Promise<TopUpResult> {
    const live = this.#live.get(deploymentId);
    const due = live?.get(callId);
    if (!live || due === undefined || due > nowMs) return { ok: false, reason: 'not_due' };
    const entry = this.#call(deploymentId, callId);
    if (!entry?.limits) {
      this.#deleteLive(deploymentId, callId);
      await this.#journal.flush();
      return { ok: false, reason: 'settled', dayUsed: 0, monthUsed: 0 };
    }
    if (current) {
      entry.limits = { ...current };
      this.#calls.set(`${deploymentId}|${callId}`, entry);
    }
    const limits = entry.limits;
    const result = this.#reserve(deploymentId, callId, 1, limits, period);
    if (result.ok) this.#setLive(deploymentId, callId, due + unitMs);
    // At a cap it stays live, looked at again a unit on (CapStore.topUp); settled: no longer live.
    else if (result.reason === 'settled') this.#deleteLive(deploymentId, callId);
    else this.#setLive(deploymentId, callId, nowMs + unitMs);
    await this.#journal.flush();
    return result;
  }

  async due(deploymentId: string, nowMs: number): Promise<string[]> {
    return [...(this.#live.get(deploymentId) ?? [])].filter(([, at]) => at <= nowMs).map(([id]) => id);
  }

  async live(deploymentId: string): Promise<string[]> {
    return [...(this.#live.get(deploymentId)?.keys() ?? [])];
  }

  async liveDeployments(): Promise<string[]> {
    return [...this.#live.keys()];
  }

  async release(deploymentId: string, callId: string): Promise<void> {
    this.#deleteLive(deploymentId, callId);
    await this.#journal.flush();
  }

  async postpone(deploymentId: string, callId: string, dueAtMs: number): Promise<void> {
    if (!this.#live.get(deploymentId)?.has(callId)) return;
    this.#setLive(deploymentId, callId, dueAtMs);
    await this.#journal.flush();
  }

  #liveOf(deploymentId: string): Map<string, number> {
    const live = this.#live.get(deploymentId) ?? new Map<string, number>();
    this.#live.set(deploymentId, live);
    return live;
  }

  #setLive(deploymentId: string, callId: string, dueAtMs: number): void {
    this.#liveOf(deploymentId).set(callId, dueAtMs);
    this.#liveDue.set(`${deploymentId}|${callId}`, { deploymentId, callId, dueAtMs });
  }

  #deleteLive(deploymentId: string, callId: string): void {
    const live = this.#live.get(deploymentId);
    if (!live?.delete(callId)) return;
    if (live.size === 0) this.#live.delete(deploymentId);
    this.#liveDue.delete(`${deploymentId}|${callId}`);
  }

  #reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod, admission: true): ReserveResult;
  #reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod, admission?: false): Exclude<ReserveResult, { reason: 'admitted' }>;
  #reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod, admission?: boolean): ReserveResult;
  #reserve(deploymentId: string, callId: string, units: number, limits: CapLimits, period: CapPeriod, admission = false): ReserveResult {
    if (period.day > this.#latestDay) {
      this.#latestDay = period.day;
      this.#expire(Date.parse(period.day));
    }
    const call = this.#call(deploymentId, callId);
    const dayKey = `${deploymentId}|d|${period.day}`;
    const monthKey = `${deploymentId}|m|${period.month}`;
    const dayUsed = this.#counters.get(dayKey) ?? 0;
    const monthUsed = this.#counters.get(monthKey) ?? 0;
    if (call?.settled) return { ok: false, reason: 'settled', dayUsed, monthUsed };
    if (admission && call) return { ok: false, reason: 'admitted', dayUsed, monthUsed };
    if (dayUsed + units > limits.day) return { ok: false, reason: 'day', dayUsed, monthUsed };
    if (monthUsed + units > limits.month) return { ok: false, reason: 'month', dayUsed, monthUsed };
    this.#counters.set(dayKey, dayUsed + units);
    this.#counters.set(monthKey, monthUsed + units);
    const entry = call ?? { reserved: 0, settled: false, billed: null, period: null, limits: null };
    entry.reserved += units;
    entry.period = { ...period };
    entry.byDay = { ...entry.byDay, [period.day]: (entry.byDay?.[period.day] ?? 0) + units };
    entry.byMonth = { ...entry.byMonth, [period.month]: (entry.byMonth?.[period.month] ?? 0) + units };
    this.#calls.set(`${deploymentId}|${callId}`, entry);
    return { ok: true, dayUsed: dayUsed + units, monthUsed: monthUsed + units, callReserved: entry.reserved };
  }

  async settle(deploymentId: string, callId: string, billedUnits: number, period: CapPeriod): Promise<SettleResult> {
    const result = this.#settle(deploymentId, callId, billedUnits, period);
    await this.#journal.flush();
    return result;
  }

  #settle(deploymentId: string, callId: string, billedUnits: number, period: CapPeriod): SettleResult {
    this.#deleteLive(deploymentId, callId);
    const entry = this.#call(deploymentId, callId) ?? { reserved: 0, settled: false, billed: null, period: null, limits: null };
    if (entry.settled) return { first: false, billed: entry.billed ?? 0, reserved: entry.reserved };
    const charged = entry.period ?? period;
    for (const [day, change] of settleAdjustments(heldIn(entry.byDay, entry.reserved, charged.day), billedUnits)) this.#add(`${deploymentId}|d|${day}`, change);
    for (const [month, change] of settleAdjustments(heldIn(entry.byMonth, entry.reserved, charged.month), billedUnits)) this.#add(`${deploymentId}|m|${month}`, change);
    entry.settled = true;
    entry.billed = billedUnits;
    // A call settled without a reservation here still expires, counted from its settlement's day.
    entry.period ??= { ...charged };
    this.#calls.set(`${deploymentId}|${callId}`, entry);
    return { first: true, billed: billedUnits, reserved: entry.reserved };
  }

  async usage(deploymentId: string, period: CapPeriod): Promise<{ day: number; month: number }> {
    return {
      day: this.#counters.get(`${deploymentId}|d|${period.day}`) ?? 0,
      month: this.#counters.get(`${deploymentId}|m|${period.month}`) ?? 0,
    };
  }

  async reservation(deploymentId: string, callId: string): Promise<CallReservation | null> {
    const entry = this.#call(deploymentId, callId);
    return entry ? { reserved: entry.reserved, settled: entry.settled, billed: entry.billed } : null;
  }

  async ping(): Promise<void> {
    this.#journal.check();
  }

  async close(): Promise<void> {}

  #call(deploymentId: string, callId: string): CallEntry | undefined {
    return this.#calls.get(`${deploymentId}|${callId}`);
  }

  /** Drops what Redis would have expired by the start of `dayStartMs` (see the header). */
  #expire(dayStartMs: number): void {
    const dayMs = 86_400_000;
    for (const key of [...this.#counters.keys()]) {
      const [, kind, when] = key.split('|');
      const endMs = kind === 'd' ? Date.parse(when ?? '') + dayMs : nextMonthStartMs(when ?? '');
      const ttlMs = (kind === 'd' ? TTL_SECONDS.day : TTL_SECONDS.month) * 1000;
      if (Number.isFinite(endMs) && endMs + ttlMs <= dayStartMs) this.#counters.delete(key);
    }
    for (const [key, entry] of [...this.#calls]) {
      const lastDayMs = entry.period ? Date.parse(entry.period.day) + dayMs : NaN;
      if (!Number.isFinite(lastDayMs) || lastDayMs + TTL_SECONDS.call * 1000 > dayStartMs) continue;
      const [deploymentId = '', callId = ''] = splitCallKey(key);
      if (this.#live.get(deploymentId)?.has(callId)) continue;
      this.#calls.delete(key);
    }
  }

  #add(key: string, delta: number): void {
    if (delta !== 0) this.#counters.set(key, Math.max(0, (this.#counters.get(key) ?? 0) + delta));
  }
}

/**
 * What a call reserved per period, oldest first, for settleAdjustments. Units
 * reserved before counts were kept per period (an older journal) came first:
 * the earliest period holds them, or the call's last period when it has no
 * counts at all.
 */
function heldIn(counts: Record<string, number> | undefined, reserved: number, lastPeriod: string): Array<[string, number]> {
  const held = Object.entries(counts ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const accounted = held.reduce((sum, [, units]) => sum + units, 0);
  if (held.length === 0) return [[lastPeriod, reserved]];
  held[0]![1] += Math.max(0, reserved - accounted);
  return held;
}

/** `${deploymentId}|${callId}`: deployment ids have no `|`; a call id may. */
function splitCallKey(key: string): [string, string] {
  const bar = key.indexOf('|');
  return [key.slice(0, bar), key.slice(bar + 1)];
}

/** The first instant after the month `YYYY-MM` (NaN for anything else). */
function nextMonthStartMs(month: string): number {
  const match = /^(\d{4})-(\d{2})$/.exec(month);
  return match ? Date.UTC(Number(match[1]), Number(match[2]), 1) : NaN;
}
